/**
 * Netref proxies: what stands locally for a remote object, a member path on
 * one, or the pending result of a call. One handler defines every trap, and
 * every remote operation goes out through the connection's `send`.
 *
 * @module
 */

import { Op } from "../protocol/constants.ts";
import { ConnectionClosedError, errorMessage } from "../errors.ts";
import {
  type FailureSink,
  isThenable,
  thenableError,
  watchedResult,
} from "./pending_call.ts";
import type { ForwardSource, ImportEntry } from "./refs.ts";
import type { CallOptions } from "./types.ts";

/** A request on its way, which later requests may be pipelined on. */
export interface PendingResult {
  /** Settles with the decoded result. */
  readonly promise: Promise<unknown>;
  /**
   * The target naming this result on the peer, if a request may still be
   * pipelined on it (the peer is then told to hold the result); else null.
   */
  pipelineTarget(): number | null;
  /**
   * Set once something asked for the result (`then`, `catch`, `finally`, a
   * call pipelined on it): its failure is then theirs to handle. A failure
   * nobody asked for is logged instead of going unhandled.
   */
  observed: boolean;
}

/**
 * What proxies need from their connection; `log` reports calls that failed
 * while nobody waited for them.
 */
export interface ProxyHost extends ForwardSource, FailureSink {
  /**
   * Sends an operation on `target` (a ref id, 0 for root, or a negated
   * pending request id).
   */
  request(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
  ): PendingResult;
  /** Gives a ref proxy's count back to the peer now. */
  release(proxy: object): void;
  /** Describes the connection's peer for messages and inspection. */
  readonly label: string;
  /** Whether the connection is closed. */
  readonly isClosed: boolean;
  /** The class name of a remote object, where the wire carries one. */
  refName?(target: number): string | undefined;
}

/**
 * Fails for a released netref. On a closed connection it passes, so that
 * the call itself rejects with the reason the connection closed.
 */
export function checkUsable(entry: ImportEntry | null, host: ProxyHost): void {
  if (entry !== null && entry.released && !host.isClosed) {
    throw new ReferenceError(
      `Cannot use netref #${entry.id} of ${host.label}: it was released`,
    );
  }
}

const REF = 0;
/** Member proxies cached per remote object, at most. */
const MAX_CACHED_MEMBERS = 64;
const PATH = 1;
const RESULT = 2;

/** The state behind one proxy. */
export interface ProxyState {
  readonly host: ProxyHost;
  readonly mode: typeof REF | typeof PATH | typeof RESULT;
  /** REF: the ref id (0 for the root). */
  readonly target: number;
  /** REF: the import entry (null for the root). */
  readonly entry: ImportEntry | null;
  /** REF: whether it stands for a function. */
  readonly callable: boolean;
  /**
   * PATH: the REF or RESULT state the path starts from. RESULT: what was
   * called, for inspection.
   */
  readonly base: ProxyState | null;
  /** PATH: member names from the base. */
  readonly path: readonly string[];
  /** RESULT: the call whose result this stands for. */
  readonly result: PendingResult | null;
  readonly options: CallOptions | undefined;
  /** REF: member proxies made so far, by name, reused for `ref.name`. */
  members?: Map<string, object>;
}

// Answered by every proxy's `get` trap: how a proxy is told from other values.
const STATE = Symbol("netref.state");

const inspectKey = Symbol.for("Deno.customInspect");
const nodeInspectKey = Symbol.for("nodejs.util.inspect.custom");

/**
 * Deno's and Node's `inspect` look through a proxy to its target, and call
 * the target's `nodejs.util.inspect.custom` with the proxy as `this`: every
 * target carries it, so `console.log(ref)` describes the netref and never
 * reaches the peer. (Deno.customInspect is called with the target as `this`,
 * so it could not tell proxies that share one.)
 */
function inspectable<T extends object>(target: T): T {
  Object.defineProperty(target, nodeInspectKey, {
    value: describeThis,
    configurable: true,
  });
  return target;
}

// Path proxies share one callable target, and result proxies one object
// target (a call's result is promise-like, `typeof` "object"): they report no
// own properties, so no proxy invariant ties them to their target (its one
// property, for inspection, is configurable).
const CALLABLE_TARGET = inspectable(() => {});
const RESULT_TARGET = inspectable({});

/**
 * The state of a netref proxy, or undefined for any other value.
 *
 * @param value Any value.
 * @returns The proxy's state.
 */
export function proxyState(value: unknown): ProxyState | undefined {
  return (typeof value === "function" || typeof value === "object") &&
      value !== null
    ? (value as { [STATE]?: ProxyState })[STATE]
    : undefined;
}

function make(state: ProxyState, target: object): object {
  return new Proxy(target, new NetrefHandler(state));
}

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

/**
 * Sends `op` on the member `path` of the object `base` stands for. On a
 * result that can no longer be pipelined, waits for it and applies the
 * operation to the value received.
 */
function send(
  base: ProxyState,
  op: Op,
  path: readonly string[],
  payload: unknown,
): PendingResult {
  const host = base.host;
  if (base.mode === REF) {
    checkUsable(base.entry, host);
    return host.request(base.target, op, path, payload, base.options);
  }
  const result = base.result!;
  const target = result.pipelineTarget();
  if (target !== null) {
    return host.request(target, op, path, payload, base.options);
  }
  // The base's failure reaches the caller through this one.
  result.observed = true;
  return watchedResult(
    result.promise.then((value) =>
      applyTo(host, value, op, path, payload, base.options)
    ),
    host,
    nameOf(base) + (path.length > 0 ? "." + path.join(".") : ""),
  );
}

