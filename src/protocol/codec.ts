/**
 * The msgpack codec of netref values, with extension types for references,
 * Map, Set and errors.
 *
 * Encoding takes a value already *lowered* by the connection (references
 * replaced by {@linkcode WireRef}/{@linkcode WireReturn}, containers by the
 * other `Wire*` markers). Decoding rebuilds references, Maps, Sets and errors
 * directly through a {@linkcode DecodeContext}, so no second walk is needed.
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
import { Ext } from "./constants.ts";

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
 * @throws {RangeError} If a bigint does not fit in 64 bits.
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
 * @throws {ProtocolError} If the bytes are not a well-formed value.
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
