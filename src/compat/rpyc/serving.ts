/**
 * Serving an RPyC peer: the request handlers (`HANDLE_*`) applied to local
 * objects. Every member access goes through the exposure policy
 * (`resolveMember` in policy.ts, which calls netref's `checkMember`);
 * requests netref does not offer (pickle, iteration, context managers) are
 * refused with a message naming them.
 *
 * @example Reading a member as Python's GETATTR does
 * ```ts
 * import { serveRequest } from "./serving.ts";
 * import { exposed } from "../../core/exposure.ts";
 * import { RpycExports } from "./refs.ts";
 * class A { @exposed version = "1.0"; }
 * const root = new A();
 * const host = { localRoot: root, exports: new RpycExports(), invoke: <R>(fn: () => R) => fn() };
 * console.assert(serveRequest(host, 4, [root, "version"]) === "1.0");
 * ```
 *
 * @module
 */

import { AccessError } from "../../errors.ts";
import { describe, exposedMembers, isPlainData } from "../../core/exposure.ts";
import { DUNDER, EXPOSED_PREFIX, pyType, resolveMember } from "./policy.ts";
import {
  type MemberInfo,
  type ProxyState,
  proxyState,
  relay,
} from "../../core/proxy.ts";
import { Op } from "../../protocol/constants.ts";
import { localObject, PyKwargs } from "./boxing.ts";
import { pythonHosts } from "./remote.ts";
import { bindMethod, parsePack, type RpycExports } from "./refs.ts";
import { type BrineValue, PyNotImplemented, PyTuple } from "./brine.ts";
import { Handle } from "./constants.ts";
import { pythonError } from "./vinegar.ts";

/**
 * What the handlers need from their connection.
 *
 * @example
 * ```ts
 * import type { ServingHost } from "./serving.ts";
 * import { RpycExports } from "./refs.ts";
 * const host: ServingHost = {
 *   localRoot: null,
 *   exports: new RpycExports(),
 *   invoke: (fn) => fn(),
 * };
 * ```
 */
export interface ServingHost {
  /** The local root object, or null when this side serves none. */
  readonly localRoot: object | null;
  /** The local objects the peer holds. */
  readonly exports: RpycExports;
  /** Runs user code as the current call (for `currentCall()`). */
  invoke<R>(fn: () => R): R;
}

