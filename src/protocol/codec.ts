/**
 * The msgpack codec of netref values, with netref's own extension types for
 * references, Map, Set, errors, large bigints, binary values and dates.
 *
 * Encoding, by msgpackr, takes a value already *lowered* by the connection
 * (references replaced by {@linkcode WireRef}/{@linkcode WireReturn}, every
 * other non-plain value by a `Wire*` marker), so msgpackr's own extensions
 * are never reached. Decoding is netref's own: a structural check of the
 * payload ({@linkcode scanPayload}: item budget, depth, only netref's
 * extension types, the exact length), then one pass that builds the value,
 * references, Maps, Sets and errors included, through a
 * {@linkcode DecodeContext} ({@linkcode buildValue}).
 *
 * msgpackr's extension registry is global to its module: netref registers
 * only writers for its own marker classes, leaves msgpackr's built-in
 * extensions in place for any other user of the module, and never decodes
 * with msgpackr, so nothing registered there changes what netref decodes.
 *
 * @module
 */

import { addExtension, Packr } from "msgpackr/pack";
import { ProtocolError, type RemoteErrorInit } from "../errors.ts";
import {
  buildPlain,
  buildValue,
  type DecodeContext,
  NOT_PLAIN,
} from "./build.ts";
import { Ext, Kind, Op } from "./constants.ts";
import { scanPayload } from "./scan.ts";

export type { DecodeContext } from "./build.ts";

/**
 * An object the sender exports by reference.
 *
 * @example
 * ```ts
 * import { WireRef } from "./codec.ts";
 * const ref = new WireRef(7, 0);
 * console.assert(ref.id === 7);
 * ```
 */
export class WireRef {
  /**
   * @param id The sender's ref id.
   * @param kind A {@linkcode RefKind} value.
   */
  constructor(readonly id: number, readonly kind: number) {}
}

/**
 * An object the receiver exported earlier, coming back to it.
 *
 * @example
 * ```ts
 * import { WireReturn } from "./codec.ts";
 * console.assert(new WireReturn(3).id === 3);
 * ```
 */
export class WireReturn {
  /** @param id The receiver's ref id. */
  constructor(readonly id: number) {}
}

/**
 * A Map, its entries already lowered and flattened `[k, v, k, v, ...]`.
 *
 * @example
 * ```ts
 * import { WireMap } from "./codec.ts";
 * console.assert(new WireMap(["a", 1]).entries.length === 2);
 * ```
 */
export class WireMap {
  /** @param entries Keys and values, alternating. */
  constructor(readonly entries: unknown[]) {}
}

/**
 * A Set, its items already lowered.
 *
 * @example
 * ```ts
 * import { WireSet } from "./codec.ts";
 * console.assert(new WireSet([1, 2]).items.length === 2);
 * ```
 */
export class WireSet {
  /** @param items The items. */
  constructor(readonly items: unknown[]) {}
}

/**
 * An error, reduced to the fields that travel.
 *
 * @example
 * ```ts
 * import { WireError } from "./codec.ts";
 * console.assert(new WireError({ name: "Error", message: "x" }).fields.name === "Error");
 * ```
 */
export class WireError {
  /** @param fields Name, message, and optionally stack, code and lowered cause. */
  constructor(readonly fields: RemoteErrorInit) {}
}

/**
 * A large `Uint8Array` carried after the msgpack value of a blob frame:
 * `offset` and `length` place it among the frame's raw bytes.
 *
 * @example
 * ```ts
 * import { WireBlob } from "./codec.ts";
 * console.assert(new WireBlob(0, 65536).length === 65536);
 * ```
 */
export class WireBlob {
  /**
   * @param offset Where it starts among the frame's raw bytes.
   * @param length Its length.
   */
  constructor(readonly offset: number, readonly length: number) {}
}

/**
 * A bigint outside the 64-bit range msgpack integers hold.
 *
 * @example
 * ```ts
 * import { WireBigInt } from "./codec.ts";
 * console.assert(new WireBigInt(2n ** 70n).value > 0n);
 * ```
 */
export class WireBigInt {
  /** @param value The bigint. */
  constructor(readonly value: bigint) {}
}

