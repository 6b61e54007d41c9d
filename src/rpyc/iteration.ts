/**
 * TypeScript iterables iterated by Python: an async iterable (an async
 * generator, anything with `Symbol.asyncIterator`) or a sync iterable that
 * is no array, `Map` or `Set` (a generator, a `Set` iterator) travels to
 * Python as a netref whose class offers `__iter__` (and `__next__` when it
 * is an iterator itself), and answers RPyC's buffered iteration, BUFFITER
 * (`rpyc.buffiter()`), with many items per round trip.
 *
 * Python's own `for x in netref` asks `__next__` once per item: RPyC's
 * netref classes send every dunder as its own request. Async producers are
 * awaited here; a batch waits for its count or the end, as Python's
 * `islice()` does. An iterator Python iterated is closed (`return()`, so a
 * generator's `finally` runs) once Python gives back its last reference
 * (DEL), or when the connection closes.
 *
 * @module
 */

import { isAwaitable } from "../core/awaiting.ts";
import { exposedMembers, isPlainData } from "../core/exposure.ts";
import { errorMessage } from "../errors.ts";
import { logEvent } from "../log.ts";
import type { RpycHost } from "./protocol.ts";
import { PyTuple } from "./py_values.ts";
import { pythonError } from "./vinegar.ts";

/**
 * Most items one BUFFITER answers with; asked for more, it answers with
 * this many (Python's `buffiter()` goes on until a batch comes back empty).
 */
export const MAX_BATCH_ITEMS = 10_000;

type Step = IteratorResult<unknown, unknown>;
type AnyIterator = AsyncIterator<unknown> | Iterator<unknown>;

const DONE: Step = { done: true, value: undefined };

/**
 * Whether an object goes to Python as an iterable netref: it has
 * `Symbol.asyncIterator` or `Symbol.iterator`, and is no array, `Map`,
 * `Set` or typed array (those travel by value, or as a dict).
 */
export function isServedIterable(value: object): boolean {
  if (
    Array.isArray(value) || value instanceof Map || value instanceof Set ||
    ArrayBuffer.isView(value)
  ) return false;
  const methods = value as Record<symbol, unknown>;
  return typeof methods[Symbol.asyncIterator] === "function" ||
    typeof methods[Symbol.iterator] === "function";
}

/** An iterable that is its own iterator (a generator): it has `next()`. */
function isIterator(value: object): boolean {
  return typeof (value as { next?: unknown }).next === "function";
}

/**
 * One iteration Python walks: a TypeScript iterator, its steps queued so
 * that concurrent requests take items in turn. Python's `iter()` of an
 * iterable that is no iterator itself returns one of these.
 */
export class StreamIterator {
  readonly #iterator: AnyIterator;
  readonly #async: boolean;
  #queue: Promise<unknown> = Promise.resolve();
  #done = false;
  /** A producer error held back to give the items before it first. */
  #failure: { error: unknown } | null = null;
  /** The connections that hold it; closed when the last lets go. */
  readonly holders: Set<RpycHost> = new Set();

  constructor(iterator: AnyIterator, isAsync: boolean) {
    this.#iterator = iterator;
    this.#async = isAsync;
  }

  /** Python's `__next__`: the next item, or StopIteration at the end. */
  next(): Promise<unknown> {
    return this.#queued(async () => {
      const [item] = await this.#take(1);
      if (item === undefined) {
        throw pythonError(new Error(""), "StopIteration");
      }
      return item.value;
    });
  }

  /** BUFFITER: up to `count` items (a tuple in Python), fewer at the end. */
  take(count: number): Promise<unknown[]> {
    return this.#queued(async () =>
      (await this.#take(count)).map((item) => item.value)
    );
  }

  /**
   * Ends the iteration early: the iterator's `return()` runs (a
   * generator's `finally`), unless it had ended already.
   *
   * @returns Settles once `return()` did; it rejects with what it threw.
   */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const iterator = this.#iterator as AsyncIterator<unknown>;
    if (typeof iterator.return === "function") await iterator.return();
  }

  #queued<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.then(() => {}, () => {});
    return result;
  }

  /** Items boxed as `{ value }`, so that `undefined` items count too. */
  async #take(count: number): Promise<{ value: unknown }[]> {
    if (this.#failure !== null) {
      const { error } = this.#failure;
      this.#failure = null;
      throw error;
    }
    const items: { value: unknown }[] = [];
    while (items.length < count && !this.#done) {
      let step: Step;
      try {
        step = await this.#step();
      } catch (error) {
        this.#done = true;
        if (items.length === 0) throw error;
        this.#failure = { error };
        break;
      }
      if (step.done) {
        this.#done = true;
        break;
      }
      items.push({ value: step.value });
    }
    return items;
  }

  async #step(): Promise<Step> {
    const step = await this.#iterator.next();
    if (typeof step !== "object" || step === null) {
      throw new TypeError(
        `Cannot iterate: next() returned ${typeof step}, not an iterator result`,
      );
    }
    if (step.done) return DONE;
    // As `for await` does with a sync iterator's items.
    if (!this.#async && isAwaitable(step.value)) {
      return { done: false, value: await step.value };
    }
    return step;
  }
}

/** The iteration of each generator-like object Python iterated. */
const cursors = new WeakMap<object, StreamIterator>();
/** The iterations each connection holds, to close when it closes. */
const held = new WeakMap<RpycHost, Set<StreamIterator>>();

function hold(host: RpycHost, iteration: StreamIterator): StreamIterator {
  iteration.holders.add(host);
  let set = held.get(host);
  if (set === undefined) held.set(host, set = new Set());
  set.add(iteration);
  return iteration;
}

