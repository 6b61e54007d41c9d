/**
 * The structural check every payload passes before it is decoded: one pass
 * over the bytes that builds nothing, counts the items against
 * {@linkcode MAX_VALUE_NODES} and the nesting against
 * {@linkcode MAX_VALUE_DEPTH}, accepts only netref's own extension types with
 * well-formed payloads, requires string map keys, and requires the value to
 * end exactly at the end of the bytes. Building a payload that passed
 * (./build.ts) cannot fail on its shape: no reference is imported
 * from a frame that is then refused, and the builder has no error paths.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import {
  BinaryType,
  Ext,
  MAX_VALUE_DEPTH,
  MAX_VALUE_NODES,
} from "./constants.ts";

/** Element sizes of the {@linkcode BinaryType}s this runtime can build. */
const BINARY_ELEMENT_SIZE: number[] = (() => {
  const sizes: number[] = [];
  sizes[BinaryType.INT8] = 1;
  sizes[BinaryType.UINT8_CLAMPED] = 1;
  sizes[BinaryType.INT16] = 2;
  sizes[BinaryType.UINT16] = 2;
  sizes[BinaryType.INT32] = 4;
  sizes[BinaryType.UINT32] = 4;
  if ("Float16Array" in globalThis) sizes[BinaryType.FLOAT16] = 2;
  sizes[BinaryType.FLOAT32] = 4;
  sizes[BinaryType.FLOAT64] = 8;
  sizes[BinaryType.BIGINT64] = 8;
  sizes[BinaryType.BIGUINT64] = 8;
  sizes[BinaryType.ARRAY_BUFFER] = 1;
  sizes[BinaryType.DATA_VIEW] = 1;
  return sizes;
})();

/**
 * Longest hex string of a BIGINT: 2^26 bits, far under V8's largest bigint
 * (2^30 bits), so that building one never throws.
 */
const MAX_BIGINT_DIGITS = 1 << 24;

const EMPTY = new Uint8Array(0);
// The payload being scanned. Module state, not arguments: the scan is
// synchronous and never re-entered, and this keeps the inner loop lean.
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
let nodes = 0;
/** The raw bytes of the blob frame scanned; -1 in a plain frame. */
let blobBytes = -1;

const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const float32 = new Float32Array(1);
const float32Bytes = new Uint8Array(float32.buffer);

/**
 * Checks one payload's structure (see the module doc).
 *
 * @param payload The msgpack bytes of one message.
 * @param blobLength How many raw bytes follow the value in its blob frame,
 *   which BLOB extensions must point inside; null for a plain frame, where
 *   they are refused.
 * @throws {ProtocolError} Naming what is wrong and where.
 *
 * @example
 * ```ts
 * import { scanPayload } from "./scan.ts";
 * scanPayload(new Uint8Array([0x92, 0x01, 0xc0]), null); // [1, null]: fine
 * ```
 */
export function scanPayload(
  payload: Uint8Array,
  blobLength: number | null,
): void {
  src = payload;
  pos = 0;
  end = payload.length;
  nodes = 0;
  blobBytes = blobLength ?? -1;
  try {
    item(0);
    if (pos !== end) {
      fail(
        `${end - pos} trailing byte(s) after the value, which ends at ${pos}`,
      );
    }
  } finally {
    src = EMPTY;
  }
}

/**
 * Checks that a payload this side encoded is within the limits a receiver
 * holds it to ({@linkcode MAX_VALUE_NODES}): run on large payloads only, since
 * a payload of n bytes holds at most n items.
 *
 * @param payload The msgpack bytes of one outgoing message.
 * @param blobLength The raw bytes of its blob frame, null for a plain frame.
 * @throws {RangeError} If the peer would refuse it.
 *
 * @example
 * ```ts
 * import { checkOutgoing } from "./scan.ts";
 * checkOutgoing(new Uint8Array([0x90]), null);
 * ```
 */
