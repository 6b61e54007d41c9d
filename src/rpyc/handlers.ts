/**
 * Serving the peer's requests, as RPyC's `_handle_*`: the handlers applied
 * to local objects. Every member access goes through the exposure policy
 * (`resolveMember` in policy.ts, which calls netref's `checkMember`);
 * iteration is answered for iterables (iteration.ts); requests netref does
 * not offer (pickle, context managers) are refused with a message naming
 * them.
 *
 * @module
 */

import { applyInCall, type IncomingCall, runInCall } from "../core/context.ts";
import { AccessError, ProtocolError } from "../errors.ts";
import {
  describe,
  exposedMembers,
  isClass,
  isPlainData,
  type MemberAccess,
  serviceName,
} from "../core/exposure.ts";
import { DUNDER, EXPOSED_PREFIX, pyType, resolveMember } from "./policy.ts";
import type { MemberInfo } from "../core/proxy.ts";
import { type ProxyState, proxyState } from "../core/proxy_state.ts";
import { relay } from "../core/send.ts";
import { Op } from "../protocol/constants.ts";
import { box, localObject, PyKwargs } from "./boxing.ts";
import {
  batchCount,
  bufferedItems,
  iterationCall,
  iterationMethods,
  iterationReleased,
} from "./iteration.ts";
import { bindKeywords } from "./keywords.ts";
import { pythonHosts } from "./netref.ts";
import {
  KeyIterator,
  mappingMethods,
  mappingOf,
  ReadOnlyDict,
} from "./mappings.ts";
import type { RpycHost } from "./protocol.ts";
import {
  bindMethod,
  type IdPack,
  parsePack,
  ROOT_INSTANCE_ID,
} from "./refs.ts";
import { type BrineValue, PyNotImplemented, PyTuple } from "./py_values.ts";
import { Handle, Label, Msg } from "./constants.ts";
import { dumpException, pythonError } from "./vinegar.ts";

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

/** Exposed methods read with GETATTR, bound: their keywords bind as declared. */
const boundMembers = new WeakMap<
  object,
  {
    readonly name: string;
    readonly access: MemberAccess;
    readonly owner: object;
    readonly member: string;
  }
>();

/** The arguments of a call to an exposed method, keywords bound as declared. */
function methodArgs(
  name: string,
  access: MemberAccess,
  args: unknown,
  kwargs: unknown,
): unknown[] {
  if (kwargs === undefined || (Array.isArray(kwargs) && kwargs.length === 0)) {
    return withKwargs(args, kwargs);
  }
  if (!Array.isArray(args) || !Array.isArray(kwargs)) {
    return withKwargs(args, kwargs); // Throws the message for the shape.
  }
  return bindKeywords(name, access, args, kwargs);
}

function refuse(what: string, pyName = "NotImplementedError"): never {
  throw pythonError(new Error(`${what} is not supported by netref`), pyName);
}

const hashes = new WeakMap<object, number>();
let nextHash = 1;

/** What interceptors see of an RPyC request that calls something. */
export interface RpycCallShape {
  /** 0 for the service's root, 1 for another object. */
  target: number;
  path: string[];
  args: unknown[];
}

/**
 * The call an RPyC request makes, for interceptors: CALL (on a method read
 * before, or a function) and CALLATTR. Other requests (attribute reads,
 * `dir`, comparisons...) are null: they pass no interceptor.
 *
 * @param host The connection.
 * @param handler The request's handler number.
 * @param args Its unboxed arguments.
 * @returns The call, or null.
 */
export function rpycCallOf(
  host: RpycHost,
  handler: number,
  args: unknown[],
): RpycCallShape | null {
  const [obj, a, b] = args;
  if (handler === Handle.CALL && typeof obj === "function") {
    const method = boundMembers.get(obj);
    return {
      target: method !== undefined && method.owner === host.localRoot ? 0 : 1,
      path: method === undefined ? [] : [method.member],
      args: Array.isArray(a) ? a : [],
    };
  }
  if (handler === Handle.CALLATTR && typeof a === "string") {
    return {
      target: obj === host.localRoot ? 0 : 1,
      path: [a.startsWith(EXPOSED_PREFIX) ? a.slice(EXPOSED_PREFIX.length) : a],
      args: Array.isArray(b) ? b : [],
    };
  }
  return null;
}

