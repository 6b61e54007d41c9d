/**
 * Awaiting a handler's result without adopting a peer's thenable.
 *
 * @module
 */

import { proxyState, REF } from "./proxy_state.ts";

/**
 * Whether a handler's result is awaited before it is answered: a promise,
 * or a netref member or call result of this library's own. Any other value
 * with a `then` method (the peer's data among them) is sent as a value:
 * awaiting it would call the peer, or whatever of ours the peer put there.
 *
 * @param value A handler's result.
 * @returns True if it is to be awaited.
 */
export function isAwaitable(value: unknown): value is PromiseLike<unknown> {
  if (value instanceof Promise) return true;
  const state = proxyState(value);
  return state !== undefined && state.mode !== REF;
}

/** A value carried through a promise that must not adopt it as a thenable. */
export interface Boxed {
  readonly value: unknown;
}

function box(value: unknown): Boxed {
  return { value };
}

/**
 * Waits for a handler's result, awaiting it only if {@linkcode isAwaitable}.
 *
 * @param result What the handler returned.
 * @returns Its value, boxed.
 */
export function awaitResult(result: unknown): Promise<Boxed> {
  return isAwaitable(result)
    ? Promise.resolve(result).then(box)
    : Promise.resolve(box(result));
}
