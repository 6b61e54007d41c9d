/**
 * Brine decoding: {@linkcode load} and the reader behind it, stricter than
 * RPyC's `brine.load` (see `brine.ts` for the value mapping).
 *
 * @module
 */

import { MAX_VALUE_NODES } from "../protocol/constants.ts";
import { ProtocolError } from "../errors.ts";
import {
  type BrineValue,
  describeValue,
  PyComplex,
  PyEllipsis,
  PyFloat,
  PyFrozenSet,
  PyNotImplemented,
  PySlice,
  PyTuple,
} from "./py_values.ts";
import type { BrineOptions } from "./brine.ts";
import {
  BrineTag,
  DEFAULT_MAX_DEPTH,
  IMM_INT_BIAS,
  IMM_INT_MAX,
  IMM_INT_MIN,
  MAX_INT_DIGITS,
} from "./constants.ts";

/**
 * Items any compressed value may hold, however small its frame: a tuple of
 * 100,000 zeros compresses (zlib level 1, as RPyC sends) to 473 bytes, and a
 * 1,000 × 100 matrix of zeros to 983, and both stay well under this.
 */
export const COMPRESSED_ITEMS_FLOOR = 131_072;

/**
 * Items a compressed value may hold per compressed byte beyond the floor.
 * Python RPyC's zlib level-1 frames of ordinary values carry under 1 item per
 * byte (distinct records, distinct ints) to 21 (150,000 items of short
 * repeated keys and small ints); only values of one item repeated (200+) go
 * past it, and those stay under the floor up to 131,072 items.
 */
export const COMPRESSED_ITEMS_PER_BYTE = 32;

const INT_TEXT = /^[+-]?[0-9]+$/;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes one brine value, which must fill `bytes` exactly. Stricter than
 * RPyC's `brine.load`: truncated input, unknown tags, trailing bytes, ints
 * that are not plain decimal and invalid UTF-8 are all errors.
 *
 * @param bytes The encoded value.
 * @returns The value; see the module documentation for the mapping.
 * @throws {ProtocolError} If `bytes` is not exactly one well-formed value.
 */
