/**
 * Builds the value of a payload that passed {@linkcode scanPayload}: one
 * pass that trusts the structure the scan checked, so it has no error paths
 * of its own, and that knows only msgpack and netref's extension types. It
 * shares no state with msgpackr, whose extension registry is global to its
 * module: what another user of msgpackr registers cannot change how netref
 * decodes. A small payload without references may instead go through
 * {@linkcode buildPlain}, one pass that checks as it builds and gives up,
 * leaving the payload to the scan, on anything it does not build.
 *
 * @module
 */

import type { RemoteErrorInit } from "../errors.ts";
import { BinaryType, Ext, MAX_VALUE_DEPTH } from "./constants.ts";

/** What decoding needs from the connection to rebuild references and errors. */
export interface DecodeContext {
  /** A reference the peer exports: return its proxy. */
  importRef(id: number, kind: number): unknown;
  /** One of our own exports coming back: return the original object. */
  returnedRef(id: number): unknown;
  /** Rebuild an error from its fields. */
  rebuildError(fields: RemoteErrorInit): unknown;
  /** A stream the peer opens (`StreamKind` `kind`): return its local end. */
  importStream(id: number, kind: number): unknown;
}

type BinaryView = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) => unknown;

// Float16Array is not in every runtime; the scan refuses it where absent.
const Float16 = (globalThis as Record<string, unknown>).Float16Array as
  | BinaryView
  | undefined;

/** Constructors of the typed {@linkcode BinaryType}s, with element sizes. */
const TYPED: [BinaryView, number][] = [];
TYPED[BinaryType.INT8] = [Int8Array, 1];
TYPED[BinaryType.UINT8_CLAMPED] = [Uint8ClampedArray, 1];
TYPED[BinaryType.INT16] = [Int16Array, 2];
TYPED[BinaryType.UINT16] = [Uint16Array, 2];
TYPED[BinaryType.INT32] = [Int32Array, 4];
TYPED[BinaryType.UINT32] = [Uint32Array, 4];
if (Float16 !== undefined) TYPED[BinaryType.FLOAT16] = [Float16, 2];
TYPED[BinaryType.FLOAT32] = [Float32Array, 4];
TYPED[BinaryType.FLOAT64] = [Float64Array, 8];
TYPED[BinaryType.BIGINT64] = [BigInt64Array, 8];
TYPED[BinaryType.BIGUINT64] = [BigUint64Array, 8];

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();
const fromCharCode = String.fromCharCode;
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
const float32 = new Float32Array(1);
const float32Bytes = new Uint8Array(float32.buffer);

// The payload being built. Module state for a lean inner loop; saved and
// restored around each build, in case a context callback ever decodes.
let src: Uint8Array = EMPTY;
let pos = 0;
let ctx: DecodeContext | null = null;
let owned = false;
let region: Uint8Array | null = null;
/** Where the payload ends; read by the checked pass only. */
let end = 0;

/**
 * Builds the value of a scanned payload.
 *
 * @param payload The payload; it must have passed `scanPayload`.
 * @param context The connection receiving it.
 * @param isOwned Whether `payload` is never reused, so that binary values may
 *   be views into it instead of copies.
 * @param blobs The raw bytes of a blob frame, or null.
 * @returns The value.
 *
 * @example
 * ```ts
 * import { buildValue } from "./build.ts";
 * const ctx = {
 *   importRef: () => null,
 *   returnedRef: () => null,
 *   rebuildError: () => new Error(),
 *   importStream: () => null,
 * };
 * console.assert(buildValue(new Uint8Array([0xa1, 0x78]), ctx, false, null) === "x");
 * ```
 */
export function buildValue(
  payload: Uint8Array,
  context: DecodeContext,
  isOwned: boolean,
  blobs: Uint8Array | null,
): unknown {
  const savedSrc = src, savedPos = pos, savedCtx = ctx;
  const savedOwned = owned, savedRegion = region;
  src = payload;
  pos = 0;
  ctx = context;
  owned = isOwned;
  region = blobs;
  try {
    return value();
  } finally {
    src = savedSrc;
    pos = savedPos;
    ctx = savedCtx;
    owned = savedOwned;
    region = savedRegion;
  }
}

function value(): unknown {
  const b = src[pos++];
  if (b < 0x80) return b;
  if (b < 0x90) return object(b & 0x0f);
  if (b < 0xa0) return array(b & 0x0f);
  if (b < 0xc0) return string(b & 0x1f);
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bytes(u8());
    case 0xc5:
      return bytes(u16());
    case 0xc6:
      return bytes(u32());
    case 0xca:
      for (let i = 0; i < 4; i++) float32Bytes[3 - i] = src[pos + i];
      pos += 4;
      return float32[0];
    case 0xcb:
      for (let i = 0; i < 8; i++) float64Bytes[7 - i] = src[pos + i];
      pos += 8;
      return float64[0];
    case 0xcc:
      return u8();
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      return (BigInt(u32()) << 32n) | BigInt(u32());
    case 0xd0:
      return (u8() << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      return BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32()));
    case 0xd9:
      return string(u8());
    case 0xda:
      return string(u16());
    case 0xdb:
      return string(u32());
    case 0xdc:
      return array(u16());
    case 0xdd:
      return array(u32());
    case 0xde:
      return object(u16());
    case 0xdf:
      return object(u32());
    default: // 0xd4: the only other item a scanned payload holds
      return tagged();
  }
}

