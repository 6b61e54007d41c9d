/**
 * Hand-written msgpack for the two most common messages, a call with no
 * arguments (or a read) and the answer with a short string, a small integer,
 * a boolean or null: byte for byte what `encodeValue` (codec.ts) gives, without
 * msgpackr's per-message work, which was most of the cost of such a message.
 *
 * @module
 */

import { Kind, Op } from "./constants.ts";
import type { FrameSlice } from "./frame.ts";

/** The longest string (a member name, an answer) written here as a fixstr. */
const SHORT_ASCII_CHARS = 31;
/**
 * Bare requests are cut from chunks of this size, never reused (a request's
 * bytes stay valid): a fresh small `Uint8Array` per request costs more
 * than the whole encoding, since each gets an `ArrayBuffer` of its own.
 */
const BARE_CHUNK_BYTES = 8192;
let bareChunk = new Uint8Array(BARE_CHUNK_BYTES);
let bareUsed = 0;

/**
 * Encodes the request of a call with no arguments, or of a read, when its
 * path is a few short ASCII names: `[REQUEST, id, target, op, path, [] or
 * null, false]`, byte for byte as `encodeValue` (codec.ts) would, without
 * going through msgpackr (whose per-message work was most of the encoding
 * of such a request).
 *
 * @param id The request id (a positive integer).
 * @param target The ref id (negative for a pipelined request).
 * @param op `Op.CALL` (no arguments) or `Op.GET`.
 * @param path The member path.
 * @param into Where the payload is: the request's own record, so that
 *   encoding it makes no object.
 * @returns Whether the request had that shape; false leaves `into` as it was.
 *
 * @example
 * ```ts
 * import { encodeBareRequest } from "./bare.ts";
 * import { encodeValue } from "./codec.ts";
 * import { Kind, Op } from "./constants.ts";
import type { FrameSlice } from "./frame.ts";
 * const into = { bytes: new Uint8Array(0), start: 0, end: 0 };
 * console.assert(encodeBareRequest(1, 0, Op.CALL, ["foo"], into));
 * console.assert(
 *   into.bytes.subarray(into.start, into.end).join() ===
 *     encodeValue([Kind.REQUEST, 1, 0, Op.CALL, ["foo"], [], false]).join(),
 * );
 * ```
 */
export function encodeBareRequest(
  id: number,
  target: number,
  op: Op,
  path: readonly string[],
  into: FrameSlice,
): boolean {
  if (path.length > 15 || (op !== Op.CALL && op !== Op.GET)) return false;
  const idBytes = intBytes(id);
  const targetBytes = intBytes(target);
  if (idBytes === 0 || targetBytes === 0) return false;
  let size = 6 + idBytes + targetBytes;
  for (let i = 0; i < path.length; i++) {
    const name = path[i];
    if (!isShortAscii(name)) return false;
    size += 1 + name.length;
  }
  const start = reserve(size);
  const out = bareChunk;
  out[start] = 0x97;
  out[start + 1] = Kind.REQUEST;
  let at = writeInt(out, start + 2, id);
  at = writeInt(out, at, target);
  out[at++] = op;
  out[at++] = 0x90 | path.length;
  for (let i = 0; i < path.length; i++) at = writeShortAscii(out, at, path[i]);
  out[at++] = op === Op.CALL ? 0x90 : 0xc0;
  out[at] = 0xc2;
  into.bytes = out;
  into.start = start;
  into.end = start + size;
  return true;
}

/**
 * Encodes the answer to a request whose result is a short ASCII string, an
 * integer within 32 bits (not -0), a boolean or null: `[RESPONSE, id,
 * value]`, byte for byte as `encodeValue` (codec.ts) would, without going
 * through msgpackr.
 *
 * @param id The request id (a positive integer).
 * @param value The result, as the handler returned it.
 * @returns Where the payload is, or null when the answer is not of that
 *   shape.
 *
 * @example
 * ```ts
 * import { encodeBareAnswer } from "./bare.ts";
 * import { encodeValue } from "./codec.ts";
 * import { Kind } from "./constants.ts";
 * const slice = encodeBareAnswer(1, "foo");
 * console.assert(
 *   slice !== null &&
 *     slice.bytes.subarray(slice.start, slice.end).join() ===
 *       encodeValue([Kind.RESPONSE, 1, "foo"]).join(),
 * );
 * ```
 */
