/**
 * How the CLI fails: every failure falls in one class, which sets the exit
 * code and the `code` of the JSON error line (`--format json`).
 *
 * @module
 */

import {
  AccessError,
  ConnectionClosedError,
  ProtocolError,
  RemoteError,
  ServiceUnavailableError,
  TimeoutError,
} from "../errors.ts";

/** The classes of failure, each with its exit code. */
export const EXIT_CODES = {
  /** Anything else: a file a flag names, a service module, a port in use. */
  failure: 1,
  /** The command line, or arguments read with --data, are wrong. */
  usage: 2,
  /** The server or registry could not be reached, or dropped or refused the connection. */
  connection: 3,
  /** The call reached the server and threw there. */
  remote: 4,
  /** A deadline (--timeout) passed: connecting, or waiting for the answer. */
  timeout: 5,
  /** The server refuses the member: not exposed, or not readable. */
  access: 6,
} as const;

/** A class of failure: a key of {@linkcode EXIT_CODES}. */
export type FailureKind = keyof typeof EXIT_CODES;

/** How errors are printed: a line of text, or a line of JSON. */
export type ErrorFormat = "text" | "json";

// Checked in order on the error, then on its cause, its cause's cause...:
// the first class recognised wins, so a wrapper that names the address
// (with the original as `cause`) keeps the original's class.
const CLASSES: readonly [FailureKind, (error: Error) => boolean][] = [
  ["usage", (e) => e.name === "UsageError"],
  [
    "timeout",
    (e) =>
      e instanceof TimeoutError || e instanceof Deno.errors.TimedOut ||
      (e instanceof DOMException && e.name === "TimeoutError"),
  ],
  ["access", (e) => e instanceof AccessError],
  ["remote", (e) => e instanceof RemoteError],
  [
    "connection",
    (e) =>
      e instanceof ConnectionClosedError || e instanceof ProtocolError ||
      e instanceof ServiceUnavailableError ||
      e instanceof Deno.errors.ConnectionRefused ||
      e instanceof Deno.errors.ConnectionReset ||
      e instanceof Deno.errors.ConnectionAborted ||
      e instanceof Deno.errors.NotConnected ||
      e instanceof Deno.errors.BrokenPipe ||
      e instanceof Deno.errors.AddrNotAvailable ||
      e instanceof Deno.errors.UnexpectedEof ||
      e instanceof Deno.errors.InvalidData,
  ],
];

/** How deep a chain of causes is followed. */
const MAX_CAUSES = 8;

/**
 * The class of a failure: that of the error or of the first error in its
 * chain of causes that has one, else `fallback` (which depends on the step
 * that failed: connecting, or the call).
 *
 * @param error What was thrown.
 * @param fallback The class when nothing in the chain is recognised.
 * @returns The class.
 */
export function classifyFailure(
  error: unknown,
  fallback: FailureKind,
): FailureKind {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSES; depth++) {
    if (!(current instanceof Error)) break;
    for (const [kind, matches] of CLASSES) {
      if (matches(current)) return kind;
    }
    current = current.cause;
  }
  return fallback;
}

/**
 * A failure as printed on stderr: `program: message`, or with
 * `--format json` one line `{"error": message, "code": kind}`.
 *
 * @param program The program name, the prefix of text lines.
 * @param format Text or JSON.
 * @param message What failed, on one line.
 * @param kind Its class.
 * @returns The line, without a newline.
 */
export function formatFailure(
  program: string,
  format: ErrorFormat,
  message: string,
  kind: FailureKind,
): string {
  return format === "json"
    ? JSON.stringify({ error: message, code: kind })
    : `${program}: ${message}`;
}

/**
 * Finds `--format json` (or `--format=json`) on a command line before it is
 * parsed, so that a usage error is printed in the form asked for too.
 *
 * @param args The arguments, without the program name.
 * @returns `json` if asked for, else `text`.
 */
export function scanErrorFormat(args: readonly string[]): ErrorFormat {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") break;
    if (args[i] === "--format=json") return "json";
    if (args[i] === "--format" && args[i + 1] === "json") return "json";
  }
  return "text";
}
