/**
 * RPyC boxing: how TypeScript values travel inside RPyC requests and replies
 * (`rpyc/core/protocol.py`, `_box` and `_unbox`). Every value travels as
 * `(label, value)`: by value when brine can carry it, as a tuple of boxed
 * items, or by reference as an id pack `(name_pack, class_id, instance_id)`.
 *
 * | TypeScript                                      | Python                          |
 * | ----------------------------------------------- | ------------------------------- |
 * | `null`, `undefined`                             | `None`                          |
 * | booleans, strings, `Uint8Array`, bigints        | `bool`, `str`, `bytes`, `int`   |
 * | numbers                                         | `int` if a safe integer, else `float` |
 * | arrays                                          | `tuple`                         |
 * | plain objects, `Map`                            | in replies, a read-only dict netref (mappings.ts); else a tuple of `(key, value)` pairs |
 * | `Set`                                           | `frozenset` (or a tuple, holding references) |
 * | `Date`                                          | ISO 8601 `str`                  |
 * | iterables: generators, `Symbol.asyncIterator`   | a netref Python iterates (iteration.ts) |
 * | functions, class instances, anything else       | a netref                        |
 *
 * From Python: tuples arrive as arrays, frozensets as `Set`, floats as
 * numbers, and everything brine cannot carry (lists, dicts, objects) as
 * netrefs (lists, sets and dicts among a handler's arguments are then
 * copied: see containers.ts).
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { isPlainData } from "../core/exposure.ts";
import { proxyState } from "../core/proxy_state.ts";
import { dumpable } from "./brine.ts";
import type { RpycHost } from "./protocol.ts";
import { type BrineValue, PyFloat, PyFrozenSet, PyTuple } from "./py_values.ts";
import { Label } from "./constants.ts";
import { type IdPack, parsePack, refPack, ROOT_INSTANCE_ID } from "./refs.ts";
import { pythonError } from "./vinegar.ts";
import { mappingOf, PyPair, ReadOnlyDict } from "./mappings.ts";
import { isServedIterable } from "./iteration.ts";

/** Deepest nesting of a value sent by copy; deeper is most likely a cycle. */
const MAX_DEPTH = 64;

/**
 * Keyword arguments for a call into Python: pass `kwargs({...})` as the last
 * argument of a call on a netref of an RPyC connection.
 *
 * @example
 * ```ts
 * import { PyKwargs } from "./boxing.ts";
 * console.assert(new PyKwargs({ b: 2 }).values.b === 2);
 * ```
 */
export class PyKwargs {
  /** The keyword arguments, by name. */
  readonly values: Readonly<Record<string, unknown>>;

  /**
   * Wraps keyword arguments.
   *
   * @param values Name to value.
   * @throws {TypeError} If `values` is not an object.
   */
  constructor(values: Record<string, unknown>) {
    if (typeof values !== "object" || values === null) {
      throw new TypeError("Cannot make kwargs: expected an object of names");
    }
    this.values = Object.freeze({ ...values });
    Object.freeze(this);
  }
}

/**
 * Keyword arguments for a call into Python, as the last argument:
 * `await root.connect("db", kwargs({ timeout: 5 }))` calls
 * `connect("db", timeout=5)`.
 *
 * @param values Name to value.
 * @returns The marker to pass as the last argument.
 * @throws {TypeError} If `values` is not an object.
 *
 * @example
 * ```ts
 * import { kwargs } from "./boxing.ts";
 * const options = kwargs({ timeout: 5 });
 * console.assert(options.values.timeout === 5);
 * ```
 */
export function kwargs(values: Record<string, unknown>): PyKwargs {
  return new PyKwargs(values);
}

function valueBox(value: BrineValue): PyTuple {
  return PyTuple.of(Label.VALUE, value);
}

/**
 * Boxes a value for the peer. References exported on the way are taken back
 * if boxing fails. With `mappings` (for replies to Python), plain objects
 * and Maps go as read-only dict-like netrefs (mappings.ts), not as pairs.
 *
 * @throws {TypeError} For symbols and pending netrefs.
 * @throws {RangeError} For values nested deeper than 64 levels.
 */
export function box(
  host: RpycHost,
  value: unknown,
  mappings = false,
): PyTuple {
  const exported: number[] = [];
  try {
    return boxValue(host, value, 0, exported, mappings);
  } catch (error) {
    for (const id of exported) host.exports.release(id, 1);
    throw error;
  }
}

