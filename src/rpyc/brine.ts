/**
 * Brine, RPyC's serializer for immutable Python values, written from the
 * format described by `rpyc/core/brine.py` (RPyC 5.3).
 *
 * How Python values are represented:
 *
 * | Python                    | TypeScript                                        |
 * | ------------------------- | ------------------------------------------------- |
 * | `None`                    | `null`                                            |
 * | `True`, `False`           | `true`, `false`                                   |
 * | `int`                     | `number` when a safe integer, else `bigint`       |
 * | `float`                   | `number`, or {@linkcode PyFloat} (see below)      |
 * | `str`                     | `string`                                          |
 * | `bytes`                   | `Uint8Array`                                      |
 * | `tuple`                   | {@linkcode PyTuple}                               |
 * | `frozenset`               | {@linkcode PyFrozenSet}                           |
 * | `slice`                   | {@linkcode PySlice}                               |
 * | `complex`                 | {@linkcode PyComplex}                             |
 * | `Ellipsis`                | {@linkcode PyEllipsis}                            |
 * | `NotImplemented`          | {@linkcode PyNotImplemented}                      |
 *
 * The float rule: a `number` that is a safe integer (`Number.isSafeInteger`,
 * so `-0` too) is dumped as an `int`; any other `number` (fractions, NaN,
 * ±Infinity, integers beyond 2^53) as a `float`. So `load()` returns a float
 * as a plain `number` unless it would then come back as an int (`2.0`,
 * `-0.0`, `1e15`): those are wrapped in {@linkcode PyFloat}, which always
 * dumps as a float. Every value `load()` returns dumps back to the same bytes.
 *
 * JavaScript arrays, objects, `Map`, `Set` and `undefined` are not dumpable:
 * brine has no list, dict or set, and `undefined` is not `None`.
 *
 * @module
 */

import {
  type BrineValue,
  describeValue,
  PyComplex,
  PyConstant,
  PyFloat,
  PyFrozenSet,
  PySlice,
  PyTuple,
} from "./py_values.ts";
import {
  BrineTag,
  DEFAULT_MAX_DEPTH,
  IMM_INT_BIAS,
  IMM_INT_MAX,
  IMM_INT_MIN,
  MAX_INT_DIGITS,
} from "./constants.ts";

export {
  COMPRESSED_ITEMS_FLOOR,
  COMPRESSED_ITEMS_PER_BYTE,
  load,
} from "./brine_load.ts";
export { DEFAULT_MAX_DEPTH } from "./constants.ts";

/** Options for {@linkcode dump}, {@linkcode load} and {@linkcode dumpable}. */
export interface BrineOptions {
  /**
   * How deeply tuples, frozensets and slices may nest.
   * @default {DEFAULT_MAX_DEPTH}
   */
  maxDepth?: number;
  /**
   * How many items all the tuples and frozensets of one value may hold in
   * all, counted from their announced lengths before they are built: the
   * same budget as a netref frame's, so that a small (or compressed) frame
   * cannot make the receiver build millions of objects.
   * @default {MAX_VALUE_NODES}
   */
  maxItems?: number;
  /**
   * When the value arrived zlib-compressed, the compressed length: the value
   * may then hold at most `max(COMPRESSED_ITEMS_FLOOR, COMPRESSED_ITEMS_PER_BYTE
   * × compressedBytes)` items (and never more than `maxItems`), so that a small
   * frame cannot inflate into hundreds of thousands of objects.
   */
  compressedBytes?: number;
}

const INT_DIGITS_LIMIT = 10n ** BigInt(MAX_INT_DIGITS);
const utf8Encoder = new TextEncoder();
/** Strings up to this long are tried as ASCII, written without an encoder. */
const ASCII_DIRECT_CHARS = 255;
// ignoreBOM keeps a leading U+FEFF, as Python's decode("utf-8") does.

/**
 * Encodes a value as brine, byte for byte as RPyC's `brine.dump` does.
 *
 * @param value The value; see the module documentation for the mapping.
 * @returns The encoded bytes.
 * @throws {TypeError} If something in `value` is not dumpable (an array, an
 *   object, `undefined`, a string with a lone surrogate).
 * @throws {RangeError} If an int has more than 4300 digits, a string or
 *   tuple is longer than 2^32 - 1, or nesting exceeds `maxDepth`.
 */
