/**
 * Errors from the operating system, said again with the address they are
 * about and a plain sentence, and the original as `cause`. The rewrapped
 * error keeps its class (`Deno.errors.ConnectionRefused` and the like), so
 * code that tells them apart still does.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";

const OS_ERRORS: ReadonlySet<unknown> = new Set(Object.values(Deno.errors));

/** What a failed dial means, by class, and what to check. */
const DIAL_REASONS = new Map<unknown, string>([
  [Deno.errors.ConnectionRefused, "connection refused; is the server running?"],
  [Deno.errors.ConnectionReset, "the connection was reset by the other side"],
  [Deno.errors.TimedOut, "the operating system gave up waiting for an answer"],
  [
    Deno.errors.NotFound,
    "no such host or socket; check the address, and that the server is running",
  ],
  [
    Deno.errors.PermissionDenied,
    "permission denied; check the socket's permissions (or --allow-net)",
  ],
  [Deno.errors.NotCapable, "not allowed; run with --allow-net"],
  [Deno.errors.AddrNotAvailable, "the address is not available on this host"],
]);

/**
 * `error` from connecting to `where`, said with the address and a plain
 * sentence; anything that is not an operating-system error is returned as
 * it was.
 *
 * @param error What the dial threw.
 * @param where The address, such as `127.0.0.1:18811` or a socket path.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { explainDialError } from "./os_errors.ts";
 * const error = explainDialError(new Deno.errors.ConnectionRefused("os error 111"), "127.0.0.1:1");
 * console.assert(error instanceof Deno.errors.ConnectionRefused);
 * ```
 */
export function explainDialError(error: unknown, where: string): unknown {
  if (!(error instanceof Error) || !OS_ERRORS.has(error.constructor)) {
    return error;
  }
  const reason = DIAL_REASONS.get(error.constructor) ??
    lowerFirst(errorMessage(error));
  return rewrap(error, `Cannot connect to ${where}: ${reason}`);
}

/**
 * `error` from listening on `where`, said with the address and a plain
 * sentence; anything that is not an operating-system error is returned as
 * it was.
 *
 * @param error What listening threw.
 * @param where The address, such as `127.0.0.1:18811` or a socket path.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { explainListenError } from "./os_errors.ts";
 * const error = explainListenError(new Deno.errors.AddrInUse("os error 98"), "127.0.0.1:18811");
 * console.assert(error instanceof Deno.errors.AddrInUse);
 * ```
 */
export function explainListenError(error: unknown, where: string): unknown {
  if (!(error instanceof Error) || !OS_ERRORS.has(error.constructor)) {
    return error;
  }
  const reason = error instanceof Deno.errors.AddrInUse
    ? "the address is in use; is another server running there? Pick another port, or port 0 for a free one"
    : error instanceof Deno.errors.AddrNotAvailable
    ? "the address is not one of this host's"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need privileges)"
    : lowerFirst(errorMessage(error));
  return rewrap(error, `Cannot listen on ${where}: ${reason}`);
}

function rewrap(error: Error, message: string): Error {
  const Class = error.constructor as new (
    message: string,
    options?: ErrorOptions,
  ) => Error;
  const wrapped = new Class(message, { cause: error });
  // Deno's error classes may not take options: the cause is set either way.
  if (wrapped.cause !== error) {
    Object.defineProperty(wrapped, "cause", {
      value: error,
      configurable: true,
      writable: true,
    });
  }
  return wrapped;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