function boxValue(
  host: RpycHost,
  value: unknown,
  depth: number,
  exported: number[],
  mappings: boolean,
): PyTuple {
  switch (typeof value) {
    case "undefined":
      return valueBox(null);
    case "boolean":
    case "number":
      return valueBox(value);
    case "string":
      if (!value.isWellFormed()) {
        throw new TypeError(
          "Cannot send string: it has a lone surrogate, which UTF-8 cannot carry",
        );
      }
      return valueBox(value);
    case "bigint":
      if (!dumpable(value)) {
        throw new RangeError(
          "Cannot send bigint: Python converts ints of at most 4300 digits",
        );
      }
      return valueBox(value);
    case "symbol":
      throw new TypeError(
        `Cannot send ${String(value)}: symbols do not travel`,
      );
  }
  if (value === null) return valueBox(null);
  const object = value as object;
  if (depth > MAX_DEPTH) {
    throw new RangeError(
      `Cannot send value: it nests deeper than ${MAX_DEPTH} levels (is it cyclic?)`,
    );
  }
  if (object === host.localRoot) {
    return PyTuple.of(Label.REMOTE_REF, refPack(object, ROOT_INSTANCE_ID));
  }
  const own = host.ownPack(object);
  if (own !== undefined) return PyTuple.of(Label.LOCAL_REF, own);
  const forwarded = proxyState(object);
  if (forwarded !== undefined) {
    // Mode 0: a proxy of a remote object itself, not a member or result.
    if (forwarded.mode !== 0) {
      throw new TypeError(
        "Cannot send a netref member or call result that is still pending: await it first",
      );
    }
    // Another connection's netref: exported as itself, and what the peer
    // does with it is relayed to its connection (see serving.ts).
    const id = host.exports.export(object, forwarded.host);
    exported.push(id);
    return PyTuple.of(Label.REMOTE_REF, refPack(object, id));
  }
  if (typeof object !== "function") {
    if (object instanceof Uint8Array) return valueBox(object);
    if (object instanceof Date) return valueBox(dateText(object));
    if (object instanceof PyPair) {
      const pair = [object.key, object.value];
      return boxItems(host, pair, depth, exported, false, mappings);
    }
    const view = mappings ? mappingOf(object) : undefined;
    if (view !== undefined) {
      const id = host.exports.export(view);
      exported.push(id);
      return PyTuple.of(Label.REMOTE_REF, refPack(view, id));
    }
    const iterable = isPlainData(object) && !Array.isArray(object) &&
      isServedIterable(object);
    if (
      !iterable &&
      (Array.isArray(object) || isPlainData(object) || object instanceof Map)
    ) {
      const entries = Array.isArray(object)
        ? object
        : object instanceof Map
        ? [...object]
        : Object.entries(object);
      return boxItems(host, entries, depth, exported, false, mappings);
    }
    if (object instanceof Set) {
      return boxItems(host, [...object], depth, exported, true, mappings);
    }
    if (dumpable(object)) return valueBox(object);
  }
  const id = host.exports.export(object);
  exported.push(id);
  return PyTuple.of(Label.REMOTE_REF, refPack(object, id));
}

function boxItems(
  host: RpycHost,
  items: readonly unknown[],
  depth: number,
  exported: number[],
  asSet: boolean,
  mappings: boolean,
): PyTuple {
  const boxed: PyTuple[] = new Array(items.length);
  let byValue = true;
  for (let i = 0; i < items.length; i++) {
    boxed[i] = boxValue(host, items[i], depth + 1, exported, mappings);
    if (boxed[i].items[0] !== Label.VALUE) byValue = false;
  }
  if (!byValue) return PyTuple.of(Label.TUPLE, new PyTuple(boxed));
  const values = boxed.map((b) => b.items[1]);
  return valueBox(asSet ? new PyFrozenSet(values) : new PyTuple(values));
}

function dateText(date: Date): string {
  return Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString();
}

/**
 * Unboxes a value from the peer: values are converted, references to the
 * peer's objects become netrefs, and references to ours become the objects.
 *
 * @throws {ProtocolError} If `boxed` is malformed.
 * @throws {ReferenceError} (as Python's KeyError) For an unknown local ref.
 */
export function unbox(host: RpycHost, boxed: BrineValue): unknown {
  return unboxValue(host, boxed, 0);
}

function unboxValue(
  host: RpycHost,
  boxed: BrineValue,
  depth: number,
): unknown {
  if (!(boxed instanceof PyTuple) || boxed.length !== 2) {
    throw new ProtocolError(
      "Cannot unbox RPyC value: expected a (label, value) tuple",
    );
  }
  const [label, value] = boxed.items;
  switch (label) {
    case Label.VALUE:
      return fromBrine(value);
    case Label.TUPLE:
      if (!(value instanceof PyTuple) || depth >= MAX_DEPTH) {
        throw new ProtocolError(
          "Cannot unbox RPyC tuple: expected a tuple of boxed values, at most 64 deep",
        );
      }
      return value.items.map((item) => unboxValue(host, item, depth + 1));
    case Label.LOCAL_REF: {
      const object = localObject(host, parsePack(value));
      // A mapping sent back is the object or Map it stands for.
      return object instanceof ReadOnlyDict ? object.source : object;
    }
    case Label.REMOTE_REF:
      return host.importRef(parsePack(value));
    default:
      throw new ProtocolError(
        `Cannot unbox RPyC value: unknown label ${String(label)}`,
      );
  }
}

/**
 * The local object an id pack names.
 *
 * @throws {ReferenceError} (as Python's KeyError) If it is not exported.
 */
export function localObject(
  host: RpycHost,
  pack: IdPack,
): object {
  if (pack.instanceId === ROOT_INSTANCE_ID && host.localRoot !== null) {
    return host.localRoot;
  }
  const object = host.exports.get(pack.instanceId);
  if (object === undefined) {
    throw pythonError(
      new ReferenceError(
        `Cannot find object ${pack.instanceId} (${pack.name}): it was released or never sent`,
      ),
      "KeyError",
    );
  }
  return object;
}

/**
 * Converts a brine value to its TypeScript form: tuples to arrays,
 * frozensets to sets, floats to numbers.
 */
export function fromBrine(value: BrineValue): unknown {
  if (value instanceof PyTuple) return value.items.map(fromBrine);
  if (value instanceof PyFloat) return value.value;
  if (value instanceof PyFrozenSet) return new Set(value.items.map(fromBrine));
  return value;
}
