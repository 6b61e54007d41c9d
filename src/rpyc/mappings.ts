/**
 * TypeScript plain objects and Maps returned to Python: read-only dict-like
 * netrefs. Python's netref class is built from INSPECT's method names, so
 * `x["k"]`, `len(x)`, `"k" in x`, iteration, `keys()`, `items()`,
 * `values()`, `get()` and `dict(x)` become CALLATTR requests answered here,
 * and nothing else is offered (no `__setitem__`: it is read-only).
 *
 * @module
 */

import { isPlainData } from "../core/exposure.ts";
import { isServedIterable } from "./iteration.ts";
import { PyTuple } from "./py_values.ts";
import { pythonError } from "./vinegar.ts";

/** The methods a read-only dict answers, as INSPECT lists them. */
const DICT_METHODS = [
  "__contains__",
  "__getitem__",
  "__iter__",
  "__len__",
  "get",
  "items",
  "keys",
  "values",
];

/** The methods Python reads as attributes before calling them. */
const NAMED_METHODS = new Set(["get", "items", "keys", "values"]);

/** The methods of an iterator over a dict's keys. */
const ITERATOR_METHODS = ["__iter__", "__next__"];

/** A plain object or Map, as Python sees it: a read-only mapping. */
export class ReadOnlyDict {
  readonly #source: object;

  constructor(source: object) {
    this.#source = source;
  }

  /** The plain object or Map, for when Python sends this netref back. */
  get source(): object {
    return this.#source;
  }

  #entries(): [unknown, unknown][] {
    return this.#source instanceof Map
      ? [...this.#source]
      : Object.entries(this.#source);
  }

  #has(key: unknown): boolean {
    return this.#source instanceof Map
      ? this.#source.has(key)
      : typeof key === "string" && Object.hasOwn(this.#source, key);
  }

  #get(key: unknown): unknown {
    return this.#source instanceof Map
      ? this.#source.get(key)
      : (this.#source as Record<string, unknown>)[key as string];
  }

  /**
   * One of the named methods, read as an attribute (`d.keys`), bound to
   * this mapping: Python calls it in turn.
   *
   * @throws {Error} As Python's AttributeError for any other name.
   */
  method(name: unknown): (...args: unknown[]) => unknown {
    if (typeof name !== "string" || !NAMED_METHODS.has(name)) {
      throw pythonError(
        new Error(
          `Cannot read '${String(name)}' of a read-only mapping: it offers ${
            DICT_METHODS.join(", ")
          }`,
        ),
        "AttributeError",
      );
    }
    const bound = (...args: unknown[]) => this.call(name, args);
    Object.defineProperty(bound, "name", { value: name });
    return bound;
  }

  /**
   * Answers one of {@linkcode DICT_METHODS}.
   *
   * @throws {Error} As Python's KeyError for a missing key, AttributeError
   *   for any other method.
   */
  call(name: unknown, args: unknown[]): unknown {
    const [key, fallback] = args;
    switch (name) {
      case "__getitem__":
        if (!this.#has(key)) {
          throw pythonError(
            new ReferenceError(`No key ${String(key)} in this mapping`),
            "KeyError",
          );
        }
        return this.#get(key);
      case "get":
        return this.#has(key) ? this.#get(key) : fallback ?? null;
      case "__contains__":
        return this.#has(key);
      case "__len__":
        return this.#source instanceof Map
          ? this.#source.size
          : Object.keys(this.#source).length;
      case "__iter__":
        return new KeyIterator(this.#entries().map(([k]) => k));
      case "keys":
        return this.#entries().map(([k]) => k);
      case "values":
        return this.#entries().map(([, v]) => v);
      case "items":
        return this.#entries().map(([k, v]) => new PyPair(k, v));
    }
    throw pythonError(
      new Error(
        `Cannot call '${String(name)}' of a read-only mapping: it offers ${
          DICT_METHODS.join(", ")
        }`,
      ),
      "AttributeError",
    );
  }
}

/** A `(key, value)` pair of `items()`: a tuple in Python, not a mapping. */
export class PyPair {
  constructor(readonly key: unknown, readonly value: unknown) {}
}

/** Python's iterator over a mapping's keys, one `__next__` per key. */
export class KeyIterator {
  #index = 0;
  constructor(readonly keys: unknown[]) {}

  /**
   * Answers `__iter__` (itself) and `__next__`.
   *
   * @throws {Error} As StopIteration at the end, AttributeError otherwise.
   */
  call(name: unknown): unknown {
    if (name === "__iter__") return this;
    if (name === "__next__") {
      if (this.#index < this.keys.length) return this.keys[this.#index++];
      throw pythonError(new Error(""), "StopIteration");
    }
    throw pythonError(
      new Error(`Cannot call '${String(name)}' of a key iterator`),
      "AttributeError",
    );
  }

  /** BUFFITER: up to `count` of the keys left (a tuple in Python). */
  take(count: number): unknown[] {
    const start = this.#index;
    this.#index = Math.min(this.keys.length, start + count);
    return this.keys.slice(start, this.#index);
  }
}

/** INSPECT's `((name, doc), ...)` for a mapping or its iterator. */
export function mappingMethods(object: object): PyTuple | undefined {
  const names = object instanceof ReadOnlyDict
    ? DICT_METHODS
    : object instanceof KeyIterator
    ? ITERATOR_METHODS
    : undefined;
  return names && new PyTuple(names.map((name) => PyTuple.of(name, null)));
}

const views = new WeakMap<object, ReadOnlyDict>();

/**
 * The read-only dict standing for a plain object or Map, the same one each
 * time (so Python sees one object); undefined for anything else.
 */
export function mappingOf(value: object): ReadOnlyDict | undefined {
  if (
    !(value instanceof Map) &&
    (Array.isArray(value) || !isPlainData(value) || isServedIterable(value))
  ) {
    return undefined;
  }
  let view = views.get(value);
  if (view === undefined) views.set(value, view = new ReadOnlyDict(value));
  return view;
}
