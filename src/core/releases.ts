/**
 * What this side gives back to the peer, batched into one RELEASE message:
 * counts of refs it imported, and results the peer held for pipelining that
 * no call will pipeline on any more.
 *
 * @module
 */

import { Kind } from "../protocol/constants.ts";
import { encodeValue } from "../protocol/codec.ts";
import type { FrameWriter } from "./writer.ts";

/** The RELEASE message being gathered for one connection. */
export class ReleaseBatch {
  readonly #writer: FrameWriter;
  #refs = new Map<number, number>();
  #held: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #stopped = false;

  constructor(writer: FrameWriter) {
    this.#writer = writer;
  }

  /** Gives back `count` sends of the imported ref `id`. */
  ref(id: number, count: number): void {
    if (this.#stopped) return;
    this.#refs.set(id, (this.#refs.get(id) ?? 0) + count);
    this.#schedule();
  }

  /** Lets the peer drop the result of request `id`, held for pipelining. */
  held(id: number): void {
    if (this.#stopped) return;
    this.#held.push(id);
    this.#schedule();
  }

  /** The connection closed: nothing more is sent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#refs.clear();
    this.#held = [];
  }

  #schedule(): void {
    // A timer, not a microtask: finalizers run one task each, and releases
    // of one garbage collection should leave in one message.
    this.#timer ??= setTimeout(() => this.#send(), 0);
  }

  #send(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const refs: number[] = [];
    for (const [id, count] of this.#refs) refs.push(id, count);
    this.#refs.clear();
    this.#writer.enqueue(encodeValue([Kind.RELEASE, refs, this.#held]));
    this.#held = [];
  }
}
