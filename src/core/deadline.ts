/**
 * Deadlines on connecting, whatever the protocol: `connectTimeout` (or the
 * bound a call `timeout` implies) and the caller's `signal`, over the dial
 * and the handshake together.
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import { SILENT_SERVER_HINT } from "../protocol/handshake.ts";

/** The deadline options every `connect*` function takes. */
export interface DeadlineOptions {
  /** Milliseconds connecting may take; see `ConnectOptions.connectTimeout`. */
  connectTimeout?: number;
  /** Gives up on connecting. */
  signal?: AbortSignal;
}

/** Deadline options checked. Internal. */
export interface ResolvedDeadline {
  /** Milliseconds connecting may take; 0 for no limit of its own. */
  readonly connectTimeout: number;
  /** The option that set `connectTimeout`, for messages. */
  readonly connectTimeoutFrom: "connectTimeout" | "timeout";
  /** The caller's signal. */
  readonly signal: AbortSignal | undefined;
}

/**
 * Checks `connectTimeout` and `signal`, deriving the former from the call
 * `timeout` when it is not given.
 *
 * @param options What the user gave.
 * @param timeout The connection's resolved call timeout.
 * @returns The deadline.
 * @throws {RangeError} On a bad connectTimeout.
 * @throws {TypeError} On a signal that is not an AbortSignal.
 */
export function resolveDeadline(
  options: DeadlineOptions,
  timeout: number,
): ResolvedDeadline {
  const connectTimeout = options.connectTimeout ?? connectTimeoutOf(timeout);
  if (
    typeof connectTimeout !== "number" || Number.isNaN(connectTimeout) ||
    connectTimeout < 0
  ) {
    throw new RangeError(
      `Cannot use connectTimeout ${
        String(connectTimeout)
      }: expected a number >= 0`,
    );
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("Cannot use signal: expected an AbortSignal");
  }
  return {
    connectTimeout: Number.isFinite(connectTimeout) ? connectTimeout : 0,
    connectTimeoutFrom: options.connectTimeout === undefined
      ? "timeout"
      : "connectTimeout",
    signal,
  };
}

/**
 * The bound on connecting that a call `timeout` implies when no
 * `connectTimeout` is given: the same, but at least
 * `MIN_IMPLIED_CONNECT_TIMEOUT`; none for a timeout of 0 (forever).
 */
export function connectTimeoutOf(timeout: number): number {
  if (timeout === 0 || !Number.isFinite(timeout)) return 0;
  return Math.max(timeout, MIN_IMPLIED_CONNECT_TIMEOUT);
}

/** How far the connectTimeout that a call timeout implies may go down. */
const MIN_IMPLIED_CONNECT_TIMEOUT = 250;

/** How far connecting got: whether the stream is open, the hello awaited. */
export interface Progress {
  dialed: boolean;
}

/**
 * Runs `connecting` with the caller's signal and `connectTimeout` as one
 * signal; past the deadline, it rejects with a TimeoutError that, if the
 * stream was open (`progress.dialed`), says `silence`: by default, that the
 * server may be RPyC's.
 */
export async function withinDeadline<R>(
  label: string,
  options: ResolvedDeadline,
  connecting: (
    signal: AbortSignal | undefined,
    progress: Progress,
  ) => Promise<R>,
  silence = `, no hello from the server${SILENT_SERVER_HINT}`,
): Promise<R> {
  const { connectTimeout, connectTimeoutFrom, signal } = options;
  const progress: Progress = { dialed: false };
  if (connectTimeout === 0) return await connecting(signal, progress);
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new TimeoutError(
          `Cannot connect to ${label}: not connected within ${connectTimeout} ms (${connectTimeoutFrom})${
            progress.dialed ? silence : ""
          }`,
        ),
      ),
    connectTimeout,
  );
  try {
    return await connecting(
      signal === undefined
        ? controller.signal
        : AbortSignal.any([signal, controller.signal]),
      progress,
    );
  } finally {
    clearTimeout(timer);
  }
}