/** Applies an operation to a value already received (data or a netref). */
function applyTo(
  host: ProxyHost,
  value: unknown,
  op: Op,
  path: readonly string[],
  payload: unknown,
  options: CallOptions | undefined,
): Promise<unknown> {
  const state = proxyState(value);
  if (state !== undefined && state.mode === REF) {
    const ref = options === undefined ? state : { ...state, options };
    return send(ref, op, path, payload).promise;
  }
  let owner = value as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    if (owner === null || owner === undefined) break;
    owner = owner[path[i]] as Record<string, unknown>;
  }
  if (path.length > 0 && (owner === null || owner === undefined)) {
    return Promise.reject(
      new TypeError(`Cannot read '${path.join(".")}' of ${String(owner)}`),
    );
  }
  const last = path[path.length - 1];
  const member = path.length === 0 ? value : owner[last];
  switch (op) {
    case Op.GET:
      // Data the peer sent: a `then` method in it is never called.
      return isThenable(member)
        ? Promise.reject(
          thenableError(`'${path.join(".") || "the value"}'`, host),
        )
        : Promise.resolve(member);
    case Op.CALL:
      if (typeof member !== "function") {
        return Promise.reject(
          new TypeError(
            `Cannot call '${path.join(".")}': it is not a function`,
          ),
        );
      }
      return Promise.resolve(
        Reflect.apply(member, owner, payload as unknown[]),
      );
    default: {
      const ownerState = proxyState(owner);
      if (ownerState !== undefined) {
        return send(ownerState, op, [last], payload).promise;
      }
      return Promise.reject(
        new TypeError(
          `Cannot ${op === Op.SET ? "set" : "list"} '${
            path.join(".")
          }': the value was received by copy, not by reference`,
        ),
      );
    }
  }
}

/**
 * Relays an operation that a peer sent on a netref this side forwarded to it
 * (RPyC's behaviour: the forwarded proxy is exported, and what the peer does
 * with the export is done with the proxy) to the connection the netref came
 * from. Released proxies still relay: the export holds their count.
 *
 * @param state The forwarded proxy's state.
 * @param op The operation.
 * @param path Member names from the proxy.
 * @param payload SET: the value; CALL: the arguments.
 * @param signal Aborts the relayed call (the peer cancelled its own).
 * @returns The result, as received from the netref's connection.
 */
export function relay(
  state: ProxyState,
  op: Op,
  path: readonly string[],
  payload: unknown,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const [base, full] = targetOf(state, path);
  const host = base.host;
  if (host.isClosed) return Promise.reject(sourceClosed(state, null));
  const options = signal === undefined
    ? base.options
    : { ...base.options, signal };
  const sent = base.mode === REF
    ? host.request(base.target, op, full, payload, options)
    : send({ ...base, options }, op, full, payload);
  // The relay hands the outcome on to the forwarding peer: its failure is
  // handled there, not logged as a call nobody awaited.
  sent.observed = true;
  return sent.promise.catch((error) => {
    throw error instanceof ConnectionClosedError && host.isClosed
      ? sourceClosed(state, error)
      : error;
  });
}

function sourceClosed(
  state: ProxyState,
  cause: unknown,
): ConnectionClosedError {
  return new ConnectionClosedError(
    `Cannot reach ${describeState(state)}, forwarded through this side: ` +
      `the connection to ${state.host.label} it came from is closed` +
      (cause === null ? "" : ` (${errorMessage(cause)})`),
    cause === null ? undefined : { cause },
  );
}

function notAllowed(what: string): never {
  throw new TypeError(
    `Cannot ${what} on a netref: remote operations are async; use \`await setAttr(ref, name, value)\` to write a remote member`,
  );
}

/** How a netref is named in descriptions: `root`, `#3`, `root.foo()`, ... */
function nameOf(state: ProxyState): string {
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
function describeState(state: ProxyState): string {
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
function localName(key: string): unknown {
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

function isLocalName(key: string): boolean {
  return key === "toJSON" || key === "toString" || key === "valueOf" ||
    key === "constructor";
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
        const result = send(state.base!, Op.GET, state.path, null);
        result.observed = true;
        const promise = result.promise;
        return promise.then.bind(promise);
      }
      return pathProxy(state.base!, [...state.path, key]);
    }
    if (key === "then" || key === "catch" || key === "finally") {
      const result = state.result!;
      result.observed = true;
      const promise = result.promise;
      return promise[key].bind(promise);
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
      return () => {
        if (state.mode === REF && state.entry !== null) {
          // The root is not counted; other refs give their count back.
          const proxy = state.entry.proxy.deref();
          if (proxy !== undefined) state.host.release(proxy);
        }
      };
    case Symbol.toPrimitive:
    case inspectKey:
    case nodeInspectKey:
      return () => describeState(state);
    case Symbol.toStringTag:
      return "Netref";
    default:
      // Symbol.iterator and Symbol.asyncIterator among them: a netref is
      // not iterable (yet).
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

/** Splits a proxy into the state to send on and the member path. */
function targetOf(
  state: ProxyState,
  more: readonly string[],
): [ProxyState, string[]] {
  return state.mode === PATH
    ? [state.base!, [...state.path, ...more]]
    : [state, [...more]];
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

/** The promise of a result handed to the caller, whose to handle it is. */
function given(result: PendingResult): Promise<unknown> {
  result.observed = true;
  return result.promise;
}

/** One exposed member of a remote object, as `dir()` reports it. */
export interface MemberInfo {
  /** The member name. */
  name: string;
  /** `method`, `field` (read and write), `getter` (read only) or `setter` (write only). */
  kind: "method" | "field" | "getter" | "setter";
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
  const state = stateOf(ref, "release");
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
