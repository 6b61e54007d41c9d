/**
 * The caller's stack on an error a call rejects with. An error that arrives
 * from the peer, or a timeout or a close, is made where the answer is read,
 * so its own stack names only the decoder; the frames that matter are those
 * of the code that awaited the call.
 *
 * Capturing a stack per call costs about as much as the rest of a call (the
 * runtime records a detailed trace for every capture), so nothing is
 * captured when a call is made. Instead the promise handed to the caller
 * passes a rejection through one handler; that handler runs inside the
 * caller's `await` chain, so the runtime's async stack trace there lists the
 * caller's own `await` lines, and the stack is captured then, on failures
 * only.
 *
 * @module
 */

import {
  ConnectionClosedError,
  ProtocolError,
  RemoteError,
  TimeoutError,
  wasRebuilt,
} from "../errors.ts";

/**
 * The promise to hand to whoever awaits a call: `promise`, whose rejection
 * gets the awaiting code's frames as its stack.
 *
 * @param promise A call's result.
 * @returns A promise settling as `promise` does.
 */
export function withCallerStack(promise: Promise<unknown>): Promise<unknown> {
  return promise.catch(addCallerStack);
}

interface StackHolder {
  stack?: string;
}

/** Errors whose stack was already replaced (an error shared by calls). */
const located = new WeakSet<Error>();

function addCallerStack(error: unknown): never {
  if (
    needsCallerStack(error) && !located.has(error) &&
    // V8's (Deno, Node, Chromium); other engines keep the error's own stack.
    typeof Error.captureStackTrace === "function"
  ) {
    located.add(error);
    const holder: StackHolder = {};
    // Called in the awaiting code's promise chain: the frames are theirs.
    Error.captureStackTrace(holder, addCallerStack);
    replaceStack(error, holder);
  }
  throw error;
}

/**
 * Whether an error was made away from the caller: received from the peer,
 * or a timeout, close or protocol failure. Errors the caller made (an abort
 * reason) or that were thrown while sending (their stack already names the
 * caller) keep their own stack.
 */
function needsCallerStack(error: unknown): error is Error {
  return error instanceof RemoteError || error instanceof TimeoutError ||
    error instanceof ConnectionClosedError || error instanceof ProtocolError ||
    (error instanceof Error && wasRebuilt(error));
}

/** Sets `error.stack`, formatted when first read. */
function replaceStack(error: Error, holder: StackHolder): void {
  let formatted: string | undefined;
  Object.defineProperty(error, "stack", {
    configurable: true,
    enumerable: false,
    get(): string {
      return formatted ??= formatStack(error, holder.stack ?? "");
    },
    set(value: unknown): void {
      Object.defineProperty(error, "stack", {
        value,
        configurable: true,
        writable: true,
        enumerable: false,
      });
    },
  });
}

/**
 * The caller's frames under the error's name and message, then the remote
 * stack (as RPyC prints the remote traceback with the local one).
 */
function formatStack(error: Error, captured: string): string {
  const head = error.message === ""
    ? error.name
    : `${error.name}: ${error.message}`;
  const newline = captured.indexOf("\n");
  const frames = newline === -1 ? "" : captured.slice(newline);
  const remote = (error as { remoteStack?: unknown }).remoteStack;
  if (typeof remote !== "string" || remote === "") return head + frames;
  return `${head}${frames}\n    thrown on the peer:\n${indent(remote)}`;
}

/** The peer's text, indented, with no terminal control characters. */
function indent(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, "")
    .split("\n")
    .map((line) => "      " + line.trimStart())
    .join("\n");
}
