/**
 * Opening a connection over any byte stream: options, defaults, handshake.
 *
 * @module
 */

import { serviceName } from "./exposure.ts";
import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_INCLUDE_STACK,
  DEFAULT_MAX_EXPORTS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_STREAMS,
  DEFAULT_TIMEOUT,
} from "../defaults.ts";
import {
  type LogHook,
  type LogOptions,
  logToStderr,
  resolveLogHook,
} from "../log.ts";
import { MAX_FRAME_LENGTH } from "../protocol/constants.ts";
import { Session } from "./session.ts";
import { type Interceptor, resolveIntercept } from "./intercept.ts";
import type { Connection, ResolvedOptions, SessionOptions } from "./types.ts";
import type { ByteStream } from "../transport/types.ts";

/** Options shared by both ends of a connection. */
export interface ConnectionOptions extends LogOptions {
  /**
   * Default timeout of each outgoing call, in milliseconds; `0` or
   * `Infinity` waits forever.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Largest frame accepted from the peer, in bytes; larger ones close the
   * connection with a `ProtocolError`.
   *
   * @default {16777216}
   */
  maxFrameBytes?: number;
  /**
   * Milliseconds to wait for the peer's hello.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Milliseconds a frame (or an RPyC message) may take to arrive once its
   * first byte is in; a peer that starts one and does not finish it in time
   * is disconnected and the reason logged. `0` never times a frame out.
   *
   * @default {30000}
   */
  frameTimeout?: number;
  /**
   * Milliseconds of silence from the peer (no message, no call pending
   * either way) after which the connection is closed and the reason logged;
   * `0` never closes an idle connection.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * A shared secret. A client sends it in the handshake; a server given one
   * refuses every client whose token differs (compared in constant time).
   * It travels in clear text unless the transport is TLS.
   */
  token?: string;
  /**
   * Most incoming calls running at once; a peer that sends more is
   * disconnected.
   *
   * @default {1024}
   */
  maxInFlight?: number;
  /**
   * Most local objects the peer may hold references to at once (objects and
   * functions sent by reference and not yet released); sending one more
   * disconnects the peer, and the reason is logged.
   *
   * @default {100000}
   */
  maxExports?: number;
  /**
   * Most streams open at once each way: iterables and streams this side
   * sent that have not finished (sending one more fails with a
   * `RangeError`), and those the peer sent (one more is refused: reading it
   * throws a `RangeError`, and the peer's producer is cancelled).
   *
   * @default {1024}
   */
  maxStreams?: number;
  /**
   * Whether errors sent to the peer carry their stack trace.
   *
   * @default {true}
   */
  includeStack?: boolean;
  /**
   * Functions every call this side sends or serves passes through, the
   * first outermost: each `(call, next) => Promise<result>` sees the
   * service, member path, arguments, peer and signal, and may refuse the
   * call by throwing (see {@linkcode Interceptor}).
   *
   * @default {[]}
   */
  intercept?: readonly Interceptor[];
}

/**
 * Checks the options both ends share and fills in their defaults (from
 * `defaults.ts`): the part every role's resolver (`resolveConnect`,
 * `resolveServe`, `resolveRpycConnect`) has in common.
 *
 * @param options What the user gave.
 * @param defaultLog Where events go unless `onLog` (or `log`) is given:
 *   nowhere for clients, stderr for servers.
 * @returns Every option, defaults filled in.
 * @throws {TypeError} On a wrong type.
 * @throws {RangeError} On a limit out of range.
 */
export function resolveOptions(
  options: ConnectionOptions,
  defaultLog: LogHook = logToStderr,
): ResolvedOptions {
  const resolved: ResolvedOptions = {
    timeout: DEFAULT_TIMEOUT,
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
    idleTimeout: DEFAULT_IDLE_TIMEOUT,
    frameTimeout: DEFAULT_FRAME_TIMEOUT,
    maxInFlight: DEFAULT_MAX_IN_FLIGHT,
    maxExports: DEFAULT_MAX_EXPORTS,
    maxStreams: DEFAULT_MAX_STREAMS,
    includeStack: DEFAULT_INCLUDE_STACK,
    log: resolveLogHook(options, defaultLog),
    intercept: resolveIntercept(options.intercept),
  };
  for (
    const key of [
      "timeout",
      "maxFrameBytes",
      "handshakeTimeout",
      "idleTimeout",
      "frameTimeout",
      "maxInFlight",
      "maxExports",
      "maxStreams",
    ] as const
  ) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
      throw new RangeError(
        `Cannot use ${key} ${String(value)}: expected a number >= 0`,
      );
    }
    resolved[key] = value;
  }
  if (
    resolved.maxFrameBytes < 64 || resolved.maxFrameBytes > MAX_FRAME_LENGTH
  ) {
    throw new RangeError(
      `Cannot use maxFrameBytes ${resolved.maxFrameBytes}: expected 64 to ${MAX_FRAME_LENGTH}`,
    );
  }
  if (resolved.maxInFlight < 1) {
    throw new RangeError(
      `Cannot use maxInFlight ${resolved.maxInFlight}: expected at least 1`,
    );
  }
  if (!Number.isInteger(resolved.maxStreams)) {
    throw new RangeError(
      `Cannot use maxStreams ${resolved.maxStreams}: expected an integer >= 0`,
    );
  }
  if (resolved.maxExports < 1) {
    throw new RangeError(
      `Cannot use maxExports ${resolved.maxExports}: expected at least 1`,
    );
  }
  if (options.token !== undefined) {
    if (typeof options.token !== "string" || options.token === "") {
      throw new TypeError("Cannot use token: expected a non-empty string");
    }
    resolved.token = options.token;
  }
  if (options.includeStack !== undefined) {
    resolved.includeStack = Boolean(options.includeStack);
  }
  return resolved;
}

/**
 * Starts a session on `stream` and waits for the handshake.
 *
 * @param stream A connected stream; closed if the handshake fails.
 * @param options The session options.
 * @param signal Gives up on the handshake: the session closes, quietly, and
 *   this rejects with the signal's reason.
 * @returns The open connection.
 * @throws {ProtocolError} If the peer is not a compatible netref peer.
 * @throws {ConnectionClosedError} If the peer hangs up during the handshake.
 */
export async function openConnection<T>(
  stream: ByteStream,
  options: Omit<SessionOptions, "serviceName" | "acceptor">,
  signal?: AbortSignal,
): Promise<Connection<T>> {
  const session = new Session(stream, {
    ...options,
    acceptor: false,
    serviceName: options.root === null ? undefined : serviceName(options.root),
  });
  if (signal === undefined) {
    await session.ready;
    return session.handle as Connection<T>;
  }
  const onAbort = () => {
    const reason: unknown = signal.reason;
    session.close(
      reason instanceof Error ? reason : new Error(String(reason)),
      false,
    );
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    await session.ready;
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return session.handle as Connection<T>;
}

/**
 * Starts a session for an accepted stream without waiting.
 *
 * @param stream The accepted stream.
 * @param options The session options.
 * @returns The session.
 */
export function acceptSession(
  stream: ByteStream,
  options: Omit<SessionOptions, "serviceName" | "acceptor">,
): Session {
  return new Session(stream, {
    ...options,
    acceptor: true,
    serviceName: options.root === null ? undefined : serviceName(options.root),
  });
}