function u8(): number {
  return src[pos++];
}

function u16(): number {
  const n = (src[pos] << 8) | src[pos + 1];
  pos += 2;
  return n;
}

function u32(): number {
  const n = src[pos] * 0x1000000 +
    ((src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3]);
  pos += 4;
  return n;
}

function bytes(length: number): Uint8Array {
  const start = pos;
  pos += length;
  return take(src, start, length);
}

/**
 * Bytes of `from` as a plain `Uint8Array`: a view when the payload is owned,
 * else a copy. Built by hand: `from` may be a Node `Buffer`, whose `slice`
 * is a view and whose views are Buffers.
 */
function take(from: Uint8Array, start: number, length: number): Uint8Array {
  const view = new Uint8Array(from.buffer, from.byteOffset + start, length);
  return owned ? view : copy(view);
}

function copy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function string(length: number): string {
  const start = pos;
  const end = start + length;
  pos = end;
  if (length > 32) return utf8.decode(src.subarray(start, end));
  // Short ASCII (most keys and names) is quicker built here than decoded.
  let text = "";
  for (let i = start; i < end; i++) {
    const c = src[i];
    if (c >= 0x80) return utf8.decode(src.subarray(start, end));
    text += fromCharCode(c);
  }
  return text;
}

function array(length: number): unknown[] {
  const out = new Array(length);
  for (let i = 0; i < length; i++) out[i] = value();
  return out;
}

function key(): string {
  const b = src[pos++];
  if (b >= 0xa0 && b < 0xc0) return string(b & 0x1f);
  return string(b === 0xd9 ? u8() : b === 0xda ? u16() : u32());
}

function object(length: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < length; i++) {
    const name = key();
    put(out, name, value());
  }
  return out;
}

