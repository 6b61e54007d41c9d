/**
 * Length-prefixed framing: a u32 big-endian payload length, then the payload.
 *
 * @module
 */

import { ProtocolError } from "../core/errors.ts";

/** Bytes in a frame header. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Incremental frame decoder: feed it bytes as they arrive, it hands out each
 * complete payload. A length over the maximum is a {@linkcode ProtocolError}
 * raised before anything is allocated for it.
 *
 * Payloads handed to `onFrame` may be views into the caller's chunk, which
 * the caller may reuse once `push` returns, unless `owned` is true: consume
 * them synchronously.
 *
 * @example
 * ```ts
 * import { FrameDecoder, encodeFrames } from "./frame.ts";
 * const decoder = new FrameDecoder(1024);
 * decoder.push(encodeFrames([new Uint8Array([1, 2])]), (payload) => console.log(payload));
 * ```
 */
export class FrameDecoder {
  #maxFrameBytes: number;
  #buffer: Uint8Array | null = null;
  #length = 0;

  /**
   * @param maxFrameBytes Largest payload accepted.
   */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received that do not yet make a whole frame. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Consumes `chunk`, calling `onFrame` for every complete payload.
   *
   * @param chunk Bytes just read; only read during this call.
   * @param onFrame Receives each payload; when `owned` is true the payload is
   *   never touched again by the decoder and may be kept.
   * @throws {ProtocolError} If a frame announces more than the maximum.
   */
  push(
    chunk: Uint8Array,
    onFrame: (payload: Uint8Array, owned: boolean) => void,
  ): void {
    let data = chunk;
    // Bytes carried over from earlier reads live in a buffer of our own, which
    // is never reused once its frames are handed out: those payloads are owned.
    const owned = this.#length > 0;
    if (owned) data = this.#append(chunk);
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#lengthAt(data, offset);
      const start = offset + FRAME_HEADER_BYTES;
      if (data.length - start < length) break;
      offset = start + length;
      onFrame(data.subarray(start, offset), owned);
    }
    this.#keepRest(data, offset);
  }

  #lengthAt(data: Uint8Array, offset: number): number {
    const length = data[offset] * 0x1000000 +
      ((data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]);
    if (length > this.#maxFrameBytes) {
      throw new ProtocolError(
        `Cannot decode frame: length ${length} exceeds maxFrameBytes ${this.#maxFrameBytes}`,
      );
    }
    return length;
  }

  #append(chunk: Uint8Array): Uint8Array {
    const buffer = this.#buffer!;
    const needed = this.#length + chunk.length;
    if (needed <= buffer.length) {
      buffer.set(chunk, this.#length);
      return buffer.subarray(0, needed);
    }
    const grown = new Uint8Array(Math.max(needed, buffer.length * 2));
    grown.set(buffer.subarray(0, this.#length));
    grown.set(chunk, this.#length);
    return grown.subarray(0, needed);
  }

  #keepRest(data: Uint8Array, offset: number): void {
    const rest = data.length - offset;
    this.#length = rest;
    if (rest === 0) {
      this.#buffer = null;
      return;
    }
    let capacity = Math.max(rest, 4096);
    if (rest >= FRAME_HEADER_BYTES) {
      // Size the buffer for the whole announced frame: one copy, not log2(n).
      capacity = Math.max(
        capacity,
        FRAME_HEADER_BYTES + this.#lengthAt(data, offset),
      );
    }
    const buffer = new Uint8Array(capacity);
    buffer.set(data.subarray(offset));
    this.#buffer = buffer;
  }
}

/**
 * Encodes payloads as consecutive frames in one buffer, ready for one write.
 *
 * @param payloads The payloads, in order.
 * @param scratch A buffer to reuse when it is large enough; the caller must
 *   be done with what an earlier call wrote there.
 * @returns Header and payload of every frame, back to back: a view of
 *   `scratch`, or a new buffer.
 *
 * @example
 * ```ts
 * import { encodeFrames } from "./frame.ts";
 * console.assert(encodeFrames([new Uint8Array(3)]).length === 7);
 * ```
 */
export function encodeFrames(
  payloads: readonly Uint8Array[],
  scratch?: Uint8Array,
): Uint8Array {
  let total = 0;
  for (const payload of payloads) total += FRAME_HEADER_BYTES + payload.length;
  const out = scratch !== undefined && scratch.length >= total
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  let offset = 0;
  for (const payload of payloads) {
    const length = payload.length;
    out[offset] = length >>> 24;
    out[offset + 1] = (length >>> 16) & 0xff;
    out[offset + 2] = (length >>> 8) & 0xff;
    out[offset + 3] = length & 0xff;
    out.set(payload, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + length;
  }
  return out;
}
