/**
 * Whether the peer is still there: PINGs that measure the round trip, and
 * the idle watch that closes a connection gone silent.
 *
 * @module
 */

import { Kind } from "../protocol/constants.ts";
import { encodeValue } from "../protocol/codec.ts";
import { TimeoutError } from "../errors.ts";
import type { FrameWriter } from "./writer.ts";

/** The PINGs of one connection that wait for their PONG. */
export class Pings {
  readonly #writer: FrameWriter;
  readonly #label: string;
  readonly #waiting = new Map<number, (now: number) => void>();

  constructor(writer: FrameWriter, label: string) {
    this.#writer = writer;
    this.#label = label;
  }

  /**
   * Sends PING `id`.
   *
   * @param id A request id no call uses.
   * @param timeout Milliseconds to wait for the PONG; 0 or Infinity: no limit.
   * @returns The round-trip time in milliseconds.
   */
  send(id: number, timeout: number): Promise<number> {
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
  /** Frames received so far. */
  framesReceived(): number;
  /** Whether a call is pending either way. */
  busy(): boolean;
}

/**
 * Calls `onIdle` once the peer has sent nothing for `period` ms while no
 * call was pending either way. Checked four times per period, by counting
 * frames rather than reading the clock on every frame: `onIdle` comes
 * between 1 and 1.25 periods into the silence.
 *
 * @param period idleTimeout.
 * @param probe The connection's activity.
 * @param onIdle Closes the connection.
 * @returns The interval, to clear on close.
 */
export function watchIdle(
  period: number,
  probe: IdleProbe,
  onIdle: () => void,
): ReturnType<typeof setInterval> {
  let seen = probe.framesReceived();
  let silentTicks = 0;
  return setInterval(() => {
    const frames = probe.framesReceived();
    if (frames !== seen || probe.busy()) {
      seen = frames;
      silentTicks = 0;
      return;
    }
    if (++silentTicks >= 4) onIdle();
  }, period / 4);
}
