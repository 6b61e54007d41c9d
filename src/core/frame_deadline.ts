/**
 * The deadline of a frame that has started arriving: once its first byte is
 * in, the rest must follow within `frameTimeout`, or the connection is
 * closed. Without it, a peer that sends a hello and half a frame holds its
 * connection (and a `maxConnections` place) forever when `idleTimeout` is 0.
 * Both wires use it.
 *
 * @module
 */

/**
 * Watches the frame being received. One timer per connection, armed only
 * while a frame is partial; a frame costs a comparison, not a timer.
 *
 * @example
 * ```ts
 * import { FrameDeadline } from "./frame_deadline.ts";
 * const deadline = new FrameDeadline(30_000, () => console.error("too slow"));
 * deadline.update(true, 0); // a frame has started: its clock runs
 * deadline.update(false, 1); // it is complete
 * deadline.stop();
 * ```
 */
export class FrameDeadline {
  readonly #ms: number;
  readonly #onExpire: () => void;
  /** When the partial frame's first read came (Date.now()), or -1. */
  #since = -1;
  /** Frames completed before the partial one began. */
  #frame = -1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Whether the timer lets the process exit (it outlives its frame). */
  unrefTimer = false;

  /**
   * @param ms Milliseconds a started frame may take; 0 or Infinity: no limit.
   * @param onExpire Called once, when a frame missed its deadline.
   */
  constructor(ms: number, onExpire: () => void) {
    this.#ms = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#onExpire = onExpire;
  }

  /**
   * Notes the state after a read.
   *
   * @param partial Whether part of a frame is buffered.
   * @param completed How many frames have been completed so far.
   */
  update(partial: boolean, completed: number): void {
    if (this.#ms === 0) return;
    if (!partial) {
      this.#since = -1;
      return;
    }
    if (this.#since < 0 || completed !== this.#frame) {
      this.#since = Date.now();
      this.#frame = completed;
    }
    if (this.#timer === undefined && !this.#stopped) this.#arm(this.#ms);
  }

  /**
   * Stops the clock while this side does not read (its own backpressure):
   * the peer cannot finish a frame nobody reads. The next `update` starts it
   * again.
   */
  pause(): void {
    this.#since = -1;
  }

  /** Disarms it for good, as when the connection closes. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    if (this.unrefTimer) Deno.unrefTimer(this.#timer as unknown as number);
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#since < 0 || this.#stopped) return;
    const left = this.#since + this.#ms - Date.now();
    if (left > 0) return this.#arm(left);
    this.stop();
    this.#onExpire();
  }
}
