/**
 * The Python values brine carries that have no TypeScript value of their
 * own: tuples, frozensets, slices, complex numbers, floats that are whole
 * numbers, and the singletons `Ellipsis` and `NotImplemented`.
 *
 * @module
 */

/**
 * A Python `float` whose value is a safe integer (`2.0`, `-0.0`), kept apart
 * from a `number`, which would dump as an `int`. Any `number` may be wrapped.
 */
export class PyFloat {
  /** The float's value. */
  readonly value: number;

  /**
   * Wraps a number as a Python float.
   *
   * @throws {TypeError} If `value` is not a number.
   */
  constructor(value: number) {
    if (typeof value !== "number") {
      throw new TypeError(`Cannot make a PyFloat from ${describeValue(value)}`);
    }
    this.value = value;
    Object.freeze(this);
  }

  /** Unwraps the float, so `+float` reads it. */
  valueOf(): number {
    return this.value;
  }

  /**
   * Prints the float as Python's `repr` does for common values.
   *
   * @returns `2.0`, `-0.0`, `nan`, `inf`, or the number.
   */
  toString(): string {
    const value = this.value;
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    if (Number.isInteger(value) && Math.abs(value) < 1e16) {
      return Object.is(value, -0) ? "-0.0" : `${value}.0`;
    }
    return String(value);
  }
}

/** A Python `complex`. */
export class PyComplex {
  /** The real part. */
  readonly real: number;
  /** The imaginary part. */
  readonly imag: number;

  /**
   * Makes a complex number from its parts.
   *
   * @throws {TypeError} If either part is not a number.
   */
  constructor(real: number, imag: number) {
    if (typeof real !== "number" || typeof imag !== "number") {
      throw new TypeError(
        `Cannot make a PyComplex from ${describeValue(real)} and ${
          describeValue(imag)
        }`,
      );
    }
    this.real = real;
    this.imag = imag;
    Object.freeze(this);
  }
}

function frozenItems(items: Iterable<BrineValue>): readonly BrineValue[] {
  return Array.isArray(items) && Object.isFrozen(items)
    ? items
    : Object.freeze([...items]);
}

/**
 * A Python `tuple`: an immutable sequence, distinct from a JavaScript array
 * (which stands for a Python `list`, something brine cannot carry).
 */
export class PyTuple implements Iterable<BrineValue> {
  /** The members, in order (a frozen copy). */
  readonly items: readonly BrineValue[];

  /**
   * Makes a tuple of the given members. A frozen array is kept as it is (it
   * cannot change), anything else is copied.
   */
  constructor(items: Iterable<BrineValue> = []) {
    this.items = frozenItems(items);
    Object.freeze(this);
  }

  /** Makes a tuple of the arguments. */
  static of(...items: BrineValue[]): PyTuple {
    return new PyTuple(items);
  }

  /** The number of members. */
  get length(): number {
    return this.items.length;
  }

  /** Iterates over the members. */
  [Symbol.iterator](): Iterator<BrineValue> {
    return this.items[Symbol.iterator]();
  }
}

/**
 * A Python `frozenset`. Members keep the order they were given or arrived
 * in, and are not deduplicated here: Python's side deduplicates on load.
 */
export class PyFrozenSet implements Iterable<BrineValue> {
  /** The members (a frozen copy). */
  readonly items: readonly BrineValue[];

  /** Makes a frozenset of the given members, kept or copied as a tuple's. */
  constructor(items: Iterable<BrineValue> = []) {
    this.items = frozenItems(items);
    Object.freeze(this);
  }

  /** The number of members. */
  get size(): number {
    return this.items.length;
  }

  /** Iterates over the members. */
  [Symbol.iterator](): Iterator<BrineValue> {
    return this.items[Symbol.iterator]();
  }
}

/** A Python `slice(start, stop, step)`. */
export class PySlice {
  /** The start, usually an int or `null`. */
  readonly start: BrineValue;
  /** The stop, usually an int or `null`. */
  readonly stop: BrineValue;
  /** The step, usually an int or `null`. */
  readonly step: BrineValue;

  /**
   * Makes a slice.
   *
   * @param step The step; `null` (None) when left out.
   */
  constructor(start: BrineValue, stop: BrineValue, step: BrineValue = null) {
    this.start = start;
    this.stop = stop;
    this.step = step;
    Object.freeze(this);
  }
}

/** Names of the Python singletons brine carries besides `None`. */
export type PyConstantName = "Ellipsis" | "NotImplemented";

/**
 * A Python singleton: `Ellipsis` or `NotImplemented`. Use
 * {@linkcode PyEllipsis} and {@linkcode PyNotImplemented}; instances with
 * the same name are interchangeable.
 */
export class PyConstant {
  /** Which singleton. */
  readonly name: PyConstantName;

  /**
   * Makes a singleton; prefer {@linkcode PyEllipsis} and
   * {@linkcode PyNotImplemented}.
   *
   * @param name `"Ellipsis"` or `"NotImplemented"`.
   * @throws {TypeError} For any other name.
   */
  constructor(name: PyConstantName) {
    if (name !== "Ellipsis" && name !== "NotImplemented") {
      throw new TypeError(
        `Cannot make a PyConstant named ${describeValue(name)}`,
      );
    }
    this.name = name;
    Object.freeze(this);
  }

  /** Prints the singleton. */
  toString(): string {
    return this.name;
  }
}

/** Python's `Ellipsis` (`...`). */
export const PyEllipsis: PyConstant = new PyConstant("Ellipsis");

/** Python's `NotImplemented`. */
export const PyNotImplemented: PyConstant = new PyConstant("NotImplemented");

/**
 * A Python value brine can carry; see the module documentation for the
 * mapping.
 */
export type BrineValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyComplex
  | PyTuple
  | PyFrozenSet
  | PySlice
  | PyConstant;

/** Describes a value that is not what was expected, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array (use PyTuple for a tuple)";
  if (typeof value === "object") {
    return `an object of class ${value.constructor?.name ?? "Object"}`;
  }
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  return `${typeof value} ${String(value)}`;
}
