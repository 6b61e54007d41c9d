/**
 * Errors from the operating system, said again with the address they are
 * about and a plain sentence, and the original as `cause`. The rewrapped
 * error keeps its class (`Deno.errors.ConnectionRefused` and the like), so
 * code that tells them apart still does.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";

/** Deno's error classes; none in a browser, where nothing here is rewrapped. */
function isOsError(error: unknown): error is Error {
  const errors = (globalThis as { Deno?: typeof Deno }).Deno?.errors;
  return errors !== undefined && error instanceof Error &&
    Object.values(errors).includes(error.constructor as typeof Error);
}

/** What a failed dial means, and what to check. */
function dialReason(error: Error): string {
  const errors = Deno.errors;
  if (error instanceof errors.ConnectionRefused) {
    return "connection refused; is the server running?";
  }
  if (error instanceof errors.ConnectionReset) {
    return "the connection was reset by the other side";
  }
  if (error instanceof errors.TimedOut) {
    return "the operating system gave up waiting for an answer";
  }
  if (error instanceof errors.NotFound) {
    return "no such host or socket; check the address, and that the server is running";
  }
  if (error instanceof errors.PermissionDenied) {
    return "permission denied; check the socket's permissions (or --allow-net)";
  }
  if (error instanceof errors.NotCapable) {
    return "not allowed; run with --allow-net";
  }
  if (error instanceof errors.AddrNotAvailable) {
    return "the address is not available on this host";
  }
  return lowerFirst(errorMessage(error));
}

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
  if (!isOsError(error)) return error;
  return rewrap(error, `Cannot connect to ${where}: ${dialReason(error)}`);
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
  if (!isOsError(error)) return error;
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