/** Python keyword arguments, `((name, value), ...)`, as one options object. */
function withKwargs(args: unknown, kwargs: unknown): unknown[] {
  if (!Array.isArray(args)) {
    throw new TypeError("Cannot call: the arguments must be a tuple");
  }
  if (kwargs === undefined || (Array.isArray(kwargs) && kwargs.length === 0)) {
    return args;
  }
  if (!Array.isArray(kwargs)) {
    throw new TypeError("Cannot call: keyword arguments must be a tuple");
  }
  const options: Record<string, unknown> = {};
  for (const pair of kwargs) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string"
    ) {
      throw new TypeError(
        "Cannot call: keyword arguments must be (name, value) pairs",
      );
    }
    Object.defineProperty(options, pair[0], {
      value: pair[1],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return [...args, options];
}

function refuse(what: string, pyName = "NotImplementedError"): never {
  throw pythonError(new Error(`${what} is not supported by netref`), pyName);
}

const hashes = new WeakMap<object, number>();
let nextHash = 1;

/**
 * Serves one request (every handler except DEL and CLOSE, which the
 * connection handles itself).
 *
 * @param host The connection.
 * @param handler The `HANDLE_*` number.
 * @param args The unboxed arguments.
 * @returns The result to box into the reply (a promise is awaited first).
 * @throws {Error} Whatever the request raises; it is sent as an exception.
 *
 * @example
 * ```ts ignore
 * import { serveRequest } from "./serving.ts";
 * const result = serveRequest(host, 4, [root, "foo"]); // GETATTR
 * ```
 */
export function serveRequest(
  host: ServingHost,
  handler: number,
  args: unknown[],
): unknown {
  const [obj, a, b, c] = args;
  const forwarded = proxyState(obj);
  if (forwarded !== undefined) {
    const relayed = relayRequest(forwarded, handler, a, b, c);
    if (relayed !== undefined) return relayed;
  }
  switch (handler) {
    case Handle.PING:
      return obj;
    case Handle.GETROOT:
      if (host.localRoot === null) {
        throw new ReferenceError("Cannot get the root: this side serves none");
      }
      return host.localRoot;
    case Handle.GETATTR:
      return getAttr(host, obj, a);
    case Handle.SETATTR: {
      const member = resolveMember(obj, a, "write");
      host.invoke(() => {
        (obj as Record<string, unknown>)[member] = b;
      });
      return null;
    }
    case Handle.CALL: {
      if (typeof obj !== "function") {
        throw new TypeError(`${pyType(obj)} is not callable`);
      }
      const callArgs = withKwargs(a, b);
      return host.invoke(() => Reflect.apply(obj, undefined, callArgs));
    }
    case Handle.CALLATTR: {
      const member = resolveMember(obj, a, "read");
      const callArgs = withKwargs(b, c);
      return host.invoke(() => {
        const fn = (obj as Record<string, unknown>)[member];
        if (typeof fn !== "function") {
          throw new TypeError(`Cannot call '${member}': it is not a function`);
        }
        return Reflect.apply(fn, obj, callArgs);
      });
    }
    case Handle.REPR:
    case Handle.STR:
      return describeObject(obj);
    case Handle.CMP: {
      const op = b ?? "__cmp__";
      if (op === "__eq__") return obj === a;
      if (op === "__ne__") return obj !== a;
      return PyNotImplemented;
    }
    case Handle.HASH: {
      if (typeof obj !== "object" && typeof obj !== "function") return 0;
      let hash = hashes.get(obj as object);
      if (hash === undefined) hashes.set(obj as object, hash = nextHash++);
      return hash;
    }
    case Handle.DIR:
      return memberNames(obj);
    case Handle.INSPECT:
      return inspect(host, obj);
    case Handle.DELATTR:
      throw new AccessError(
        `Cannot delete '${
          String(a)
        }': deleting members is not supported remotely`,
      );
    case Handle.PICKLE:
      return refuse("Pickling (HANDLE_PICKLE)", "ValueError");
    case Handle.BUFFITER:
      return refuse("Iterating a netref (HANDLE_BUFFITER)");
    case Handle.OLDSLICING:
      return refuse("Python 2 slicing (HANDLE_OLDSLICING)");
    case Handle.CTXEXIT:
      return refuse("Using a netref as a context manager (HANDLE_CTXEXIT)");
    case Handle.INSTANCECHECK:
      return refuse("isinstance() on a netref class (HANDLE_INSTANCECHECK)");
    default:
      throw pythonError(
        new RangeError(`Cannot serve request: unknown handler ${handler}`),
        "KeyError",
      );
  }
}

/**
 * A request on another connection's netref, forwarded to this peer: relayed
 * to that connection as the netref operation it stands for. Undefined for
 * requests answered here (repr, hash, comparison, `__doc__`).
 */
function relayRequest(
  state: ProxyState,
  handler: number,
  a: unknown,
  b: unknown,
  c: unknown,
): Promise<unknown> | undefined {
  switch (handler) {
    case Handle.GETATTR:
      if (a === "__doc__") return undefined;
      return relay(state, Op.GET, [relayedName(a)], null, undefined);
    case Handle.SETATTR:
      return relay(state, Op.SET, [relayedName(a)], b, undefined);
    case Handle.CALL:
      return relay(state, Op.CALL, [], relayedArgs(state, a, b), undefined);
    case Handle.CALLATTR:
      return relay(
        state,
        Op.CALL,
        [relayedName(a)],
        relayedArgs(state, b, c),
        undefined,
      );
    case Handle.DIR:
      return relay(state, Op.DIR, [], null, undefined).then((members) =>
        new PyTuple(
          (members as MemberInfo[]).map((member) => member.name).sort(),
        )
      );
    default:
      return undefined;
  }
}

/**
 * A member name from Python, for another connection: dunder names stay
 * unreachable, and the `exposed_` prefix goes (a Python peer there tries
 * both).
 */
function relayedName(name: unknown): string {
  if (typeof name !== "string") {
    throw new TypeError("Cannot reach a member: its name must be a str");
  }
  if (DUNDER.test(name)) {
    throw new AccessError(
      `Cannot access '${name}' of a forwarded netref: dunder names are never reachable remotely`,
    );
  }
  const bare = name.startsWith(EXPOSED_PREFIX)
    ? name.slice(EXPOSED_PREFIX.length)
    : name;
  return bare === "" ? name : bare;
}

/** Python's arguments for a relayed call: kwargs stay kwargs for Python. */
function relayedArgs(state: ProxyState, args: unknown, kwargs: unknown) {
  if (
    !pythonHosts.has(state.host) || !Array.isArray(kwargs) ||
    kwargs.length === 0
  ) {
    return withKwargs(args, kwargs);
  }
  const named = withKwargs([], kwargs)[0] as Record<string, unknown>;
  return [...withKwargs(args, []), new PyKwargs(named)];
}

function getAttr(host: ServingHost, obj: unknown, name: unknown): unknown {
  // Python reads __doc__ of netrefs for help(); there is none to give.
  if (name === "__doc__") return null;
  const member = resolveMember(obj, name, "read");
  const owner = obj as Record<string, unknown>;
  const value = host.invoke(() => owner[member]);
  // A method read on its own stays bound to its object, as in Python; a
  // netref is forwarded as itself.
  return typeof value === "function" && !isPlainData(owner) &&
      proxyState(value) === undefined
    ? bindMethod(value as (...args: unknown[]) => unknown, owner)
    : value;
}

function describeObject(obj: unknown): string {
  // A netref describes itself locally; its members would be remote.
  if (proxyState(obj) !== undefined) return `<forwarded ${String(obj)}>`;
  if (typeof obj === "function") {
    return `<netref function ${obj.name || "anonymous"}>`;
  }
  if (typeof obj === "object" && obj !== null) {
    return `<netref ${describe(obj)} object>`;
  }
  return String(obj);
}

/** The names `dir()` shows: exposed members, or a plain object's keys. */
function memberNames(obj: unknown): PyTuple {
  if (typeof obj !== "object" || obj === null) return PyTuple.of();
  const names = isPlainData(obj)
    ? Object.keys(obj).filter((name) => !DUNDER.test(name))
    : [...exposedMembers(obj).keys()];
  return new PyTuple(names.sort());
}

/** RPyC's INSPECT: `((name, doc), ...)` of the object's remote methods. */
function inspect(host: ServingHost, pack: unknown): PyTuple {
  if (!Array.isArray(pack)) {
    throw new TypeError("Cannot inspect: expected an id pack");
  }
  const object = localObject(
    host,
    parsePack(PyTuple.of(...(pack as BrineValue[]))),
  );
  const methods: PyTuple[] = [];
  if (typeof object === "function") methods.push(PyTuple.of("__call__", null));
  else if (!isPlainData(object)) {
    for (const [name, access] of exposedMembers(object)) {
      if (access.method) methods.push(PyTuple.of(name, null));
    }
  }
  return new PyTuple(methods);
}
