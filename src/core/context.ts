/**
 * The context of the remote call being handled: its cancellation signal and
 * the connection it came from.
 *
 * @module
 */

import type { Connection } from "./types.ts";
import { isClass } from "./exposure.ts";

/** What a handler can learn about the call it is serving. */
export interface CallContext {
  /** Aborts when the caller cancels the call, times out, or disconnects. */
  readonly signal: AbortSignal;
  /** The connection the call came in on. */
  readonly connection: Connection;
}

/** The state of one incoming call; the signal is only made when asked for. */
export interface IncomingCall {
  controller: AbortController | null;
  cancelled: boolean;
  readonly connection: Connection;
}

let current: IncomingCall | null = null;

/**
 * Runs `fn` with `call` as the current call, for the synchronous part of a
 * handler.
 *
 * @param call The incoming call.
 * @param fn The handler invocation.
 * @returns What `fn` returns.
 */
export function runInCall<R>(call: IncomingCall, fn: () => R): R {
  const previous = current;
  current = call;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

/**
 * Calls `fn` with `self` and `args`, with `call` as the current call: as
 * {@linkcode runInCall}, without a closure per call on the hot path.
 *
 * @param call The incoming call.
 * @param fn The handler.
 * @param self Its `this`.
 * @param args Its arguments.
 * @returns What `fn` returns.
 */
export function applyInCall(
  call: IncomingCall,
  fn: (...args: never[]) => unknown,
  self: unknown,
  args: unknown[],
): unknown {
  const previous = current;
  current = call;
  try {
    // A class is constructed: calling an exposed class remotely is `new`.
    return isClass(fn)
      ? Reflect.construct(
        fn as unknown as new (...args: unknown[]) => unknown,
        args,
      )
      : Reflect.apply(fn, self, args);
  } finally {
    current = previous;
  }
}

/**
 * Makes (once) and returns the abort controller of an incoming call.
 *
 * @param call The incoming call.
 * @returns Its controller.
 */
export function controllerOf(call: IncomingCall): AbortController {
  if (call.controller === null) call.controller = new AbortController();
  return call.controller;
}

/**
 * The context of the remote call being served. Call it synchronously at the
 * start of an exposed method, before its first `await`; keep the result.
 *
 * @returns The call's signal and connection.
 * @throws {Error} When called outside the synchronous start of a remote call.
 *
 * @example Stopping work when the caller cancels
 * ```ts
 * import { currentCall, exposed } from "../../mod.ts";
 * class Jobs {
 *   @exposed async slow() {
 *     const { signal } = currentCall();
 *     while (!signal.aborted) await new Promise((r) => setTimeout(r, 10));
 *   }
 * }
 * ```
 */
export function currentCall(): CallContext {
  const call = current;
  if (call === null) {
    throw new Error(
      "Cannot get the current call: currentCall() works only in the synchronous start of an exposed method, before its first await",
    );
  }
  return {
    get signal() {
      return controllerOf(call).signal;
    },
    connection: call.connection,
  };
}

/**
 * Those waiting for a connection's incoming calls to finish (`idle()`):
 * woken by the last call to settle, so that nothing polls for it.
 */
export class IdleWaiters {
  #waiters: (() => void)[] = [];

  /**
   * @param busy Whether a call runs now.
   * @returns Resolves once none does.
   */
  wait(busy: boolean): Promise<void> {
    if (!busy) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** @param busy Whether a call still runs; if not, every waiter resolves. */
  wake(busy: boolean): void {
    if (busy || this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
