/**
 * How netrefs are named and described: in error messages, by `inspect`,
 * `String()` and `JSON.stringify`, and the names every proxy answers
 * locally instead of asking the peer.
 *
 * @module
 */

import { PATH, type ProxyState, proxyState, REF } from "./proxy_state.ts";

export const inspectKey = Symbol.for("Deno.customInspect");
export const nodeInspectKey = Symbol.for("nodejs.util.inspect.custom");

/**
 * Deno's and Node's `inspect` look through a proxy to its target, and call
 * the target's `nodejs.util.inspect.custom` with the proxy as `this`: every
 * target carries it, so `console.log(ref)` describes the netref and never
 * reaches the peer. (Deno.customInspect is called with the target as `this`,
 * so it could not tell proxies that share one.)
 */
export function inspectable<T extends object>(target: T): T {
  Object.defineProperty(target, nodeInspectKey, {
    value: describeThis,
    configurable: true,
  });
  return target;
}

/** How a netref is named in descriptions: `root`, `#3`, `root.foo()`, ... */
export function nameOf(state: ProxyState): string {
  switch (state.mode) {
    case REF: {
      if (state.target === 0) return "root";
      const name = state.host.refName?.(state.target);
      return name === undefined
        ? `#${state.target}`
        : `${name} #${state.target}`;
    }
    case PATH:
      return `${nameOf(state.base!)}.${state.path.join(".")}`;
    default:
      return state.base === null ? "call" : `${nameOf(state.base)}()`;
  }
}

/**
 * What `console.log`, `String()` and `JSON.stringify` give for a netref:
 * `[netref #3 of 127.0.0.1:18811]`; a call result not awaited says so.
 */
export function describeState(state: ProxyState): string {
  const of = ` of ${state.host.label}]`;
  switch (state.mode) {
    case REF:
      return state.callable && state.target !== 0 &&
          state.host.refName?.(state.target) === undefined
        ? `[netref function ${nameOf(state)}${of}`
        : `[netref ${nameOf(state)}${of}`;
    case PATH:
      return `[netref member ${nameOf(state)}${of}`;
    default:
      return `[netref pending call ${nameOf(state)}${
        of.slice(0, -1)
      }: await it]`;
  }
}

// Shared by every proxy (`this` is the proxy): no closure per access.
function describeThis(this: unknown): string {
  const state = proxyState(this);
  return state === undefined ? "[netref]" : describeState(state);
}

function valueOfThis(this: unknown): unknown {
  return this;
}

/**
 * Names every proxy answers locally, never as a remote member: the probes
 * that serializers, loggers, test libraries and `await` make of any value.
 * A remote member with one of these names cannot be reached through a
 * proxy.
 */
export function localName(key: string): unknown {
  switch (key) {
    case "toJSON":
    case "toString":
      return describeThis;
    case "valueOf":
      return valueOfThis;
    default:
      // "constructor": a netref has none that could be used here.
      return undefined;
  }
}

export function isLocalName(key: string): boolean {
  return key === "toJSON" || key === "toString" || key === "valueOf" ||
    key === "constructor";
}
