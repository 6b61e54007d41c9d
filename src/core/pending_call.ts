/**
 * A call this side sent, waiting for its answer: its promise, its deadline,
 * and the queued request whose hold byte pipelining may still flip.
 *
 * @module
 */

import { MSGPACK_FALSE, MSGPACK_TRUE } from "../protocol/constants.ts";
import type { PendingResult } from "./proxy.ts";

/** A call this side sent, waiting for its answer. */
export class PendingCall implements PendingResult {
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;
  /** The encoded request until it is copied into a write; null after. */
  payload: Uint8Array | null = null;
  held = false;
  settled = false;
  /** When the call times out (`Date.now()` time), or Infinity. */
  deadline = Infinity;
  /** The timeout the deadline came from, for the error message. */
  timeout = 0;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    readonly id: number,
    readonly target: number,
    readonly path: readonly string[],
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** What was called, for error messages; made only when one is. */
  get label(): string {
    return describeTarget(this.target, this.path);
  }

  pipelineTarget(): number | null {
    if (this.settled) return null;
    if (!this.held) {
      const payload = this.payload;
      // The hold flag is the request's last element, so its encoding (a
      // single byte, false or true) is the payload's last byte.
      if (payload === null || payload[payload.length - 1] !== MSGPACK_FALSE) {
        return null;
      }
      payload[payload.length - 1] = MSGPACK_TRUE;
      this.held = true;
      // Its failure reaches the caller through the pipelined request.
      this.promise.catch(() => {});
    }
    return -this.id;
  }
}

/** What a request names, for messages: its path, the root, or a ref. */
export function describeTarget(
  target: number,
  path: readonly string[],
): string {
  if (path.length > 0) return path.join(".");
  return target === 0 ? "root" : `ref #${target}`;
}

/** A call that failed before it was sent. */
export function settledCall(
  target: number,
  path: readonly string[],
  error: unknown,
): PendingCall {
  const call = new PendingCall(0, target, path);
  call.settled = true;
  call.reject(error);
  return call;
}
