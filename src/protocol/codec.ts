/**
 * The msgpack codec of netref values, with netref's own extension types for
 * references, Map, Set, errors, large bigints, binary values and dates.
 *
 * Encoding takes a value already *lowered* by the connection (references
 * replaced by {@linkcode WireRef}/{@linkcode WireReturn}, every other
 * non-plain value by a `Wire*` marker), so msgpackr's own extensions are never
 * reached. Decoding first checks the payload's structure ({@linkcode
 * scanPayload}: node budget, depth, only netref's extension types, the exact
 * length), then rebuilds references, Maps, Sets and errors directly through
 * a {@linkcode DecodeContext}, so no second walk over the value is needed.
 *
 * msgpackr's extension registry is global to its module: netref registers
 * only its own marker classes, and leaves msgpackr's built-in ones in place
 * for any other user of the module (the structural check keeps them from
 * ever decoding here).
 *
 * @module
 */

import { addExtension, Packr } from "msgpack/encode";
import { Unpackr } from "msgpack/decode";
import {
  errorMessage,
  ProtocolError,
  type RemoteErrorInit,
} from "../core/errors.ts";
import { BinaryType, Ext } from "./constants.ts";
import { scanPayload } from "./scan.ts";

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
 * its {@linkcode BinaryType} and its bytes (a `Uint8Array` or a
 * {@linkcode WireBlob}).
 *
 * @example
 * ```ts
 * import { WireBinary } from "./codec.ts";
 * console.assert(new WireBinary(8, new Uint8Array(8)).type === 8);
 * ```
 */
export class WireBinary {
  /**
   * @param type A {@linkcode BinaryType} value.
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

/** What decoding needs from the connection to rebuild references and errors. */
export interface DecodeContext {
  /** A reference the peer exports: return its proxy. */
  importRef(id: number, kind: number): unknown;
  /** One of our own exports coming back: return the original object. */
  returnedRef(id: number): unknown;
  /** Rebuild an error from its fields. */
  rebuildError(fields: RemoteErrorInit): unknown;
}

/** The raw bytes of the blob frame being decoded, and whether they may be kept. */
let blobRegion: Uint8Array | null = null;
let blobRegionOwned = false;

let decoding: DecodeContext | null = null;

function context(): DecodeContext {
  if (decoding === null) {
    throw new ProtocolError(
      "Cannot decode a netref extension outside a connection",
    );
  }
  return decoding;
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

addExtension({
  Class: WireRef,
  type: Ext.REF,
  write: (ref: WireRef) => [ref.id, ref.kind],
  read: (data: unknown) => {
    if (!Array.isArray(data) || !isId(data[0]) || typeof data[1] !== "number") {
      throw new ProtocolError("Cannot decode reference: expected [id, kind]");
    }
    return context().importRef(data[0], data[1]);
  },
});

addExtension({
  Class: WireReturn,
  type: Ext.RETURN,
  write: (ret: WireReturn) => ret.id,
  read: (data: unknown) => {
    // 0 names the receiver's root object.
    if (data !== 0 && !isId(data)) {
      throw new ProtocolError(
        "Cannot decode returned reference: expected an id",
      );
    }
    return context().returnedRef(data as number);
  },
});

addExtension({
  Class: WireMap,
  type: Ext.MAP,
  write: (map: WireMap) => map.entries,
  read: (data: unknown) => {
    if (!Array.isArray(data) || data.length % 2 !== 0) {
      throw new ProtocolError("Cannot decode Map: expected [key, value, ...]");
    }
    const map = new Map();
    for (let i = 0; i < data.length; i += 2) map.set(data[i], data[i + 1]);
    return map;
  },
});

addExtension({
  Class: WireSet,
  type: Ext.SET,
  write: (set: WireSet) => set.items,
  read: (data: unknown) => {
    if (!Array.isArray(data)) {
      throw new ProtocolError("Cannot decode Set: expected an array");
    }
    return new Set(data);
  },
});

addExtension({
  Class: WireError,
  type: Ext.ERROR,
  write: (error: WireError) => error.fields,
  read: (data: unknown) => {
    if (
      typeof data !== "object" || data === null ||
      typeof (data as RemoteErrorInit).name !== "string" ||
      typeof (data as RemoteErrorInit).message !== "string"
    ) {
      throw new ProtocolError("Cannot decode error: expected {name, message}");
    }
    const fields = data as RemoteErrorInit;
    return context().rebuildError({
      name: fields.name,
      message: fields.message,
      stack: typeof fields.stack === "string" ? fields.stack : undefined,
      code: fields.code,
      cause: fields.cause,
    });
  },
});

addExtension({
  Class: WireBlob,
  type: Ext.BLOB,
  write: (blob: WireBlob) => [blob.offset, blob.length],
  read: (data: unknown) => {
    const region = blobRegion;
    if (
      !Array.isArray(data) || !Number.isSafeInteger(data[0]) ||
      !Number.isSafeInteger(data[1]) || data[0] < 0 || data[1] < 0 ||
      region === null || data[0] + data[1] > region.length
    ) {
      throw new ProtocolError(
        `Cannot decode blob: expected [offset, length] within the frame's ${
          region?.length ?? 0
        } raw bytes`,
      );
    }
    const view = region.subarray(data[0], data[0] + data[1]);
    return blobRegionOwned ? view : view.slice();
  },
});

type BinaryView = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) => unknown;

// Float16Array is not in every runtime.
const Float16 = (globalThis as Record<string, unknown>).Float16Array as
  | BinaryView
  | undefined;

/** Constructors of the typed {@linkcode BinaryType}s, with element sizes. */
const TYPED: [BinaryView | undefined, number][] = [];
TYPED[BinaryType.INT8] = [Int8Array, 1];
TYPED[BinaryType.UINT8_CLAMPED] = [Uint8ClampedArray, 1];
TYPED[BinaryType.INT16] = [Int16Array, 2];
TYPED[BinaryType.UINT16] = [Uint16Array, 2];
TYPED[BinaryType.INT32] = [Int32Array, 4];
TYPED[BinaryType.UINT32] = [Uint32Array, 4];
TYPED[BinaryType.FLOAT16] = [Float16, 2];
TYPED[BinaryType.FLOAT32] = [Float32Array, 4];
TYPED[BinaryType.FLOAT64] = [Float64Array, 8];
TYPED[BinaryType.BIGINT64] = [BigInt64Array, 8];
TYPED[BinaryType.BIGUINT64] = [BigUint64Array, 8];

function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
    ? bytes.buffer
    : bytes.slice().buffer;
}

