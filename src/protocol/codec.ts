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
import { Ext } from "./constants.ts";
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