export function checkOutgoing(
  payload: Uint8Array,
  blobLength: number | null,
): void {
  try {
    scanPayload(payload, blobLength);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new RangeError(
      error.message.replace("Cannot decode payload", "Cannot send message"),
    );
  }
}

function fail(reason: string): never {
  throw new ProtocolError(
    `Cannot decode payload of ${end} bytes: ${reason}`,
  );
}

function failExt(what: string, expected: string): never {
  throw new ProtocolError(
    `Cannot decode ${what}: expected ${expected} (payload of ${end} bytes, at byte ${pos})`,
  );
}

function truncated(): never {
  fail(`it is cut short at byte ${pos}`);
}

function count(n: number): void {
  nodes += n;
  if (nodes > MAX_VALUE_NODES) {
    fail(
      `it holds more than ${MAX_VALUE_NODES} items, the most one message may hold`,
    );
  }
}

function skip(n: number): void {
  if (n > end - pos) truncated();
  pos += n;
}

function u8(): number {
  if (pos >= end) truncated();
  return src[pos++];
}

function u16(): number {
  if (end - pos < 2) truncated();
  const value = (src[pos] << 8) | src[pos + 1];
  pos += 2;
  return value;
}

function u32(): number {
  if (end - pos < 4) truncated();
  const value = src[pos] * 0x1000000 +
    ((src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3]);
  pos += 4;
  return value;
}

/** One msgpack item, nested `depth` containers deep. */
function item(depth: number): void {
  if (++nodes > MAX_VALUE_NODES) count(0);
  if (pos >= end) truncated();
  const b = src[pos++];
  if (b < 0x80 || b >= 0xe0) return; // fixint
  if (b < 0xa0) {
    return b < 0x90 ? mapBody(b & 0x0f, depth) : arrayBody(b & 0x0f, depth);
  }
  if (b < 0xc0) { // fixstr
    pos += b & 0x1f;
    if (pos > end) truncated();
    return;
  }
  switch (b) {
    case 0xc0: // nil
    case 0xc2: // false
    case 0xc3: // true
      return;
    case 0xc4: // bin 8
    case 0xd9: // str 8
      return skip(u8());
    case 0xc5:
    case 0xda:
      return skip(u16());
    case 0xc6:
    case 0xdb:
      return skip(u32());
    case 0xcc:
    case 0xd0:
      return skip(1);
    case 0xcd:
    case 0xd1:
      return skip(2);
    case 0xca:
    case 0xce:
    case 0xd2:
      return skip(4);
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return skip(8);
    case 0xdc:
      return arrayBody(u16(), depth);
    case 0xdd:
      return arrayBody(u32(), depth);
    case 0xde:
      return mapBody(u16(), depth);
    case 0xdf:
      return mapBody(u32(), depth);
    case 0xd4:
      return tagged(depth);
    case 0xc7: // ext 8, 16, 32, fixext 2..16: netref uses none of them
    case 0xc8:
    case 0xc9:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {
      const header = b === 0xc7 ? 1 : b === 0xc8 ? 2 : b === 0xc9 ? 4 : 0;
      skip(header);
      return fail(
        `extension type ${extName(u8())} at byte ${pos - 1} is not netref's`,
      );
    }
    default: // 0xc1
      return fail(`byte 0x${b.toString(16)} at ${pos - 1} is not msgpack`);
  }
}

/** An extension type as msgpack numbers them (signed) and in hex. */
function extName(type: number): string {
  return `${(type << 24) >> 24} (0x${type.toString(16).padStart(2, "0")})`;
}

function enter(depth: number): void {
  if (depth >= MAX_VALUE_DEPTH) {
    fail(`it nests deeper than ${MAX_VALUE_DEPTH} levels`);
  }
}

function arrayBody(length: number, depth: number): void {
  enter(depth);
  // Every item takes a byte at least: a length past the bytes is refused
  // before the loop, and the budget before any of its items is read.
  if (length > end - pos) truncated();
  if (nodes + length > MAX_VALUE_NODES) count(length);
  for (let i = 0; i < length; i++) item(depth + 1);
}

