/**
 * How a connection ends, the same for netref and RPyC sessions: the error
 * its pending calls fail with, the maxExports overflow that closes it, and
 * the `onDisconnect` hook.
 *
 * @module
 */

import { type LogEvent, logEvent } from "../log.ts";
import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
} from "../errors.ts";
import type { Connection } from "./types.ts";

/** What a closing session tells about itself. */
export interface ClosingSession {
  readonly label: string;
  readonly handle: Connection;
  log(event: LogEvent): void;
}

/**
 * The error pending work fails with once the connection closed.
 *
 * @param label The peer, as messages name it.
 * @param reason Why it closed, or null for a normal close.
 * @returns `reason` itself if it is a ConnectionClosedError, else one
 *   wrapping it.
 */
export function closedError(
  label: string,
  reason: Error | null,
): ConnectionClosedError {
  if (reason instanceof ConnectionClosedError) return reason;
  return reason === null
    ? new ConnectionClosedError(`Connection to ${label} closed`)
    : new ConnectionClosedError(
      `Connection to ${label} closed: ${reason.message}`,
      { cause: reason },
    );
}

/**
 * The export table's overflow callback: the peer holds `max` references
 * already, so the connection fails.
 *
 * @param label The peer, as messages name it.
 * @param max maxExports.
 * @param fail Closes the connection with the error.
 * @returns The callback.
 */
export function exportsFull(
  label: string,
  max: number,
  fail: (error: Error) => void,
): () => void {
  // After the message being encoded has failed, not in its middle.
  return () =>
    queueMicrotask(() =>
      fail(
        new ProtocolError(
          `${label} exceeded maxExports: it holds references to ${max} objects of this side, and one more was to be sent`,
        ),
      )
    );
}

/**
 * Calls the `onDisconnect` hook; a failure, thrown or rejected, is logged.
 *
 * @param session The session that closed.
 * @param hook The hook, if any.
 * @param reason Why it closed, or null for a normal close.
 */
export function callOnClose(
  session: ClosingSession,
  hook:
    | ((conn: Connection, reason: Error | null) => void | Promise<void>)
    | undefined,
  reason: Error | null,
): void {
  if (hook === undefined) return;
  const report = (hookError: unknown) => {
    const why = errorMessage(hookError);
    session.log(logEvent(
      "error",
      "hook.failed",
      `onDisconnect hook failed for ${session.label}: ${why}`,
      { peer: session.label, reason: why, error: hookError },
    ));
  };
  try {
    const done: unknown = hook(session.handle, reason);
    if (done instanceof Promise) done.catch(report);
  } catch (hookError) {
    report(hookError);
  }
}