export function encodeBareAnswer(
  id: number,
  value: unknown,
): FrameSlice | null {
  const idBytes = intBytes(id);
  if (idBytes === 0) return null;
  let valueBytes: number;
  switch (typeof value) {
    case "string":
      if (!isShortAscii(value)) return null;
      valueBytes = 1 + value.length;
      break;
    case "number":
      if (!Number.isInteger(value) || Object.is(value, -0)) return null;
      valueBytes = intBytes(value);
      if (valueBytes === 0) return null;
      break;
    case "boolean":
      valueBytes = 1;
      break;
    default:
      if (value !== null) return null;
      valueBytes = 1;
  }
  const size = 2 + idBytes + valueBytes;
  const start = reserve(size);
  const out = bareChunk;
  out[start] = 0x93;
  out[start + 1] = Kind.RESPONSE;
  const at = writeInt(out, start + 2, id);
  if (typeof value === "string") {
    writeShortAscii(out, at, value);
  } else if (typeof value === "number") {
    writeInt(out, at, value);
  } else {
    out[at] = value === null ? 0xc0 : value ? 0xc3 : 0xc2;
  }
  return { bytes: out, start, end: start + size };
}

/**
 * Where `size` bytes of the current chunk start, taken for one message; a
 * chunk too full for them is left to the messages already in it.
 */
function reserve(size: number): number {
  if (bareUsed + size > BARE_CHUNK_BYTES) {
    bareChunk = new Uint8Array(BARE_CHUNK_BYTES);
    bareUsed = 0;
  }
  const start = bareUsed;
  bareUsed += size;
  return start;
}

/** Whether a string fits a fixstr of single bytes (at most 31, all ASCII). */
function isShortAscii(text: string): boolean {
  if (text.length > SHORT_ASCII_CHARS) return false;
  for (let j = 0; j < text.length; j++) {
    if (text.charCodeAt(j) > 0x7f) return false;
  }
  return true;
}

/** Writes a string {@linkcode isShortAscii} passed; returns the offset after. */
function writeShortAscii(out: Uint8Array, at: number, text: string): number {
  out[at++] = 0xa0 | text.length;
  for (let j = 0; j < text.length; j++) out[at++] = text.charCodeAt(j);
  return at;
}

/** Bytes of an integer's msgpack form, 0 for one outside int32/uint32. */
function intBytes(value: number): number {
  if (value >= 0) {
    if (value < 0x80) return 1;
    if (value < 0x100) return 2;
    if (value < 0x10000) return 3;
    return value <= 0xffffffff && Number.isInteger(value) ? 5 : 0;
  }
  if (value >= -0x20) return 1;
  if (value >= -0x80) return 2;
  if (value >= -0x8000) return 3;
  return value >= -0x80000000 && Number.isInteger(value) ? 5 : 0;
}

/** Writes an integer as msgpackr does; returns the offset after it. */
function writeInt(out: Uint8Array, at: number, value: number): number {
  if (value >= 0) {
    if (value < 0x80) {
      out[at] = value;
      return at + 1;
    }
    if (value < 0x100) {
      out[at] = 0xcc;
      out[at + 1] = value;
      return at + 2;
    }
    if (value < 0x10000) {
      out[at] = 0xcd;
      out[at + 1] = value >>> 8;
      out[at + 2] = value & 0xff;
      return at + 3;
    }
    out[at] = 0xce;
  } else {
    if (value >= -0x20) {
      out[at] = value & 0xff;
      return at + 1;
    }
    if (value >= -0x80) {
      out[at] = 0xd0;
      out[at + 1] = value & 0xff;
      return at + 2;
    }
    if (value >= -0x8000) {
      out[at] = 0xd1;
      out[at + 1] = (value >> 8) & 0xff;
      out[at + 2] = value & 0xff;
      return at + 3;
    }
    out[at] = 0xd2;
  }
  out[at + 1] = (value >>> 24) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = (value >>> 8) & 0xff;
  out[at + 4] = value & 0xff;
  return at + 5;
}