/**
 * A typed array other than `Uint8Array`, an `ArrayBuffer` or a `DataView`:
 * its binary type (`BinaryType` in ./constants.ts) and its bytes (a
 * `Uint8Array` or a {@linkcode WireBlob}).
 *
 * @example
 * ```ts
 * import { WireBinary } from "./codec.ts";
 * console.assert(new WireBinary(8, new Uint8Array(8)).type === 8);
 * ```
 */
export class WireBinary {
  /**
   * @param type A `BinaryType` value.
   * @param bytes Its bytes, or the blob that carries them.
   */
  constructor(readonly type: number, readonly bytes: Uint8Array | WireBlob) {}
}

/**
 * A Date, as milliseconds since the epoch (NaN when invalid).
 *
 * @example
 * ```ts
 * import { WireDate } from "./codec.ts";
 * console.assert(new WireDate(0).time === 0);
 * ```
 */
export class WireDate {
  /** @param time `date.getTime()`. */
  constructor(readonly time: number) {}
}

/**
 * A stream the sender opens: its id and `StreamKind` (./constants.ts).
 *
 * @example
 * ```ts
 * import { WireStream } from "./codec.ts";
 * console.assert(new WireStream(1, 0).id === 1);
 * ```
 */
export class WireStream {
  /**
   * @param id The stream id, numbered by the sender.
   * @param kind A `StreamKind` value.
   */
  constructor(readonly id: number, readonly kind: number) {}
}

/**
 * The number `-0`, which msgpackr would write as the integer 0. Use the one
 * instance, {@linkcode NEGATIVE_ZERO}.
 */
class WireNegativeZero {}

/**
 * Stands for `-0` in a lowered value: encoded as a msgpack float64 -0.
 *
 * @example
 * ```ts
 * import { encodeValue, NEGATIVE_ZERO } from "./codec.ts";
 * console.assert(encodeValue(NEGATIVE_ZERO)[0] === 0xcb);
 * ```
 */
export const NEGATIVE_ZERO: object = new WireNegativeZero();

// The markers are written by msgpackr, as `d4 TYPE 00` then the value their
// `write` returns; they are read back by ./build.ts, never by msgpackr.
addExtension({
  Class: WireRef,
  type: Ext.REF,
  write: (ref: WireRef) => [ref.id, ref.kind],
});
addExtension({
  Class: WireReturn,
  type: Ext.RETURN,
  write: (ret: WireReturn) => ret.id,
});
addExtension({
  Class: WireMap,
  type: Ext.MAP,
  write: (map: WireMap) => map.entries,
});
addExtension({
  Class: WireSet,
  type: Ext.SET,
  write: (set: WireSet) => set.items,
});
addExtension({
  Class: WireError,
  type: Ext.ERROR,
  write: (error: WireError) => error.fields,
});
addExtension({
  Class: WireBlob,
  type: Ext.BLOB,
  write: (blob: WireBlob) => [blob.offset, blob.length],
});
addExtension({
  Class: WireBigInt,
  type: Ext.BIGINT,
  write: (big: WireBigInt) =>
    big.value < 0n ? "-" + (-big.value).toString(16) : big.value.toString(16),
});
addExtension({
  Class: WireBinary,
  type: Ext.BINARY,
  write: (binary: WireBinary) => [binary.type, binary.bytes],
});
addExtension({
  Class: WireDate,
  type: Ext.DATE,
  write: (date: WireDate) => date.time,
});
addExtension({
  Class: WireStream,
  type: Ext.STREAM,
  write: (stream: WireStream) => [stream.id, stream.kind],
});
// -0 is written as raw bytes, a float64 with no extension header. msgpackr
// wants a type for such a writer; it is only a registration key here.
addExtension(
  {
    Class: WireNegativeZero,
    type: Ext.DATE,
    pack: (
      _: WireNegativeZero,
      allocate: (size: number) => { target: Uint8Array; position: number },
    ) => {
      const { target, position } = allocate(9);
      target[position] = 0xcb;
      target[position + 1] = 0x80;
      target.fill(0, position + 2, position + 9);
    },
  } as unknown as Parameters<typeof addExtension>[0],
);

const packr = new Packr({ useRecords: false });

/**
 * Encodes a lowered value as one msgpack payload.
 *
 * The returned bytes stay valid: later encodes never write over them.
 *
 * @param value A lowered value (see the module doc).
 * @returns The payload.
 *
 * @example
 * ```ts
 * import { encodeValue } from "./codec.ts";
 * console.assert(encodeValue([1, "foo"]).length > 0);
 * ```
 */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** The longest member name {@linkcode encodeBareRequest} writes itself. */
