/**
 * Netref proxies: what stands locally for a remote object, a member path on
 * one, or the pending result of a call. One handler defines every trap, and
 * every remote operation goes out through `send`.
 *
 * @module
 */

import { Op } from "../protocol/constants.ts";
import type { ImportEntry } from "./refs.ts";
import {
  PATH,
  type PendingResult,
  type ProxyHost,
  type ProxyState,
  proxyState,
  REF,
  RESULT,
  STATE,
} from "./proxy_state.ts";
import {
  describeState,
  inspectable,
  inspectKey,
  isLocalName,
  localName,
  nodeInspectKey,
} from "./proxy_names.ts";
import { send, targetOf } from "./send.ts";
import { withCallerStack } from "./caller_stack.ts";
import type { CallOptions } from "./types.ts";

/** Member proxies cached per remote object, at most. */
const MAX_CACHED_MEMBERS = 64;

// Path proxies share one callable target, and result proxies one object
// target (a call's result is promise-like, `typeof` "object"): they report no
// own properties, so no proxy invariant ties them to their target (its one
// property, for inspection, is configurable).
const CALLABLE_TARGET = inspectable(() => {});
const RESULT_TARGET = inspectable({});

function make(state: ProxyState, target: object): object {
  return new Proxy(target, new NetrefHandler(state));
}

/**
 * Makes the proxy for a remote object (ref id `target`, 0 for the root).
 *
 * @param host The connection.
 * @param target The ref id.
 * @param entry The import entry, or null for the root.
 * @param callable Whether the remote object is a function.
 * @returns The proxy.
 */
export function makeRefProxy(
  host: ProxyHost,
  target: number,
  entry: ImportEntry | null,
  callable: boolean,
): object {
  return make(
    {
      host,
      mode: REF,
      target,
      entry,
      callable,
      base: null,
      path: [],
      result: null,
      options: undefined,
    },
    refTarget(callable),
  );
}

/**
 * A fresh target per ref: `typeof` tells functions from objects. An arrow
 * function, since a `function` has a non-configurable `prototype` that the
 * `ownKeys` trap would have to report: `Object.keys(ref)` threw.
 */
function refTarget(callable: boolean): object {
  return inspectable(callable ? () => {} : {});
}

function pathProxy(base: ProxyState, path: readonly string[]): object {
  return make({
    host: base.host,
    mode: PATH,
    target: 0,
    entry: null,
    callable: true,
    base,
    path,
    result: null,
    options: base.options,
  }, CALLABLE_TARGET);
}

function resultProxy(
  called: ProxyState,
  result: PendingResult,
): object {
  return make({
    host: called.host,
    mode: RESULT,
    target: 0,
    entry: null,
    callable: false,
    base: withoutResults(called),
    path: [],
    result,
    options: called.options,
  }, RESULT_TARGET);
}

/**
 * `state` for describing only: earlier results in its chain let go of their
 * values, so that a pipelined call's result keeps no remote object of the
 * chain alive (`root.user().rename()` would otherwise hold the user's ref).
 */
function withoutResults(state: ProxyState): ProxyState {
  switch (state.mode) {
    case REF:
      return state;
    case PATH: {
      const base = withoutResults(state.base!);
      return base === state.base ? state : { ...state, base };
    }
    default:
      return state.result === null ? state : {
        ...state,
        base: state.base === null ? null : withoutResults(state.base),
        result: null,
      };
  }
}

function notAllowed(what: string): never {
  throw new TypeError(
    `Cannot ${what} on a netref: remote operations are async; use \`await setAttr(ref, name, value)\` to write a remote member`,
  );
}

/** The one handler class: every trap of every netref proxy. */
class NetrefHandler implements ProxyHandler<object> {
  constructor(readonly state: ProxyState) {}