export function dump(
  value: BrineValue,
  options: BrineOptions = {},
): Uint8Array {
  return dumpAfter(-1, value, options);
}

/**
 * {@linkcode dump} with one byte before the value (RPyC 6 puts the message
 * kind there), in the same buffer.
 *
 * @param first The byte to put first, or -1 for none.
 * @param value The value.
 * @param options Limits.
 * @returns The byte, then the encoded value.
 */
export function dumpAfter(
  first: number,
  value: BrineValue,
  options: BrineOptions = {},
): Uint8Array {
  // One writer for every dump (nothing in encode() calls out, so dumps never
  // nest): a fresh buffer and view per message cost more than most
  // messages' encoding.
  const writer = sharedWriter;
  writer.reset();
  if (first >= 0) writer.byte(first);
  try {
    encode(writer, value, 0, options.maxDepth ?? DEFAULT_MAX_DEPTH);
    return writer.finish();
  } finally {
    writer.release();
  }
}

/**
 * Tells whether {@linkcode dump} would succeed on `value`, like RPyC's
 * `brine.dumpable` (which RPyC uses to choose between sending a value and
 * sending a reference).
 *
 * @param value Anything.
 * @returns `true` if `value` is a {@linkcode BrineValue} that dumps.
 */
export function dumpable(
  value: unknown,
  options: BrineOptions = {},
): value is BrineValue {
  return isDumpable(value, 0, options.maxDepth ?? DEFAULT_MAX_DEPTH);
}

function isDumpable(value: unknown, depth: number, maxDepth: number): boolean {
  switch (typeof value) {
    case "boolean":
    case "number":
      return true;
    case "bigint":
      return intFits(value);
    case "string":
      return value.isWellFormed();
    case "object":
      break;
    default:
      return false;
  }
  if (value === null || value instanceof Uint8Array) return true;
  if (value instanceof PyFloat || value instanceof PyComplex) return true;
  if (value instanceof PyConstant) return true;
  if (depth >= maxDepth) return false;
  if (value instanceof PyTuple || value instanceof PyFrozenSet) {
    return value.items.every((item) => isDumpable(item, depth + 1, maxDepth));
  }
  if (value instanceof PySlice) {
    return isDumpable(value.start, depth + 1, maxDepth) &&
      isDumpable(value.stop, depth + 1, maxDepth) &&
      isDumpable(value.step, depth + 1, maxDepth);
  }
  return false;
}

function intFits(value: bigint): boolean {
  return value < INT_DIGITS_LIMIT && -value < INT_DIGITS_LIMIT;
}

function encode(
  w: Writer,
  value: unknown,
  depth: number,
  maxDepth: number,
): void {
  switch (typeof value) {
    case "boolean":
      return w.byte(value ? BrineTag.TRUE : BrineTag.FALSE);
    case "number":
      if (Number.isSafeInteger(value)) return encodeInt(w, value);
      w.byte(BrineTag.FLOAT);
      return w.f64(value);
    case "bigint":
      return encodeInt(w, value);
    case "string":
      w.byte(BrineTag.UNICODE);
      if (value.length <= ASCII_DIRECT_CHARS && isAscii(value)) {
        // One byte a character, as UTF-8 would give, without an encoder.
        encodeBytesHeader(w, value.length);
        return w.latin1(value);
      }
      if (!value.isWellFormed()) {
        throw new TypeError(
          "Cannot encode brine: string has a lone surrogate, which UTF-8 cannot carry",
        );
      }
      return encodeBytes(w, utf8Encoder.encode(value));
    case "object":
      break;
    default:
      throw new TypeError(
        `Cannot encode brine: ${describeValue(value)} is not dumpable`,
      );
  }
  if (value === null) return w.byte(BrineTag.NONE);
  if (value instanceof Uint8Array) return encodeBytes(w, value);
  if (value instanceof PyFloat) {
    w.byte(BrineTag.FLOAT);
    return w.f64(value.value);
  }
  if (value instanceof PyComplex) {
    w.byte(BrineTag.COMPLEX);
    w.f64(value.real);
    return w.f64(value.imag);
  }
  if (value instanceof PyConstant) {
    return w.byte(
      value.name === "Ellipsis" ? BrineTag.ELLIPSIS : BrineTag.NOT_IMPLEMENTED,
    );
  }
  const isTuple = value instanceof PyTuple;
  const isSet = value instanceof PyFrozenSet;
  const isSlice = value instanceof PySlice;
  if (!isTuple && !isSet && !isSlice) {
    throw new TypeError(
      `Cannot encode brine: ${describeValue(value)} is not dumpable`,
    );
  }
  if (depth >= maxDepth) {
    throw new RangeError(
      `Cannot encode brine: nesting depth exceeds maxDepth ${maxDepth}`,
    );
  }
  // A frozenset or slice travels as its tag then a tuple of its members; the
  // tuple counts as the same nesting level, as it does in load().
  let items: readonly unknown[];
  if (isTuple) {
    items = value.items;
  } else if (isSet) {
    w.byte(BrineTag.FSET);
    items = value.items;
  } else {
    w.byte(BrineTag.SLICE);
    items = [value.start, value.stop, value.step];
  }
  encodeTupleHeader(w, items.length);
  for (const item of items) encode(w, item, depth + 1, maxDepth);
}