/** A fresh iteration of an iterable: its async iterator, else its sync one. */
function startIteration(iterable: object): StreamIterator {
  const methods = iterable as Record<symbol, () => AnyIterator>;
  const isAsync = typeof methods[Symbol.asyncIterator] === "function";
  const iterator = isAsync
    ? methods[Symbol.asyncIterator]()
    : methods[Symbol.iterator]();
  if (typeof iterator !== "object" || iterator === null) {
    throw new TypeError("Cannot iterate: the iterator method gave no object");
  }
  return new StreamIterator(iterator, isAsync);
}

/** The one iteration of a generator-like object (its own iterator). */
function ownIteration(host: RpycHost, iterator: object): StreamIterator {
  let iteration = cursors.get(iterator);
  if (iteration === undefined) {
    const isAsync = typeof (iterator as Record<symbol, unknown>)[
      Symbol.asyncIterator
    ] === "function";
    iteration = new StreamIterator(iterator as AnyIterator, isAsync);
    cursors.set(iterator, iteration);
  }
  return hold(host, iteration);
}

function notIterable(obj: unknown, what: string): TypeError {
  const name = typeof obj === "object" && obj !== null
    ? (Object.getPrototypeOf(obj)?.constructor?.name ?? "object")
    : typeof obj;
  return pythonError(
    new TypeError(`'${name}' object is not ${what}`),
    "TypeError",
  );
}

/**
 * Answers Python's `__iter__` and `__next__` (CALLATTR) on an iterable;
 * undefined for any other name or object, which go the usual way.
 */
export function iterationCall(
  host: RpycHost,
  obj: unknown,
  name: unknown,
): (() => unknown) | undefined {
  if (name !== "__iter__" && name !== "__next__") return undefined;
  if (typeof obj !== "object" || obj === null) return undefined;
  if (obj instanceof StreamIterator) {
    return name === "__iter__" ? () => obj : () => obj.next();
  }
  if (!isServedIterable(obj)) return undefined;
  if (isIterator(obj)) {
    // Python's iter() of an iterator is the iterator itself.
    if (name === "__iter__") return () => obj;
    return () => ownIteration(host, obj).next();
  }
  if (name === "__next__") throw notIterable(obj, "an iterator");
  return () => hold(host, startIteration(obj));
}

/**
 * BUFFITER's count, `islice()`'s stop: at most {@linkcode MAX_BATCH_ITEMS}.
 *
 * @throws {RangeError} (as ValueError) If it is no whole number >= 0.
 */
export function batchCount(count: unknown): number {
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw pythonError(
      new RangeError(
        `Cannot iterate: BUFFITER's count must be a whole number >= 0, not ${
          String(count)
        }`,
      ),
      "ValueError",
    );
  }
  return Math.min(count, MAX_BATCH_ITEMS);
}

/**
 * BUFFITER, `(obj, count)`: `tuple(islice(obj, count))`. An iterable that
 * is no iterator is iterated afresh each time and closed after, as
 * `islice()` would.
 *
 * @param wanted From {@linkcode batchCount}.
 * @throws {TypeError} (as Python's) If `obj` is not iterable here.
 */
export async function bufferedItems(
  host: RpycHost,
  obj: unknown,
  wanted: number,
): Promise<unknown[]> {
  if (obj instanceof StreamIterator) return await obj.take(wanted);
  if (typeof obj !== "object" || obj === null || !isServedIterable(obj)) {
    throw notIterable(obj, "iterable");
  }
  if (isIterator(obj)) return await ownIteration(host, obj).take(wanted);
  const once = startIteration(obj);
  try {
    return await once.take(wanted);
  } finally {
    await closeReporting(host, once);
  }
}

/**
 * INSPECT's methods of an iterable: `__iter__`, and `__next__` for an
 * iterator, with its exposed methods; undefined for anything else.
 */
export function iterationMethods(object: object): PyTuple | undefined {
  const own = object instanceof StreamIterator;
  if (!own && !isServedIterable(object)) return undefined;
  const methods = [PyTuple.of("__iter__", null)];
  if (own || isIterator(object)) methods.push(PyTuple.of("__next__", null));
  if (!own && !isPlainData(object)) {
    for (const [name, access] of exposedMembers(object)) {
      if (access.method) methods.push(PyTuple.of(name, null));
    }
  }
  return new PyTuple(methods);
}

/**
 * Python gave back its last reference to `object` (DEL): an iteration it
 * walked ends, unless another connection walks it too.
 */
export function iterationReleased(host: RpycHost, object: object): void {
  const iteration = object instanceof StreamIterator
    ? object
    : cursors.get(object);
  if (iteration === undefined || !iteration.holders.has(host)) return;
  held.get(host)?.delete(iteration);
  letGo(host, iteration);
}

/** The connection closed: every iteration it walked ends (as above). */
export function closeIterations(host: RpycHost): void {
  const set = held.get(host);
  if (set === undefined) return;
  held.delete(host);
  for (const iteration of set) letGo(host, iteration);
}

function letGo(host: RpycHost, iteration: StreamIterator): void {
  iteration.holders.delete(host);
  if (iteration.holders.size === 0) {
    // Nobody waits: a `finally` that throws is logged, not lost.
    void closeReporting(host, iteration);
  }
}

async function closeReporting(
  host: RpycHost,
  iteration: StreamIterator,
): Promise<void> {
  try {
    await iteration.close();
  } catch (error) {
    const why = errorMessage(error);
    host.log(logEvent(
      "warn",
      "rpyc.iterator-close-failed",
      `closing an iterator ${host.label} let go of failed: ${why}`,
      { peer: host.label, reason: why, error },
    ));
  }
}