  get(_target: object, key: string | symbol): unknown {
    const state = this.state;
    if (typeof key === "symbol") {
      return key === STATE ? state : localSymbol(state, key);
    }
    if (isLocalName(key)) return localName(key);
    if (state.mode === REF) {
      // Never thenable: `await ref` must give the ref, not hang.
      if (key === "then") return undefined;
      // Member proxies hold no state of their own: `root.foo` is made once.
      const members = state.members ??= new Map();
      let member = members.get(key);
      if (member === undefined) {
        member = pathProxy(state, [key]);
        if (members.size < MAX_CACHED_MEMBERS) members.set(key, member);
      }
      return member;
    }
    if (state.mode === PATH) {
      if (key === "then") {
        return settleWith(send(state.base!, Op.GET, state.path, null), key);
      }
      return pathProxy(state.base!, [...state.path, key]);
    }
    if (key === "then" || key === "catch" || key === "finally") {
      return settleWith(state.result!, key);
    }
    return pathProxy(state, [key]);
  }

  apply(_target: object, _this: unknown, args: unknown[]): unknown {
    const state = this.state;
    if (state.mode === PATH) {
      return resultProxy(state, send(state.base!, Op.CALL, state.path, args));
    }
    if (state.mode === REF && !state.callable) {
      throw new TypeError(
        `Cannot call ${describeState(state)}: it is not a function`,
      );
    }
    return resultProxy(state, send(state, Op.CALL, [], args));
  }

  set(): boolean {
    return notAllowed("assign a member");
  }

  defineProperty(): boolean {
    return notAllowed("define a member");
  }

  deleteProperty(): boolean {
    return notAllowed("delete a member");
  }

  has(_target: object, key: string | symbol): boolean {
    if (typeof key === "symbol") return key === STATE || key === Symbol.dispose;
    if (isLocalName(key)) return localName(key) !== undefined;
    if (key === "then") return this.state.mode !== REF;
    if (key === "catch" || key === "finally") return this.state.mode === RESULT;
    throw new TypeError(
      `Cannot test '${key}' in a netref synchronously: use \`await dir(ref)\``,
    );
  }

  ownKeys(): ArrayLike<string | symbol> {
    return [];
  }

  getOwnPropertyDescriptor(): PropertyDescriptor | undefined {
    return undefined;
  }

  setPrototypeOf(): boolean {
    return notAllowed("set the prototype");
  }

  preventExtensions(): boolean {
    return notAllowed("prevent extensions");
  }
}

function localSymbol(state: ProxyState, key: symbol): unknown {
  switch (key) {
    case Symbol.dispose:
      return () => releaseState(state);
    case Symbol.toPrimitive:
    case inspectKey:
    case nodeInspectKey:
      return () => describeState(state);
    case Symbol.toStringTag:
      return "Netref";
    case Symbol.asyncIterator:
      return state.mode === REF && state.host.iterate !== undefined
        ? () => state.host.iterate!(state)
        : undefined;
    default:
      // Symbol.iterator among them: a netref is never iterated synchronously.
      return undefined;
  }
}

function stateOf(ref: unknown, what: string): ProxyState {
  const state = proxyState(ref);
  if (state === undefined) {
    throw new TypeError(`Cannot ${what}: the value is not a netref`);
  }
  return state;
}

/**
 * Writes a member of a remote object and waits for the peer to acknowledge.
 * The member must be exposed as a field, setter or accessor.
 *
 * @param ref A netref (or a member of one, such as `root.settings`).
 * @param name The member to write.
 * @param value The new value; it travels like a call argument.
 * @returns Resolves once the peer has written it.
 * @throws {TypeError} If `ref` is not a netref.
 * @throws {AccessError} (rejection) If the member is not writable remotely.
 *
 * @example
 * ```ts
 * import { connect, setAttr } from "@netref/netref";
 * await using conn = await connect("localhost", 18811);
 * await setAttr(conn.root, "version", "2.0");
 * ```
 */
export function setAttr(
  ref: unknown,
  name: string,
  value: unknown,
): Promise<void> {
  const [base, path] = targetOf(stateOf(ref, "set a member"), [name]);
  return given(send(base, Op.SET, path, value)) as Promise<void>;
}

/**
 * The promise of a result handed to the caller, whose to handle it is; its
 * rejection carries the caller's frames as its stack.
 */
function given(result: PendingResult): Promise<unknown> {
  result.observed = true;
  return withCallerStack(result.promise);
}