/**
 * Serves one request (every handler except DEL and CLOSE, which the
 * connection handles itself).
 *
 * @param call The request, as the current call of the user code it runs.
 * @returns The result to box into the reply (a promise is awaited first).
 * @throws {Error} Whatever the request raises; it is sent as an exception.
 */
export function serveRequest(
  host: RpycHost,
  call: IncomingCall,
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
    case Handle.GETATTR: {
      const view = mappingTarget(host, obj);
      if (view !== undefined) return view.method(a);
      return serviceMethod(host, obj, a) ?? getAttr(call, obj, a);
    }
    case Handle.SETATTR: {
      const member = resolveMember(obj, a, "write");
      runInCall(call, () => {
        (obj as Record<string, unknown>)[member] = b;
      });
      return null;
    }
    case Handle.CALL: {
      if (typeof obj !== "function") {
        throw new TypeError(`${pyType(obj)} is not callable`);
      }
      const method = boundMembers.get(obj);
      const callArgs = method === undefined
        ? withKwargs(a, b)
        : methodArgs(method.name, method.access, a, b);
      return applyInCall(
        call,
        obj as (...args: never[]) => unknown,
        undefined,
        callArgs,
      );
    }
    case Handle.CALLATTR: {
      const builtin = serviceMethod(host, obj, a);
      if (builtin !== undefined) return builtin();
      const view = obj instanceof KeyIterator ? obj : mappingTarget(host, obj);
      if (view !== undefined) return view.call(a, Array.isArray(b) ? b : []);
      const iteration = iterationCall(host, obj, a);
      if (iteration !== undefined) return iteration();
      const member = resolveMember(obj, a, "read");
      const access = isPlainData(obj as object)
        ? undefined
        : exposedMembers(obj as object).get(member);
      const callArgs = access === undefined
        ? withKwargs(b, c)
        : methodArgs(`${describe(obj as object)}.${member}`, access, b, c);
      const fn = runInCall(
        call,
        () => (obj as Record<string, unknown>)[member],
      );
      if (typeof fn !== "function") {
        throw new TypeError(`Cannot call '${member}': it is not a function`);
      }
      return applyInCall(
        call,
        fn as (...args: never[]) => unknown,
        obj,
        callArgs,
      );
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
    case Handle.BUFFITER: {
      const count = batchCount(a);
      const view = obj instanceof ReadOnlyDict ? obj.call("__iter__", []) : obj;
      return view instanceof KeyIterator
        ? view.take(count)
        : bufferedItems(host, obj, count);
    }
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

const SERVICE_METHODS = new Set(["get_service_name", "get_service_aliases"]);

/**
 * RPyC's `get_service_name()` and `get_service_aliases()` of the root, which
 * RPyC clients, servers and registries call: the `@service` name upper-cased
 * (RPyC compares names without case). Undefined for any other member, or
 * when the root exposes a member of that name itself.
 */
function serviceMethod(
  host: RpycHost,
  obj: unknown,
  name: unknown,
): (() => string | PyTuple) | undefined {
  if (
    obj !== host.localRoot || typeof name !== "string" ||
    typeof obj !== "object" || obj === null
  ) return undefined;
  const bare = name.startsWith(EXPOSED_PREFIX)
    ? name.slice(EXPOSED_PREFIX.length)
    : name;
  if (
    !SERVICE_METHODS.has(bare) || exposedMembers(obj).has(bare) ||
    (isPlainData(obj) && Object.hasOwn(obj, bare))
  ) return undefined;
  const upper = serviceName(obj).toUpperCase();
  return bare === "get_service_name"
    ? function get_service_name() {
      return upper;
    }
    : function get_service_aliases() {
      return PyTuple.of(upper);
    };
}

/**
 * The read-only dict a request names: plain objects and Maps are only ever
 * sent to Python as such (and arrive back as themselves).
 */
function mappingTarget(
  host: RpycHost,
  obj: unknown,
): ReadOnlyDict | undefined {
  // The service root is served as itself even when it is a plain object.
  return typeof obj === "object" && obj !== null && obj !== host.localRoot &&
      proxyState(obj) === undefined
    ? mappingOf(obj)
    : undefined;
}

function getAttr(call: IncomingCall, obj: unknown, name: unknown): unknown {
  // Python reads __doc__ of netrefs for help(); there is none to give.
  if (name === "__doc__") return null;
  const member = resolveMember(obj, name, "read");
  const owner = obj as Record<string, unknown>;
  const value = runInCall(call, () => owner[member]);
  // A method read on its own stays bound to its object, as in Python; a
  // netref is forwarded as itself.
  if (
    typeof value !== "function" || isPlainData(owner) ||
    proxyState(value) !== undefined || isClass(value)
  ) return value;
  const bound = bindMethod(value as (...args: unknown[]) => unknown, owner);
  const access = exposedMembers(owner).get(member);
  if (access !== undefined) {
    boundMembers.set(bound, {
      name: `${describe(owner)}.${member}`,
      access,
      owner,
      member,
    });
  }
  return bound;
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
function inspect(host: RpycHost, pack: unknown): PyTuple {
  if (!Array.isArray(pack)) {
    throw new TypeError("Cannot inspect: expected an id pack");
  }
  const object = localObject(
    host,
    parsePack(PyTuple.of(...(pack as BrineValue[]))),
  );
  const offered = mappingMethods(object) ?? iterationMethods(object);
  if (offered !== undefined) return offered;
  const methods: PyTuple[] = [];
  if (typeof object === "function") methods.push(PyTuple.of("__call__", null));
  else if (!isPlainData(object)) {
    for (const [name, access] of exposedMembers(object)) {
      if (access.method) methods.push(PyTuple.of(name, null));
    }
  }
  return new PyTuple(methods);
}

/**
 * RPyC's DEL, `(obj, count=1)`: the peer gives back `count` references to
 * one of ours.
 *
 * @returns Null, or the error to answer with.
 * @throws {ProtocolError} If the arguments are not DEL's.
 */
export function handleDel(host: RpycHost, boxed: BrineValue): Error | null {
  const { pack, count } = parseDel(boxed);
  if (pack.instanceId === ROOT_INSTANCE_ID) return null;
  const object = host.exports.get(pack.instanceId);
  if (host.exports.release(pack.instanceId, count)) {
    if (
      object !== undefined && host.exports.get(pack.instanceId) === undefined
    ) {
      iterationReleased(host, object);
    }
    return null;
  }
  return pythonError(
    new ReferenceError(
      `Cannot release object ${pack.instanceId}: it is not exported`,
    ),
    "KeyError",
  );
}

/**
 * The answer to a request: REPLY with the boxed result, or EXCEPTION with
 * the error (or with the error of boxing the result).
 */
export function answerOf(
  host: RpycHost,
  ok: boolean,
  value: unknown,
  includeStack: boolean,
): [Msg, BrineValue] {
  if (ok) {
    try {
      return [Msg.REPLY, box(host, value, true)];
    } catch (error) {
      value = error;
    }
  }
  try {
    return [Msg.EXCEPTION, dumpException(value, includeStack)];
  } catch (dumpError) {
    const error = new Error(
      "The call failed, and its error could not be sent",
      { cause: dumpError },
    );
    return [Msg.EXCEPTION, dumpException(error, false)];
  }
}

/** Reads DEL's `(local_ref, count)`, where the ref is one of ours. */
function parseDel(boxed: BrineValue): { pack: IdPack; count: number } {
  const items = boxed instanceof PyTuple && boxed.items[0] === Label.TUPLE &&
      boxed.items[1] instanceof PyTuple
    ? boxed.items[1].items
    : [];
  const [ref, countBox] = items;
  let count: unknown = 1;
  if (countBox instanceof PyTuple && countBox.items[0] === Label.VALUE) {
    count = countBox.items[1];
  }
  if (
    items.length < 1 || items.length > 2 || !(ref instanceof PyTuple) ||
    ref.items[0] !== Label.LOCAL_REF || typeof count !== "number" ||
    !Number.isSafeInteger(count) || count < 1
  ) {
    throw new ProtocolError(
      "Cannot handle RPyC DEL: expected (local_ref, count >= 1)",
    );
  }
  return { pack: parsePack(ref.items[1]), count };
}
