/**
 * Python containers passed to a netref handler, copied in bulk before the
 * handler runs: a `list` arrives as an array, a `set` as a `Set`, a `dict`
 * with `str` keys as a plain object. RPyC has no request for "give me this
 * container by value", so a list or set is read with one BUFFITER request
 * (`tuple(islice(obj, n))`, answered by value), and a dict with one
 * BUFFITER for its keys, then one `__getitem__` per key, all sent at once.
 *
 * At most {@linkcode MAX_COPIED_ITEMS} items are copied per request, nested
 * containers included; a container that would go past that (or a dict with
 * a key that is not a `str`) stays a netref, so nothing arrives changed.
 *
 * @module
 */

import { proxyState } from "../core/proxy_state.ts";
import { pythonHosts } from "./netref.ts";
import { Handle } from "./constants.ts";
import { MAX_BATCH_ITEMS } from "./iteration.ts";
import type { RpycHost } from "./protocol.ts";
import { PackRef } from "./refs.ts";

/** Most items copied from Python containers for one request. */
export const MAX_COPIED_ITEMS = 10_000;

/** Deepest nesting of containers copied. */
const MAX_DEPTH = 32;

const LISTS = new Set(["builtins.list", "builtins.set", "builtins.dict"]);

/** What copying needs of the connection. */
export interface CopyHost extends RpycHost {
  /** The Python class of an imported object. */
  refName(target: number): string | undefined;
}

/** The items left to copy for one request. */
interface Budget {
  left: number;
}

/**
 * Copies the Python lists, sets and dicts among a CALL's or CALLATTR's
 * arguments and keyword arguments, in place.
 *
 * @param values The unboxed request arguments.
 */
export async function copyArguments(
  host: CopyHost,
  handler: number,
  values: unknown[],
): Promise<void> {
  const at = handler === Handle.CALL ? 1 : handler === Handle.CALLATTR ? 2 : -1;
  if (at < 0) return;
  const budget = { left: MAX_COPIED_ITEMS };
  const args = values[at];
  if (Array.isArray(args)) values[at] = await copyItems(host, args, budget, 0);
  const kwargs = values[at + 1];
  if (Array.isArray(kwargs)) {
    for (const pair of kwargs) {
      if (Array.isArray(pair) && pair.length === 2) {
        pair[1] = await copyValue(host, pair[1], budget, 0);
      }
    }
  }
}

/** One item after another, so that the budget bounds what is asked for. */
async function copyItems(
  host: CopyHost,
  items: unknown[],
  budget: Budget,
  depth: number,
): Promise<unknown[]> {
  const copied = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    copied[i] = await copyValue(host, items[i], budget, depth);
  }
  return copied;
}

async function copyValue(
  host: CopyHost,
  value: unknown,
  budget: Budget,
  depth: number,
): Promise<unknown> {
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return await copyItems(host, value, budget, depth);
  const state = proxyState(value);
  if (
    state === undefined || state.host !== (host as object) || state.mode !== 0
  ) {
    return value;
  }
  const name = host.refName(state.target);
  if (name === undefined || !LISTS.has(name) || budget.left <= 0) {
    return value;
  }
  try {
    return await copyContainer(host, value, name, state.target, budget, depth);
  } catch {
    // Python refused to read it (or it changed meanwhile): it stays a
    // netref, which works as before.
    return value;
  }
}

async function copyContainer(
  host: CopyHost,
  value: unknown,
  name: string,
  target: number,
  budget: Budget,
  depth: number,
  keysAsMap = false,
): Promise<unknown> {
  const pack = host.packOf(target);
  const ref = new PackRef(pack);
  // One more than the budget: more items than that means too many.
  const asked = budget.left + 1;
  const items = await host.call(Handle.BUFFITER, [ref, asked], undefined);
  if (!Array.isArray(items) || items.length >= asked) return value;
  if (name === "builtins.dict") {
    const strings = items.every((key) => typeof key === "string");
    if (!strings && !keysAsMap) return value;
    budget.left -= items.length;
    const values = await Promise.all(
      items.map((key) =>
        host.call(Handle.CALLATTR, [ref, "__getitem__", [key], []], undefined)
      ),
    );
    const copied = await copyItems(host, values, budget, depth + 1);
    if (!strings) return new Map(items.map((key, i) => [key, copied[i]]));
    const object: Record<string, unknown> = {};
    items.forEach((key, i) =>
      Object.defineProperty(object, key as string, {
        value: copied[i],
        enumerable: true,
        writable: true,
        configurable: true,
      })
    );
    return object;
  }
  budget.left -= items.length;
  const copied = await copyItems(host, items, budget, depth + 1);
  return name === "builtins.set" ? new Set(copied) : copied;
}

/** Options of {@linkcode iterate}. */
export interface IterateOptions {
  /** Items fetched per round trip; 100 unless given, at most 10,000. */
  batch?: number;
}

/** Items per BUFFITER of `for await` on a netref. */
const DEFAULT_BATCH = 100;