export function load(
  bytes: Uint8Array,
  options: BrineOptions = {},
): BrineValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot decode brine: expected a Uint8Array, got ${describeValue(bytes)}`,
    );
  }
  let maxItems = options.maxItems ?? MAX_VALUE_NODES;
  // When the compressed frame's bound is the tighter one, the reader names it.
  let compressed = options.compressedBytes;
  if (compressed !== undefined) {
    const bound = Math.max(
      COMPRESSED_ITEMS_FLOOR,
      COMPRESSED_ITEMS_PER_BYTE * compressed,
    );
    if (bound < maxItems) maxItems = bound;
    else compressed = undefined;
  }
  const reader = new Reader(
    bytes,
    options.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxItems,
    compressed,
  );
  // A compressed value's items are counted in one pass over its bytes, before
  // anything is built: the bytes can be far more than crossed the wire.
  if (compressed !== undefined) reader.countItems();
  const value = reader.value(0);
  reader.end();
  return value;
}

/**
 * The string of a short all-ASCII slice of `bytes`, or null: names and keys
 * are mostly that, and a call into TextDecoder per string costs more than
 * this. One `fromCharCode` call makes the string without the intermediate
 * strings that appending a character at a time leaves behind.
 */
function shortAscii(
  bytes: Uint8Array,
  start: number,
  end: number,
): string | null {
  const length = end - start;
  if (length > SHORT_ASCII_MAX) return null;
  const codes = ASCII_CODES[length];
  for (let i = 0; i < length; i++) {
    const byte = bytes[start + i];
    if (byte > 0x7f) return null;
    codes[i] = byte;
  }
  return String.fromCharCode.apply(null, codes);
}

const SHORT_ASCII_MAX = 32;
/** One scratch array of char codes per length, reused by every string. */
const ASCII_CODES: number[][] = Array.from(
  { length: SHORT_ASCII_MAX + 1 },
  (_, length) => new Array<number>(length).fill(0),
);

/**
 * Tuples up to this many items get an array of exactly their size; longer
 * ones (whose count a peer announces) grow as their items arrive, so that a
 * count is never an allocation size.
 */
const PREALLOCATE_ITEMS = 1024;

/**
 * A cursor over one encoded value; every read checks what remains first.
 * The hot path (tags, small ints, short tuples, short strings) is written out
 * in {@linkcode Reader.value} with plain fields, since it runs once per item.
 */
class Reader {
  readonly bytes: Uint8Array;
  readonly length: number;
  offset = 0;
  readonly maxDepth: number;
  readonly maxItems: number;
  /** Items the value's tuples and frozensets may still announce. */
  itemsLeft: number;
  #view: DataView | undefined;

  /** The compressed length the value arrived as, if that sets maxItems. */
  readonly compressedBytes: number | undefined;

  constructor(
    bytes: Uint8Array,
    maxDepth: number,
    maxItems: number,
    compressedBytes: number | undefined,
  ) {
    this.bytes = bytes;
    this.length = bytes.length;
    this.maxDepth = maxDepth;
    this.maxItems = maxItems;
    this.itemsLeft = maxItems;
    this.compressedBytes = compressedBytes;
  }

  end(): void {
    const rest = this.length - this.offset;
    if (rest > 0) {
      fail(`${rest} trailing bytes after the value, at offset ${this.offset}`);
    }
  }

  value(depth: number): BrineValue {
    const at = this.offset;
    if (at >= this.length) this.need(1, "a tag");
    const tag = this.bytes[at];
    this.offset = at + 1;
    if (tag >= SMALL_INT_TAG_MIN && tag <= SMALL_INT_TAG_MAX) {
      return tag - IMM_INT_BIAS;
    }
    if (tag >= BrineTag.TUP1 && tag <= BrineTag.TUP4) {
      return new PyTuple(this.tupleItems(tag - BrineTag.TUP1 + 1, depth));
    }
    switch (tag) {
      case BrineTag.NONE:
        return null;
      case BrineTag.TRUE:
        return true;
      case BrineTag.FALSE:
        return false;
      case BrineTag.ELLIPSIS:
        return PyEllipsis;
      case BrineTag.NOT_IMPLEMENTED:
        return PyNotImplemented;
      case BrineTag.FLOAT: {
        const value = this.f64();
        return Number.isSafeInteger(value) ? new PyFloat(value) : value;
      }
      case BrineTag.COMPLEX:
        return new PyComplex(this.f64(), this.f64());
      case BrineTag.INT_L1:
      case BrineTag.INT_L4:
        return this.int(
          tag === BrineTag.INT_L1 ? this.u8("a length") : this.u32(),
        );
      case BrineTag.UNICODE:
        return this.unicode();
      case BrineTag.FSET:
        return new PyFrozenSet(this.tupleAfter("a frozenset", depth));
      case BrineTag.SLICE: {
        const items = this.tupleAfter("a slice", depth);
        if (items.length !== 3) {
          fail(`a slice needs 3 items, got ${items.length}, at offset ${at}`);
        }
        return new PySlice(items[0], items[1], items[2]);
      }
    }
    const length = this.bytesLength(tag);
    if (length >= 0) return this.take(length, "bytes").slice();
    const items = this.tupleBody(tag, depth);
    if (items !== undefined) return new PyTuple(items);
    return fail(`unknown tag 0x${hex(tag)} at offset ${at}`);
  }

  unicode(): string {
    const at = this.offset;
    const tag = this.u8("a tag");
    const length = this.bytesLength(tag);
    if (length < 0) {
      fail(`a str must wrap bytes, got tag 0x${hex(tag)} at offset ${at}`);
    }
    this.need(length, "bytes");
    const start = this.offset;
    const end = start + length;
    this.offset = end;
    const ascii = shortAscii(this.bytes, start, end);
    if (ascii !== null) return ascii;
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, end));
    } catch (cause) {
      return fail(`invalid UTF-8 in the str at offset ${at}`, cause);
    }
  }

  /** The length of the bytes body for `tag`, or -1 if it is no bytes tag. */
  bytesLength(tag: number): number {
    if (tag === BrineTag.EMPTY_STR) return 0;
    if (tag >= BrineTag.STR1 && tag <= BrineTag.STR4) {
      return tag - BrineTag.STR1 + 1;
    }
    if (tag === BrineTag.STR_L1) return this.u8("a length");
    if (tag === BrineTag.STR_L4) return this.u32();
    return -1;
  }

  tupleAfter(what: string, depth: number): readonly BrineValue[] {
    const at = this.offset;
    const tag = this.u8("a tag");
    const items = this.tupleBody(tag, depth);
    if (items === undefined) {
      fail(`${what} must wrap a tuple, got tag 0x${hex(tag)} at offset ${at}`);
    }
    return items;
  }

  /** Reads a tuple's items for `tag`, or returns undefined if it is no tuple tag. */
  tupleBody(tag: number, depth: number): readonly BrineValue[] | undefined {
    let count: number;
    if (tag === BrineTag.EMPTY_TUPLE) count = 0;
    else if (tag >= BrineTag.TUP1 && tag <= BrineTag.TUP4) {
      count = tag - BrineTag.TUP1 + 1;
    } else if (tag === BrineTag.TUP_L1) count = this.u8("a count");
    else if (tag === BrineTag.TUP_L4) count = this.u32();
    else return undefined;
    return this.tupleItems(count, depth);
  }

  /**
   * Reads `count` items, checked against what remains, the depth and the
   * item budget first. The array is frozen here, so that PyTuple and
   * PyFrozenSet keep it without a copy.
   */
  tupleItems(count: number, depth: number): readonly BrineValue[] {
    // Each item takes at least one byte: a count beyond that is a lie.
    const remaining = this.length - this.offset;
    if (count > remaining) {
      fail(
        `tuple of ${count} items cannot fit in the ${remaining} bytes remaining at offset ${this.offset}`,
      );
    }
    if (depth >= this.maxDepth) {
      fail(
        `nesting depth exceeds maxDepth ${this.maxDepth} at offset ${this.offset}`,
      );
    }
    this.itemsLeft -= count;
    if (this.itemsLeft < 0) this.overBudget(count);
    const inner = depth + 1;
    let items: BrineValue[];
    switch (count) {
      case 0:
        items = [];
        break;
      case 1:
        items = [this.value(inner)];
        break;
      case 2:
        items = [this.value(inner), this.value(inner)];
        break;
      case 3:
        items = [this.value(inner), this.value(inner), this.value(inner)];
        break;
      case 4:
        items = [
          this.value(inner),
          this.value(inner),
          this.value(inner),
          this.value(inner),
        ];
        break;
      default:
        if (count <= PREALLOCATE_ITEMS) {
          items = new Array(count);
          for (let i = 0; i < count; i++) items[i] = this.value(inner);
        } else {
          items = [];
          for (let i = 0; i < count; i++) items.push(this.value(inner));
        }
    }
    return Object.freeze(items);
  }

  /**
   * Counts the items of every tuple header, in byte order as
   * {@linkcode Reader.value} meets them, without building anything, and
   * fails as it would at the first tuple past the budget. Stops quietly at
   * anything malformed, which `value()` then reports.
   */
  countItems(): void {
    const bytes = this.bytes;
    const length = this.length;
    let left = this.itemsLeft;
    let at = 0;
    while (at < length) {
      const tag = bytes[at++];
      let skip = 0;
      let count = 0;
      if (tag >= SMALL_INT_TAG_MIN && tag <= SMALL_INT_TAG_MAX) continue;
      if (tag >= BrineTag.TUP1 && tag <= BrineTag.TUP4) {
        count = tag - BrineTag.TUP1 + 1;
      } else if (tag >= BrineTag.STR1 && tag <= BrineTag.STR4) {
        skip = tag - BrineTag.STR1 + 1;
      } else {
        switch (tag) {
          case BrineTag.TUP_L1:
            if (at + 1 > length) return;
            count = bytes[at];
            at += 1;
            break;
          case BrineTag.TUP_L4:
            if (at + 4 > length) return;
            count = this.view().getUint32(at);
            at += 4;
            break;
          case BrineTag.STR_L1:
          case BrineTag.INT_L1:
            if (at + 1 > length) return;
            skip = bytes[at] + 1;
            break;
          case BrineTag.STR_L4:
          case BrineTag.INT_L4:
            if (at + 4 > length) return;
            skip = this.view().getUint32(at) + 4;
            break;
          case BrineTag.FLOAT:
            skip = 8;
            break;
          case BrineTag.COMPLEX:
            skip = 16;
            break;
          case BrineTag.NONE:
          case BrineTag.TRUE:
          case BrineTag.FALSE:
          case BrineTag.ELLIPSIS:
          case BrineTag.NOT_IMPLEMENTED:
          case BrineTag.EMPTY_STR:
          case BrineTag.EMPTY_TUPLE:
          case BrineTag.UNICODE:
          case BrineTag.FSET:
          case BrineTag.SLICE:
            break;
          default:
            return;
        }
      }
      if (count > 0) {
        // As in tupleItems(): a count that cannot fit is that error instead.
        if (count > length - at) return;
        left -= count;
        if (left < 0) {
          this.offset = at;
          this.overBudget(count);
        }
      }
      at += skip;
    }
  }

  overBudget(count: number): never {
    const at = this.offset;
    const compressed = this.compressedBytes;
    if (compressed !== undefined) {
      fail(
        `a tuple of ${count} items at offset ${at} takes the value past ${this.maxItems} items, the most a value compressed to ${compressed} bytes may hold (max(${COMPRESSED_ITEMS_FLOOR}, ${COMPRESSED_ITEMS_PER_BYTE} × ${compressed})); send it uncompressed or in smaller parts`,
      );
    }
    fail(
      `a tuple of ${count} items at offset ${at} takes the value past maxItems ${this.maxItems}`,
    );
  }

  int(length: number): number | bigint {
    const at = this.offset;
    if (length <= 15 && length <= this.length - at) {
      const value = this.shortInt(at, at + length);
      if (value !== undefined) {
        this.offset = at + length;
        return value;
      }
    }
    if (length > MAX_INT_DIGITS + 1) {
      fail(
        `int of ${length} characters exceeds ${MAX_INT_DIGITS} digits, at offset ${at}`,
      );
    }
    const text = String.fromCharCode(...this.take(length, "int digits"));
    if (!INT_TEXT.test(text)) {
      fail(
        `int ${JSON.stringify(text)} is not decimal digits, at offset ${at}`,
      );
    }
    const digits = /^[+-]/.test(text) ? text.length - 1 : text.length;
    if (digits > MAX_INT_DIGITS) {
      fail(
        `int of ${digits} digits exceeds ${MAX_INT_DIGITS} digits, at offset ${at}`,
      );
    }
    const value = BigInt(text);
    return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
      ? Number(value)
      : value;
  }

  /**
   * The int of the decimal text from `start` to `end` (15 characters at most,
   * so always a safe integer), or undefined if it is anything else, for
   * int() to report.
   */
  shortInt(start: number, end: number): number | undefined {
    const bytes = this.bytes;
    let i = start;
    const sign = bytes[i];
    if (sign === 0x2d || sign === 0x2b) i++;
    if (i === end) return undefined;
    let value = 0;
    for (; i < end; i++) {
      const digit = bytes[i] - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    // "-0" is the int 0, not -0.
    return sign === 0x2d && value !== 0 ? -value : value;
  }

  u8(what: string): number {
    if (this.offset >= this.length) this.need(1, what);
    return this.bytes[this.offset++];
  }

  u32(): number {
    this.need(4, "a 4-byte length");
    const value = this.view().getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  f64(): number {
    this.need(8, "an 8-byte float");
    const value = this.view().getFloat64(this.offset);
    this.offset += 8;
    return value;
  }

  /** A DataView over the bytes, made the first time a u32 or f64 is read. */
  view(): DataView {
    const bytes = this.bytes;
    return this.#view ??= new DataView(
      bytes.buffer,
      bytes.byteOffset,
      bytes.byteLength,
    );
  }

  take(length: number, what: string): Uint8Array {
    this.need(length, what);
    const start = this.offset;
    this.offset += length;
    return this.bytes.subarray(start, this.offset);
  }

  need(count: number, what: string): void {
    const remaining = this.length - this.offset;
    if (count > remaining) {
      fail(
        `truncated: ${what} needs ${count} bytes at offset ${this.offset}, ${remaining} remain`,
      );
    }
  }
}

const SMALL_INT_TAG_MIN = IMM_INT_MIN + IMM_INT_BIAS;
const SMALL_INT_TAG_MAX = IMM_INT_MAX + IMM_INT_BIAS;

function fail(message: string, cause?: unknown): never {
  throw new ProtocolError(
    `Cannot decode brine: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
