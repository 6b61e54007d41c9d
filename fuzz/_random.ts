/**
 * The fuzzer's seeded pseudo-random numbers (sfc32, seeded through
 * splitmix32): the same seed gives the same frames on every machine, which
 * `Math.random` cannot promise.
 *
 * @module
 */

/** Mixes 32-bit words into one well-spread 32-bit word (splitmix32's finaliser). */
export function mix(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const word of words) {
    h = Math.imul(h ^ (word >>> 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A small fast generator with a 128-bit state; deterministic for a seed. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;

  /** @param seed Any 32-bit integer. */
  constructor(seed: number) {
    this.#a = mix(seed, 1);
    this.#b = mix(seed, 2);
    this.#c = mix(seed, 3);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in `[0, n)`; n at most 2^32. */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** A uniform integer in `[min, max]`. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  /** A uniform float in `[0, 1)`. */
  float(): number {
    return this.u32() / 0x100000000;
  }

  /** One of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /**
   * One of `choices`, each as likely as its weight.
   *
   * @param choices `[weight, value]` pairs.
   */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [weight] of choices) total += weight;
    let x = this.float() * total;
    for (const [weight, value] of choices) {
      x -= weight;
      if (x < 0) return value;
    }
    return choices[choices.length - 1][1];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A small length, most often tiny, sometimes up to `max`. */
  length(max: number): number {
    const r = this.float();
    if (r < 0.6) return this.int(Math.min(max, 5) + 1);
    if (r < 0.9) return this.int(Math.min(max, 40) + 1);
    return this.int(max + 1);
  }
}
