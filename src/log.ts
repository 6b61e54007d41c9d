/**
 * What a connection or server reports, as structured events, and where
 * they go by default: nowhere on a client, stderr on a server.
 *
 * @module
 */

/** How much an event matters. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * One thing a connection or server reports: a peer that broke the
 * protocol, a refused client, a call that failed while nothing awaited it.
 *
 * @example
 * ```ts
 * import type { LogEvent } from "./log.ts";
 * const event: LogEvent = {
 *   level: "warn",
 *   event: "connection.refused",
 *   peer: "127.0.0.1:50412",
 *   reason: "the server is at its limit of 1024 connections; try again later",
 *   message: "refused 127.0.0.1:50412: the server is at its limit of 1024 connections; try again later",
 * };
 * console.assert(event.level === "warn");
 * ```
 */
export interface LogEvent {
  /** How much it matters. */
  level: LogLevel;
  /**
   * What happened, a stable name such as `connection.closed`,
   * `connection.refused`, `call.unawaited` (see the README, "Logging").
   */
  event: string;
  /** The peer it is about (`host:port`, a socket path, a URL), if any. */
  peer?: string;
  /** Why, in a sentence, if there is more to say than the event. */
  reason?: string;
  /** The whole event as one line of text. */
  message: string;
  /** The error behind it, if any. */
  error?: unknown;
}

/** Receives every event a connection or server reports. */
export type LogHook = (event: LogEvent) => void;

/**
 * The options every connection and server takes for its reports.
 *
 * @example
 * ```ts
 * import type { LogOptions } from "./log.ts";
 * const options: LogOptions = {
 *   onLog: (e) => console.error(JSON.stringify({ level: e.level, event: e.event, peer: e.peer })),
 * };
 * ```
 */
export interface LogOptions {
  /**
   * Receives every event, structured. Clients report nothing by default;
   * servers write each event's `message` to stderr. Pass `() => {}` to
   * silence a server.
   *
   * @default {nothing on a client; stderr on a server}
   */
  onLog?: LogHook;
  /**
   * Receives each event's `message` (the text of {@linkcode LogEvent}).
   * Kept for compatibility; give `onLog` instead (not both).
   *
   * @deprecated Use `onLog`, which receives the event's fields.
   */
  log?: (message: string) => void;
}

/** Writes an event's message to stderr: the servers' default. */
export function logToStderr(event: LogEvent): void {
  console.error(`netref: ${event.message}`);
}

/** Drops every event: the clients' default. */
export function logNothing(_event: LogEvent): void {}

/**
 * The hook that `options` ask for, or the default for the role.
 *
 * @param options What the user gave.
 * @param fallback The role's default.
 * @returns The hook.
 * @throws {TypeError} If a hook is not a function, or both are given.
 */
export function resolveLogHook(
  options: LogOptions,
  fallback: LogHook,
): LogHook {
  const { onLog, log } = options;
  if (onLog !== undefined && log !== undefined) {
    throw new TypeError(
      "Cannot use both onLog and log: give onLog (log is its older form)",
    );
  }
  if (onLog !== undefined) {
    if (typeof onLog !== "function") {
      throw new TypeError("Cannot use onLog: expected a function");
    }
    return onLog;
  }
  if (log !== undefined) {
    if (typeof log !== "function") {
      throw new TypeError("Cannot use log: expected a function");
    }
    return (event) => log(event.message);
  }
  return fallback;
}

/**
 * Makes an event; its message is `text`.
 *
 * @param level How much it matters.
 * @param event Its name.
 * @param text The whole event as a line.
 * @param fields The peer, the reason and the error, where known.
 * @returns The event.
 */
export function logEvent(
  level: LogLevel,
  event: string,
  text: string,
  fields: { peer?: string; reason?: string; error?: unknown } = {},
): LogEvent {
  const result: LogEvent = { level, event, message: text };
  if (fields.peer !== undefined) result.peer = fields.peer;
  if (fields.reason !== undefined) result.reason = fields.reason;
  if (fields.error !== undefined) result.error = fields.error;
  return result;
}