const BARE_NAME_CHARS = 31;
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
 * null, false]`, byte for byte as {@linkcode encodeValue} would, without
 * going through msgpackr (whose per-message work was most of the encoding
 * of such a request).
 *
 * @param id The request id (a positive integer).
 * @param target The ref id (negative for a pipelined request).
 * @param op `Op.CALL` (no arguments) or `Op.GET`.
 * @param path The member path.
 * @returns The payload, or null when the request is not of that shape.
 *
 * @example
 * ```ts
 * import { encodeBareRequest, encodeValue } from "./codec.ts";
 * import { Kind, Op } from "./constants.ts";
 * const bytes = encodeBareRequest(1, 0, Op.CALL, ["foo"]);
 * console.assert(
 *   bytes !== null &&
 *     bytes.join() === encodeValue([Kind.REQUEST, 1, 0, Op.CALL, ["foo"], [], false]).join(),
 * );
 * ```
 */
export function encodeBareRequest(
  id: number,
  target: number,
  op: Op,
  path: readonly string[],
): Uint8Array | null {
  if (path.length > 15 || (op !== Op.CALL && op !== Op.GET)) return null;
  const idBytes = intBytes(id);
  const targetBytes = intBytes(target);
  if (idBytes === 0 || targetBytes === 0) return null;
  let size = 6 + idBytes + targetBytes;
  for (let i = 0; i < path.length; i++) {
    const name = path[i];
    if (name.length > BARE_NAME_CHARS) return null;
    for (let j = 0; j < name.length; j++) {
      if (name.charCodeAt(j) > 0x7f) return null;
    }
    size += 1 + name.length;
  }
  if (bareUsed + size > BARE_CHUNK_BYTES) {
    bareChunk = new Uint8Array(BARE_CHUNK_BYTES);
    bareUsed = 0;
  }
  const out = bareChunk;
  const start = bareUsed;
  out[start] = 0x97;
  out[start + 1] = Kind.REQUEST;
  let at = writeInt(out, start + 2, id);
  at = writeInt(out, at, target);
  out[at++] = op;
  out[at++] = 0x90 | path.length;
  for (let i = 0; i < path.length; i++) {
    const name = path[i];
    out[at++] = 0xa0 | name.length;
    for (let j = 0; j < name.length; j++) out[at++] = name.charCodeAt(j);
  }
  out[at++] = op === Op.CALL ? 0x90 : 0xc0;
  out[at] = 0xc2;
  bareUsed = start + size;
  return out.subarray(start, bareUsed);
}

/**
 * Encodes the answer to a request whose result is a short ASCII string, an
 * integer within 32 bits (not -0), a boolean or null: `[RESPONSE, id,
 * value]`, byte for byte as {@linkcode encodeValue} would, without going
 * through msgpackr.
 *
 * @param id The request id (a positive integer).
 * @param value The result, as the handler returned it.
 * @returns The payload, or null when the answer is not of that shape.
 *
 * @example
 * ```ts
 * import { encodeBareAnswer, encodeValue } from "./codec.ts";
 * import { Kind } from "./constants.ts";
 * const bytes = encodeBareAnswer(1, "foo");
 * console.assert(
 *   bytes !== null && bytes.join() === encodeValue([Kind.RESPONSE, 1, "foo"]).join(),
 * );
 * ```
 */
export function encodeBareAnswer(
  id: number,
  value: unknown,
): Uint8Array | null {
  const idBytes = intBytes(id);
  if (idBytes === 0) return null;
  let valueBytes: number;
  switch (typeof value) {
    case "string":
      if (value.length > BARE_NAME_CHARS) return null;
      for (let j = 0; j < value.length; j++) {
        if (value.charCodeAt(j) > 0x7f) return null;
      }
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
  if (bareUsed + size > BARE_CHUNK_BYTES) {
    bareChunk = new Uint8Array(BARE_CHUNK_BYTES);
    bareUsed = 0;
  }
  const out = bareChunk;
  const start = bareUsed;
  out[start] = 0x93;
  out[start + 1] = Kind.RESPONSE;
  let at = writeInt(out, start + 2, id);
  if (typeof value === "string") {
    out[at++] = 0xa0 | value.length;
    for (let j = 0; j < value.length; j++) out[at++] = value.charCodeAt(j);
  } else if (typeof value === "number") {
    writeInt(out, at, value);
  } else {
    out[at] = value === null ? 0xc0 : value ? 0xc3 : 0xc2;
  }
  bareUsed = start + size;
  return out.subarray(start, bareUsed);
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

/**
 * Decodes one msgpack payload, rebuilding references through `ctx`.
 *
 * @param payload The payload bytes.
 * @param ctx The connection receiving it.
 * @param owned Whether `payload` is never reused, so that binary values may
 *   be views into it instead of copies.
 * @param blobs The raw bytes of a blob frame, which BLOB extensions point
 *   into; null for a plain frame.
 * @returns The decoded value.
 * @throws {ProtocolError} If the bytes are not one well-formed value within
 *   the limits, made of msgpack and netref's own extensions only.
 *
 * @example
 * ```ts
 * import { decodeValue, encodeValue } from "./codec.ts";
 * const ctx = {
 *   importRef: () => null,
 *   returnedRef: () => null,
 *   rebuildError: () => new Error(),
 *   importStream: () => null,
 * };
 * console.assert(decodeValue(encodeValue("x"), ctx, false) === "x");
 * ```
 */
export function decodeValue(
  payload: Uint8Array,
  ctx: DecodeContext,
  owned: boolean,
  blobs: Uint8Array | null = null,
): unknown {
  // A small payload without references is built and checked in one pass;
  // any other, or any the pass gives up on, is scanned and then built.
  const plain = buildPlain(payload, owned);
  if (plain !== NOT_PLAIN) return plain;
  scanPayload(payload, blobs === null ? null : blobs.length);
  return buildValue(payload, ctx, owned, blobs);
}

/**
 * {@linkcode decodeValue} of a plain frame's payload, given as `data` from
 * `start` to `end`: a small payload is built where it lies, and only one that
 * needs the scan gets a view of its own.
 *
 * @param data The bytes holding the payload.
 * @param start Where the payload starts.
 * @param end Where it ends.
 * @param ctx Rebuilds references.
 * @param owned Whether `data` is never reused (see {@linkcode decodeValue}).
 * @returns The value.
 * @throws {ProtocolError} If the payload is not a valid message value.
 *
 * @example
 * ```ts ignore
 * import { decodeFrameValue } from "./codec.ts";
 * const data = new Uint8Array([9, 0x91, 0x01, 9]);
 * console.assert(decodeFrameValue(data, 1, 3, ctx, false)[0] === 1);
 * ```
 */
export function decodeFrameValue(
  data: Uint8Array,
  start: number,
  end: number,
  ctx: DecodeContext,
  owned: boolean,
): unknown {
  const plain = buildPlain(data, owned, start, end);
  if (plain !== NOT_PLAIN) return plain;
  const payload = data.subarray(start, end);
  scanPayload(payload, null);
  return buildValue(payload, ctx, owned, null);
}

/**
 * Splits a blob frame's payload into its msgpack value and its raw bytes.
 *
 * @param payload The payload of a frame whose header had the blob flag.
 * @returns The msgpack bytes and the raw bytes.
 * @throws {ProtocolError} If the announced value length does not fit.
 *
 * @example
 * ```ts
 * import { splitBlobFrame } from "./codec.ts";
 * const payload = new Uint8Array([0, 0, 0, 1, 0xc0, 9, 9]);
 * console.assert(splitBlobFrame(payload).blobs.length === 2);
 * ```
 */
export function splitBlobFrame(
  payload: Uint8Array,
): { value: Uint8Array; blobs: Uint8Array } {
  if (payload.length < 4) {
    throw new ProtocolError(
      "Cannot decode blob frame: shorter than its header",
    );
  }
  const length = new DataView(payload.buffer, payload.byteOffset, 4)
    .getUint32(0);
  if (length > payload.length - 4) {
    throw new ProtocolError(
      `Cannot decode blob frame: value of ${length} bytes in a payload of ${payload.length}`,
    );
  }
  return {
    value: payload.subarray(4, 4 + length),
    blobs: payload.subarray(4 + length),
  };
}