function encodeInt(w: Writer, value: number | bigint): void {
  if (value >= IMM_INT_MIN && value <= IMM_INT_MAX) {
    return w.byte(Number(value) + IMM_INT_BIAS);
  }
  if (typeof value === "bigint" && !intFits(value)) {
    throw new RangeError(
      `Cannot encode brine: int exceeds ${MAX_INT_DIGITS} digits, the most Python converts`,
    );
  }
  // Python writes the decimal digits; they are ASCII, one byte a character.
  const text = String(value);
  if (text.length < 256) {
    w.byte(BrineTag.INT_L1);
    w.byte(text.length);
  } else {
    w.byte(BrineTag.INT_L4);
    w.u32(text.length);
  }
  w.latin1(text);
}

function encodeBytes(w: Writer, bytes: Uint8Array): void {
  encodeBytesHeader(w, bytes.length);
  w.bytes(bytes);
}

/** The tag, and length where there is one, of `length` bytes. */
function encodeBytesHeader(w: Writer, length: number): void {
  if (length === 0) return w.byte(BrineTag.EMPTY_STR);
  if (length <= 4) {
    w.byte(BrineTag.STR1 + length - 1);
  } else if (length < 256) {
    w.byte(BrineTag.STR_L1);
    w.byte(length);
  } else if (length <= 0xffffffff) {
    w.byte(BrineTag.STR_L4);
    w.u32(length);
  } else {
    throw new RangeError(
      `Cannot encode brine: bytes of length ${length} exceed 4294967295`,
    );
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

function encodeTupleHeader(w: Writer, length: number): void {
  if (length === 0) return w.byte(BrineTag.EMPTY_TUPLE);
  if (length <= 4) return w.byte(BrineTag.TUP1 + length - 1);
  if (length < 256) {
    w.byte(BrineTag.TUP_L1);
    return w.byte(length);
  }
  if (length > 0xffffffff) {
    throw new RangeError(
      `Cannot encode brine: tuple of ${length} items exceeds 4294967295`,
    );
  }
  w.byte(BrineTag.TUP_L4);
  w.u32(length);
}

/** What the shared writer keeps between dumps; a larger buffer is dropped. */
const KEPT_WRITER_BYTES = 64 * 1024;

/** A growable output buffer. */
class Writer {
  #buffer = new Uint8Array(1024);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  reset(): void {
    this.#length = 0;
  }

  /** Forgets a buffer grown large for one value. */
  release(): void {
    if (this.#buffer.length > KEPT_WRITER_BYTES) {
      this.#buffer = new Uint8Array(1024);
      this.#view = new DataView(this.#buffer.buffer);
    }
  }

  /** Writes characters below 256 as one byte each (digits, for ints). */
  latin1(text: string): void {
    this.#reserve(text.length);
    const buffer = this.#buffer;
    let at = this.#length;
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i);
    this.#length = at;
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value);
    this.#length += 4;
  }

  f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value);
    this.#length += 8;
  }

  bytes(value: Uint8Array): void {
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #reserve(count: number): void {
    const needed = this.#length + count;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}

const sharedWriter = new Writer();