function rebuildBinary(type: number, bytes: Uint8Array): unknown {
  if (type === BinaryType.ARRAY_BUFFER) return ownBuffer(bytes);
  if (type === BinaryType.DATA_VIEW) {
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  // The scan checked that the type exists here and the length divides.
  const [View, size] = TYPED[type];
  if (bytes.byteOffset % size === 0) {
    return new View!(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  }
  return new View!(bytes.slice().buffer, 0, bytes.byteLength / size);
}

addExtension({
  Class: WireBigInt,
  type: Ext.BIGINT,
  write: (big: WireBigInt) =>
    big.value < 0n ? "-" + (-big.value).toString(16) : big.value.toString(16),
  read: (hex: string) =>
    hex.charCodeAt(0) === 0x2d
      ? -BigInt("0x" + hex.slice(1))
      : BigInt("0x" + hex),
});

addExtension({
  Class: WireBinary,
  type: Ext.BINARY,
  write: (binary: WireBinary) => [binary.type, binary.bytes],
  read: (data: [number, Uint8Array]) => rebuildBinary(data[0], data[1]),
});

// Written as raw bytes, a float64 -0 with no extension header. msgpackr
// wants a type for such a writer and registers it for reading too: DATE's,
// whose reader is registered right after and replaces it.
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

addExtension({
  Class: WireDate,
  type: Ext.DATE,
  write: (date: WireDate) => date.time,
  read: (time: number) => new Date(time),
});

const packr = new Packr({ useRecords: false });
const options = { useRecords: false, mapsAsObjects: true } as const;
// Decoding a payload whose buffer is reused must copy binary values out of
// it; an owned payload can lend them its memory.
const copyingUnpackr = new Unpackr({ ...options, copyBuffers: true });
const viewingUnpackr = new Unpackr({ ...options, copyBuffers: false });

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
  scanPayload(payload, blobs === null ? null : blobs.length);
  const previous = decoding;
  decoding = ctx;
  blobRegion = blobs;
  blobRegionOwned = owned;
  try {
    return (owned ? viewingUnpackr : copyingUnpackr).unpack(payload);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(
      `Cannot decode payload of ${payload.length} bytes: ${
        errorMessage(error)
      }`,
      { cause: error },
    );
  } finally {
    decoding = previous;
    blobRegion = null;
  }
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