function mapBody(length: number, depth: number): void {
  enter(depth);
  if (length * 2 > end - pos) truncated();
  if (nodes + length * 2 > MAX_VALUE_NODES) count(length * 2);
  for (let i = 0; i < length; i++) {
    key();
    item(depth + 1);
  }
}

const NAME = [0x6e, 0x61, 0x6d, 0x65]; // "name"
const MESSAGE = [0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65]; // "message"
const STACK = [0x73, 0x74, 0x61, 0x63, 0x6b]; // "stack"

function keyIs(start: number, name: number[]): boolean {
  if (pos - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if (src[start + i] !== name[i]) return false;
  }
  return true;
}

/** A map key: netref writes only string keys. */
function key(): number {
  count(1);
  const b = u8();
  let length: number;
  if (b >= 0xa0 && b < 0xc0) length = b & 0x1f;
  else if (b === 0xd9) length = u8();
  else if (b === 0xda) length = u16();
  else if (b === 0xdb) length = u32();
  else fail(`a map key at byte ${pos - 1} is not a string`);
  const start = pos;
  skip(length);
  return start;
}

/** An array header; -1 if the next item is not an array. */
function arrayHeader(): number {
  if (pos >= end) truncated();
  const b = src[pos];
  if (b >= 0x90 && b < 0xa0) {
    pos++;
    return b & 0x0f;
  }
  if (b === 0xdc) {
    pos++;
    return u16();
  }
  if (b === 0xdd) {
    pos++;
    return u32();
  }
  return -1;
}

/** Whether the last {@linkcode number} call found a number. */
let wasNumber = false;

/**
 * A number item (not a 64-bit integer, which decodes as a bigint); NaN, with
 * `wasNumber` false, when the next item is not one.
 */
function number(): number {
  count(1);
  const b = u8();
  wasNumber = true;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xca:
      if (end - pos < 4) truncated();
      for (let i = 0; i < 4; i++) float32Bytes[3 - i] = src[pos + i];
      pos += 4;
      return float32[0];
    case 0xcb:
      if (end - pos < 8) truncated();
      for (let i = 0; i < 8; i++) float64Bytes[7 - i] = src[pos + i];
      pos += 8;
      return float64[0];
    default:
      pos--;
      wasNumber = false;
      return NaN;
  }
}