function put(out: Record<string, unknown>, name: string, item: unknown): void {
  if (name === "__proto__") {
    // An own property named so, never the prototype.
    Object.defineProperty(out, name, {
      value: item,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    out[name] = item;
  }
}

/** `d4 TYPE 00` and its payload, the `d4` read. */
function tagged(): unknown {
  const type = src[pos];
  pos += 2;
  switch (type) {
    case Ext.UNDEFINED:
      return undefined;
    case Ext.REF: {
      const [id, kind] = value() as [number, number];
      return ctx!.importRef(id, kind);
    }
    case Ext.RETURN:
      return ctx!.returnedRef(value() as number);
    case Ext.MAP: {
      const entries = value() as unknown[];
      const map = new Map();
      for (let i = 0; i < entries.length; i += 2) {
        map.set(entries[i], entries[i + 1]);
      }
      return map;
    }
    case Ext.SET:
      return new Set(value() as unknown[]);
    case Ext.ERROR: {
      const fields = value() as RemoteErrorInit;
      return ctx!.rebuildError({
        name: fields.name,
        message: fields.message,
        stack: fields.stack,
        code: fields.code,
        cause: fields.cause,
        fields: fields.fields,
      });
    }
    case Ext.BLOB: {
      const [offset, length] = value() as [number, number];
      return take(region!, offset, length);
    }
    case Ext.BIGINT: {
      const hex = value() as string;
      return hex.charCodeAt(0) === 0x2d
        ? -BigInt("0x" + hex.slice(1))
        : BigInt("0x" + hex);
    }
    case Ext.BINARY: {
      const [binaryType, data] = value() as [number, Uint8Array];
      return binary(binaryType, data);
    }
    case Ext.STREAM: {
      const [id, kind] = value() as [number, number];
      return ctx!.importStream(id, kind);
    }
    default: // Ext.DATE
      return new Date(value() as number);
  }
}

function binary(type: number, data: Uint8Array): unknown {
  if (type === BinaryType.ARRAY_BUFFER) {
    return data.byteOffset === 0 &&
        data.byteLength === data.buffer.byteLength &&
        data.buffer instanceof ArrayBuffer
      ? data.buffer
      : copy(data).buffer;
  }
  if (type === BinaryType.DATA_VIEW) {
    return new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  const [View, size] = TYPED[type];
  // A view needs its offset aligned to its element size; else a copy.
  return data.byteOffset % size === 0
    ? new View(data.buffer, data.byteOffset, data.byteLength / size)
    : new View(copy(data).buffer, 0, data.byteLength / size);
}

/**
 * The largest payload {@linkcode buildPlain} takes. A payload of n bytes
 * holds at most n items and nests at most n containers (each takes a byte at
 * least), so one of at most {@linkcode MAX_VALUE_DEPTH} bytes can reach
 * neither limit the scan counts (MAX_VALUE_DEPTH levels, MAX_VALUE_NODES
 * items, which is larger): the checked pass need not count them.
 */
export const PLAIN_MAX_BYTES = MAX_VALUE_DEPTH;

/** What {@linkcode buildPlain} returns for a payload it leaves to the scan. */
export const NOT_PLAIN: unique symbol = Symbol("not plain");

/** Thrown inside the checked pass to give up; caught in buildPlain. */
const GIVE_UP = { reason: "not plain" };

/**
 * Builds a small payload in one pass that checks what the scan would, or
 * gives up: a payload of at most {@linkcode PLAIN_MAX_BYTES} bytes made of
 * msgpack and `undefined` only, with string map keys, ending exactly at its
 * last byte, is built; anything else (an extension that needs the
 * connection, a byte that is not msgpack, a cut or trailing byte, a
 * non-string key, a larger payload) returns {@linkcode NOT_PLAIN} with
 * nothing built that reached the connection, and the caller scans and builds
 * it as any payload, so that every refusal is the scan's, with its message.
 *
 * @param payload The payload of a plain or blob frame, or bytes holding it.
 * @param isOwned Whether `payload` is never reused (see {@linkcode buildValue}).
 * @param start Where the payload starts in `payload`.
 * @param stop Where it ends.
 * @returns The value, or {@linkcode NOT_PLAIN}.
 *
 * @example
 * ```ts
 * import { buildPlain, NOT_PLAIN } from "./build.ts";
 * console.assert(buildPlain(new Uint8Array([0x91, 0xc0]), false) !== NOT_PLAIN);
 * console.assert(buildPlain(new Uint8Array([0x91]), false) === NOT_PLAIN);
 * ```
 */
export function buildPlain(
  payload: Uint8Array,
  isOwned: boolean,
  start = 0,
  stop: number = payload.length,
): unknown {
  if (stop - start > PLAIN_MAX_BYTES) return NOT_PLAIN;
  const savedSrc = src, savedPos = pos, savedOwned = owned, savedEnd = end;
  src = payload;
  pos = start;
  owned = isOwned;
  end = stop;
  try {
    const out = plainValue();
    return pos === end ? out : NOT_PLAIN;
  } catch (error) {
    if (error === GIVE_UP) return NOT_PLAIN;
    throw error;
  } finally {
    src = savedSrc;
    pos = savedPos;
    owned = savedOwned;
    end = savedEnd;
  }
}

/** Gives up unless `n` more bytes are there. */
function need(n: number): void {
  if (n > end - pos) throw GIVE_UP;
}

/** Bytes after the lead byte of the fixed-size numbers 0xca..0xd3. */
const NUMBER_WIDTH = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8];

/** One item, checked as the scan checks it, built as {@linkcode value}. */
function plainValue(): unknown {
  need(1);
  const b = src[pos++];
  if (b < 0x80) return b;
  if (b < 0x90) return plainObject(b & 0x0f);
  if (b < 0xa0) return plainArray(b & 0x0f);
  if (b < 0xc0) {
    need(b & 0x1f);
    return string(b & 0x1f);
  }
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0xca && b <= 0xd3) {
    need(NUMBER_WIDTH[b - 0xca]);
    pos--;
    return value();
  }
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      need(1);
      return plainBytes(u8());
    case 0xc5:
      need(2);
      return plainBytes(u16());
    case 0xc6:
      need(4);
      return plainBytes(u32());
    case 0xd9:
      need(1);
      return plainString(u8());
    case 0xda:
      need(2);
      return plainString(u16());
    case 0xdb:
      need(4);
      return plainString(u32());
    case 0xdc:
      need(2);
      return plainArray(u16());
    case 0xdd:
      need(4);
      return plainArray(u32());
    case 0xde:
      need(2);
      return plainObject(u16());
    case 0xdf:
      need(4);
      return plainObject(u32());
    case 0xd4:
      need(2);
      if (src[pos] !== Ext.UNDEFINED || src[pos + 1] !== 0) throw GIVE_UP;
      pos += 2;
      return undefined;
    default: // 0xc1, and extensions that are not `d4 TYPE 00`
      throw GIVE_UP;
  }
}

function plainBytes(length: number): Uint8Array {
  need(length);
  return bytes(length);
}

function plainString(length: number): string {
  need(length);
  return string(length);
}

function plainArray(length: number): unknown[] {
  // Every item takes a byte at least: checked before the array is made.
  need(length);
  const out = new Array(length);
  for (let i = 0; i < length; i++) out[i] = plainValue();
  return out;
}

function plainObject(length: number): Record<string, unknown> {
  need(length * 2);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < length; i++) {
    const name = plainKey();
    put(out, name, plainValue());
  }
  return out;
}

/** A map key: a string, as the scan requires. */
function plainKey(): string {
  need(1);
  const b = src[pos++];
  if (b >= 0xa0 && b < 0xc0) return plainString(b & 0x1f);
  if (b === 0xd9) {
    need(1);
    return plainString(u8());
  }
  if (b === 0xda) {
    need(2);
    return plainString(u16());
  }
  if (b !== 0xdb) throw GIVE_UP;
  need(4);
  return plainString(u32());
}