/**
 * A result's `then`, `catch` or `finally`, as a netref hands it out: the
 * promise that carries the caller's stack is made when it is called (a
 * `then` only read, as a check for a promise, leaves nothing unhandled).
 */
function settleWith(
  result: PendingResult,
  key: "then" | "catch" | "finally",
): (...args: never[]) => Promise<unknown> {
  result.observed = true;
  const promise = result.promise;
  return (...args: never[]) =>
    (withCallerStack(promise)[key] as (...a: never[]) => Promise<unknown>)(
      ...args,
    );
}

/** One exposed member of a remote object, as `dir()` reports it. */
export interface MemberInfo {
  /** The member name. */
  name: string;
  /** `method`, `field` (read and write), `getter` (read only) or `setter` (write only). */
  kind: "method" | "field" | "getter" | "setter";
  /**
   * A method's parameter names, as its source declares them (`...rest` for
   * a rest parameter, `{a, b}` for a destructured one); absent where the
   * source does not show them, or the peer did not say.
   */
  params?: string[];
  /**
   * A method's arity (`Function.length`), given instead of `params` where
   * the source does not show the names (native or bound functions).
   */
  arity?: number;
}

/**
 * Lists the members of a remote object that the peer exposes (RPyC's remote
 * `dir()`).
 *
 * @param ref A netref, or a member of one.
 * @returns The exposed members.
 * @throws {TypeError} If `ref` is not a netref.
 *
 * @example
 * ```ts
 * import { connect, dir } from "@netref/netref";
 * await using conn = await connect("localhost", 18811);
 * console.log(await dir(conn.root)); // [{ name: "foo", kind: "method" }, ...]
 * ```
 */
export function dir(ref: unknown): Promise<MemberInfo[]> {
  const [base, path] = targetOf(stateOf(ref, "list members"), []);
  return given(send(base, Op.DIR, path, null)) as Promise<MemberInfo[]>;
}

/**
 * Releases a netref now instead of at garbage collection; same as disposing
 * it. Using it afterwards fails. Releasing twice does nothing.
 *
 * @param ref A netref received from the peer.
 * @throws {TypeError} If `ref` is not a netref.
 *
 * @example
 * ```ts
 * import { connect, release } from "@netref/netref";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connect<TestService>("localhost", 18811);
 * const counter = await conn.root.makeCounter();
 * release(counter);
 * ```
 */
export function release(ref: unknown): void {
  releaseState(stateOf(ref, "release"));
}

function releaseState(state: ProxyState): void {
  // The root is not counted; other refs give their count back. Members and
  // results hold no count of their own.
  if (state.mode === REF && state.entry !== null) {
    const proxy = state.entry.proxy.deref();
    if (proxy !== undefined) state.host.release(proxy);
  }
}

/**
 * A view of `ref` whose calls use `options` (timeout, abort signal).
 *
 * @param ref A netref, a member of one, or a call result.
 * @param options The call options.
 * @returns The same remote object, with those options.
 * @throws {TypeError} If `ref` is not a netref.
 *
 * @example Cancelling a slow call
 * ```ts
 * import { connect, withOptions } from "@netref/netref";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connect<TestService>("localhost", 18811);
 * const quick = withOptions(conn.root, { timeout: 500 });
 * await quick.foo(); // a TimeoutError if foo takes over 500 ms
 * ```
 */
export function withOptions<T>(ref: T, options: CallOptions): T {
  const state = stateOf(ref, "set call options");
  const merged = { ...state.options, ...options };
  const view: ProxyState = { ...state, options: merged, members: undefined };
  if (state.mode === PATH) {
    return make(
      {
        ...view,
        base: { ...state.base!, options: merged, members: undefined },
      },
      CALLABLE_TARGET,
    ) as T;
  }
  return make(
    view,
    state.mode === REF ? refTarget(state.callable) : CALLABLE_TARGET,
  ) as T;
}

/**
 * Whether a value is a netref proxy (a remote object, member or call result).
 *
 * @param value Any value.
 * @returns True for netref proxies.
 *
 * @example
 * ```ts
 * import { isNetref } from "./proxy.ts";
 * console.assert(!isNetref({}));
 * ```
 */
export function isNetref(value: unknown): boolean {
  return proxyState(value) !== undefined;
}