function isId(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** A BLOB's payload `[offset, length]`; returns its length. */
function blob(): number {
  const what = "blob";
  const expected = blobBytes < 0
    ? "[offset, length] in a blob frame, not a plain one"
    : `[offset, length] within the frame's ${blobBytes} raw bytes`;
  if (arrayHeader() !== 2) failExt(what, expected);
  const offset = number();
  const length = number();
  if (
    blobBytes < 0 || !isCount(offset) || !isCount(length) ||
    offset + length > blobBytes
  ) {
    failExt(what, expected);
  }
  return length;
}

/** `d4 TYPE 00` and its payload; the `d4` is read. */
function tagged(depth: number): void {
  if (end - pos < 2) truncated();
  const type = src[pos];
  const filler = src[pos + 1];
  pos += 2;
  if (filler !== 0) {
    fail(`extension ${type} at byte ${pos - 2} has data byte ${filler}, not 0`);
  }
  switch (type) {
    case Ext.UNDEFINED:
      return;
    case Ext.REF: {
      if (arrayHeader() !== 2) failExt("reference", "[id, kind]");
      const id = number();
      const kind = number();
      if (!isId(id) || (kind !== 0 && kind !== 1)) {
        failExt("reference", "[id, kind]");
      }
      return;
    }
    case Ext.RETURN: {
      const id = number();
      if (id !== 0 && !isId(id)) failExt("returned reference", "an id");
      return;
    }
    case Ext.MAP: {
      const length = arrayHeader();
      if (length < 0 || length % 2 !== 0) {
        failExt("Map", "[key, value, ...]");
      }
      return arrayBody(length, depth);
    }
    case Ext.SET: {
      const length = arrayHeader();
      if (length < 0) failExt("Set", "an array");
      return arrayBody(length, depth);
    }
    case Ext.ERROR:
      return errorFields(depth);
    case Ext.BLOB:
      blob();
      return;
    case Ext.BIGINT:
      return bigint();
    case Ext.BINARY:
      return binary();
    case Ext.STREAM: {
      if (arrayHeader() !== 2) failExt("stream", "[id, kind]");
      const id = number();
      const kind = number();
      if (!isId(id) || (kind !== 0 && kind !== 1 && kind !== 2)) {
        failExt("stream", "[id, kind]");
      }
      return;
    }
    case Ext.DATE:
      number(); // NaN too: an invalid Date.
      if (!wasNumber) failExt("Date", "a number of milliseconds");
      return;
    default:
      fail(
        `extension type ${extName(type)} at byte ${pos - 2} is not netref's`,
      );
  }
}

function nextIsString(): boolean {
  const b = src[pos];
  return (b >= 0xa0 && b < 0xc0) || b === 0xd9 || b === 0xda || b === 0xdb;
}

/** An ERROR's payload: a map whose name and message (and stack) are strings. */
function errorFields(depth: number): void {
  const expected = "{name, message}";
  if (pos >= end) truncated();
  const b = src[pos++];
  let length: number;
  if (b >= 0x80 && b < 0x90) length = b & 0x0f;
  else if (b === 0xde) length = u16();
  else if (b === 0xdf) length = u32();
  else failExt("error", expected);
  enter(depth);
  if (length * 2 > end - pos) truncated();
  let found = 0;
  for (let i = 0; i < length; i++) {
    const start = key();
    const isName = keyIs(start, NAME);
    const isMessage = !isName && keyIs(start, MESSAGE);
    if (isName || isMessage || keyIs(start, STACK)) {
      if (pos >= end || !nextIsString()) failExt("error", expected);
      if (isName) found |= 1;
      if (isMessage) found |= 2;
    }
    item(depth + 1);
  }
  if (found !== 3) failExt("error", expected);
}

/** A BIGINT's payload: a str of lowercase hex digits, maybe after a "-". */
function bigint(): void {
  const expected = "a string of hex digits";
  count(1);
  const b = u8();
  let length: number;
  if (b >= 0xa0 && b < 0xc0) length = b & 0x1f;
  else if (b === 0xd9) length = u8();
  else if (b === 0xda) length = u16();
  else if (b === 0xdb) length = u32();
  else failExt("bigint", expected);
  if (length > end - pos) truncated();
  if (length > MAX_BIGINT_DIGITS) {
    failExt("bigint", `at most ${MAX_BIGINT_DIGITS} hex digits, not ${length}`);
  }
  let i = pos;
  const stop = pos + length;
  if (i < stop && src[i] === 0x2d) i++; // "-"
  if (i === stop) failExt("bigint", expected);
  for (; i < stop; i++) {
    const c = src[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) {
      failExt("bigint", expected);
    }
  }
  pos = stop;
}

/** A BINARY's payload: `[binaryType, bytes]`. */
function binary(): void {
  const expected = "[binaryType, bytes]";
  if (arrayHeader() !== 2) failExt("binary value", expected);
  const type = number();
  const size = BINARY_ELEMENT_SIZE[type];
  if (size === undefined) {
    failExt(
      "binary value",
      `a binary type this runtime has, not ${type}`,
    );
  }
  count(1);
  const b = u8();
  let length: number;
  if (b === 0xc4) length = u8();
  else if (b === 0xc5) length = u16();
  else if (b === 0xc6) length = u32();
  else if (b === 0xd4 && src[pos] === Ext.BLOB && src[pos + 1] === 0) {
    pos += 2;
    length = blob();
  } else failExt("binary value", expected);
  if (b !== 0xd4) skip(length);
  if (length % size !== 0) {
    failExt(
      "binary value",
      `a whole number of ${size}-byte elements, not ${length} bytes`,
    );
  }
}