/**
 * Iterates any Python iterable of an RPyC connection (a list, a dict's keys,
 * a generator, ...) in batches: `iter()` on Python's side once, then one
 * BUFFITER round trip per `batch` items, however many there are. The
 * iterator is given back to Python when the loop ends or breaks. A plain
 * `for await (const x of ref)` does the same with batches of 100.
 *
 * @param ref A netref of a Python iterable, from `connectRpyc()`.
 * @throws {TypeError} If `ref` is no netref of an RPyC connection.
 * @throws {RangeError} If `batch` is not a whole number from 1 to 10,000.
 * @throws {RemoteError} What Python raised (TypeError if not iterable).
 *
 * @example
 * ```ts ignore
 * import { connectRpyc, iterate } from "@netref/netref/rpyc";
 * await using conn = await connectRpyc("localhost", 18861);
 * for await (const item of iterate(await conn.root.items(), { batch: 1000 })) {
 *   console.log(item);
 * }
 * ```
 */
export function iterate(
  ref: unknown,
  options: IterateOptions = {},
): AsyncGenerator<unknown, void, undefined> {
  const batch = options.batch ?? DEFAULT_BATCH;
  // A netref server answers at most MAX_BATCH_ITEMS; a shorter batch than
  // asked for is taken as the end.
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_BATCH_ITEMS) {
    throw new RangeError(
      `Cannot iterate: batch must be a whole number from 1 to ${MAX_BATCH_ITEMS}, not ${batch}`,
    );
  }
  const host = rpycHostOf(ref, "iterate");
  return batches(host, proxyState(ref)!.target, batch);
}

/**
 * The batched iteration behind {@linkcode iterate} and `for await` on a
 * netref of import id `target` (0 for the root).
 */
export async function* batches(
  host: RpycHost,
  target: number,
  batch = DEFAULT_BATCH,
): AsyncGenerator<unknown, void, undefined> {
  const base = target === 0
    ? await host.remoteRoot(undefined)
    : host.packOf(target);
  const iterator = await host.call(
    Handle.CALLATTR,
    [new PackRef(base), "__iter__", [], []],
    undefined,
    true,
  );
  if (!(iterator instanceof PackRef)) {
    throw new TypeError("Cannot iterate: Python's iter() gave no iterator");
  }
  try {
    while (true) {
      const items = await host.call(
        Handle.BUFFITER,
        [iterator, batch],
        undefined,
      );
      if (!Array.isArray(items)) {
        throw new TypeError("Cannot iterate: BUFFITER gave no tuple");
      }
      yield* items;
      if (items.length < batch) return;
    }
  } finally {
    host.sendDel(iterator.pack, 1);
  }
}

/**
 * The connection of an RPyC netref.
 *
 * @throws {TypeError} If `ref` is none, or a pending one.
 */
function rpycHostOf(ref: unknown, what: string): CopyHost {
  const state = proxyState(ref);
  if (state === undefined || !pythonHosts.has(state.host)) {
    throw new TypeError(
      `Cannot ${what}: expected a netref of an RPyC connection (connectRpyc())`,
    );
  }
  if (state.mode !== 0) {
    throw new TypeError(`Cannot ${what} a pending netref: await it first`);
  }
  return state.host as unknown as CopyHost;
}

/** Options of {@linkcode copy}. */
export interface CopyOptions {
  /** Most items to copy, nested ones included; 10,000 unless given. */
  maxItems?: number;
}

/**
 * Fetches a Python `list`, `set` or `dict` of an RPyC connection by value,
 * without pickle: a list arrives as an array, a set as a `Set`, a dict as a
 * plain object (a `Map` when a key is not a `str`). A list or set costs one
 * round trip, a dict two; nested containers are copied too (a nested dict
 * with a key that is not a `str` stays a netref).
 *
 * @param ref A netref of a Python container, from `connectRpyc()`.
 * @returns The copy.
 * @throws {TypeError} If `ref` is no netref of an RPyC connection, or not a
 *   list, set or dict.
 * @throws {RangeError} If it holds more than `maxItems` items.
 * @throws {RemoteError} What Python raised reading it.
 *
 * @example
 * ```ts ignore
 * import { connectRpyc, copy } from "@netref/netref/rpyc";
 * await using conn = await connectRpyc("localhost", 18861);
 * const items = await copy<number[]>(await conn.root.items()); // [1, 2, 3]
 * ```
 */
export async function copy<T = unknown>(
  ref: unknown,
  options: CopyOptions = {},
): Promise<T> {
  const maxItems = options.maxItems ?? MAX_COPIED_ITEMS;
  if (!Number.isSafeInteger(maxItems) || maxItems < 0) {
    throw new RangeError(
      `Cannot copy: maxItems must be a whole number >= 0, not ${maxItems}`,
    );
  }
  const host = rpycHostOf(ref, "copy");
  const state = proxyState(ref)!;
  const name = state.target === 0 ? undefined : host.refName(state.target);
  if (name === undefined || !LISTS.has(name)) {
    throw new TypeError(
      `Cannot copy ${
        name ?? "the root"
      }: only a list, set or dict can be copied`,
    );
  }
  const budget = { left: maxItems };
  const copied = await copyContainer(
    host,
    ref,
    name,
    state.target,
    budget,
    0,
    true,
  );
  if (copied === ref) {
    throw new RangeError(
      `Cannot copy ${name}: it holds more than ${maxItems} items (raise maxItems, or iterate it)`,
    );
  }
  return copied as T;
}
