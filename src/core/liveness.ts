/**
 * Whether the peer is still there: PINGs that measure the round trip, and
 * the idle watch that closes a connection gone silent.
 *
 * @module
 */

import { Kind } from "../protocol/constants.ts";
import { encodeValue } from "../protocol/codec.ts";
import { ProtocolError, TimeoutError } from "../errors.ts";
import type { FrameWriter } from "./writer.ts";

/** The PINGs of one connection that wait for their PONG. */
export class Pings {
  /** Pings sent whose promise has not settled. */
  pending = 0;
  readonly #writer: FrameWriter;
  readonly #label: string;
  readonly #onBusy: () => void;
  readonly #waiting = new Map<number, (now: number) => void>();

  /**
   * @param writer Where PINGs go.
   * @param label How the peer is named in messages.
   * @param onBusy Called when `pending` changes.
   */
  constructor(writer: FrameWriter, label: string, onBusy: () => void) {
    this.#writer = writer;
    this.#label = label;
    this.#onBusy = onBusy;
  }

  /**
   * Sends PING `id`, counted in `pending` until it settles.
   *
   * @param id A request id no call uses.
   * @param timeout Milliseconds to wait for the PONG; 0 or Infinity: no limit.
   * @returns The round-trip time in milliseconds.
   */
  ping(id: number, timeout: number): Promise<number> {
    this.pending++;
    this.#onBusy();
    return this.#send(id, timeout).finally(() => {
      this.pending--;
      this.#onBusy();
    });
  }

  #send(id: number, timeout: number): Promise<number> {
    const start = performance.now();
    return new Promise<number>((resolve, reject) => {
      const timer = timeout > 0 && Number.isFinite(timeout)
        ? setTimeout(() => {
          this.#waiting.delete(id);
          reject(
            new TimeoutError(
              `Ping to ${this.#label} timed out after ${timeout} ms`,
            ),
          );
        }, timeout)
        : undefined;
      this.#waiting.set(id, (now) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(now - start);
      });
      this.#writer.enqueue(encodeValue([Kind.PING, id]));
    });
  }

  /** The PONG for `id` came. */
  pong(id: unknown): void {
    this.#waiting.get(id as number)?.(performance.now());
  }

  /** The connection closed: no PONG will come. */
  clear(): void {
    this.#waiting.clear();
  }
}

/** What the idle watch reads of its connection. */
export interface IdleProbe {
  /** How the peer is named in the error. */
  readonly label: string;
  /** Whether the watch alone lets the process exit (a client's). */
  readonly unref: boolean;
  /** Frames received so far. */
  framesReceived(): number;
  /** Whether a call is pending either way. */
  busy(): boolean;
}

/**
 * Fails the connection once the peer has sent nothing for `period` ms while
 * no call was pending either way. Checked four times per period, by
 * counting frames rather than reading the clock on every frame: `fail`
 * comes between 1 and 1.25 periods into the silence.
 *
 * @param period idleTimeout.
 * @param probe The connection's activity.
 * @param fail Closes the connection with the error saying why.
 * @returns The interval, to clear on close.
 */
export function watchIdle(
  period: number,
  probe: IdleProbe,
  fail: (error: Error) => void,
): ReturnType<typeof setInterval> {
  let seen = probe.framesReceived();
  let silentTicks = 0;
  const timer = setInterval(() => {
    const frames = probe.framesReceived();
    if (frames !== seen || probe.busy()) {
      seen = frames;
      silentTicks = 0;
      return;
    }
    if (++silentTicks >= 4) {
      fail(
        new ProtocolError(
          `${probe.label} was idle for ${period} ms (idleTimeout)`,
        ),
      );
    }
  }, period / 4);
  // (Browsers have no Deno, and no process to keep alive.)
  if (probe.unref && typeof Deno !== "undefined") {
    Deno.unrefTimer(timer as unknown as number);
  }
  return timer;
}
