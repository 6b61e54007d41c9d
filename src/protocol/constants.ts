/**
 * Wire constants of the native netref protocol: the one place that numbers
 * message kinds, operations, targets and extension types.
 *
 * @module
 */

/** The four bytes every native netref connection opens with. */
export const MAGIC: Uint8Array = new Uint8Array([0x4e, 0x52, 0x45, 0x46]); // "NREF"

/** Protocol version sent after the magic; peers must agree on it. */
export const PROTOCOL_VERSION = 1;

/** Message kinds: the first element of every message array. */
export const Kind = {
  /** `[REQUEST, id, target, op, path, payload, hold]` */
  REQUEST: 0,
  /** `[RESPONSE, id, value]` */
  RESPONSE: 1,
  /** `[ERROR, id, error]` */
  ERROR: 2,
  /** `[CANCEL, id]` */
  CANCEL: 3,
  /** `[RELEASE, [refId, count, refId, count, ...], [heldRequestId, ...]]` */
  RELEASE: 4,
  /** `[PING, id]` */
  PING: 5,
  /** `[PONG, id]` */
  PONG: 6,
  /** `[CLOSE, reason]` */
  CLOSE: 7,
  /** `[STREAM_CREDIT, streamId, items]`: the consumer may take `items` more. */
  STREAM_CREDIT: 8,
  /** `[STREAM_ITEMS, streamId, [item, ...]]`: items within the credit. */
  STREAM_ITEMS: 9,
  /** `[STREAM_END, streamId, error]`: the last message; error nil when done. */
  STREAM_END: 10,
  /** `[STREAM_CANCEL, streamId]`: the consumer stops; STREAM_END follows. */
  STREAM_CANCEL: 11,
} as const;

/** Operations a REQUEST applies to the member its path names. */
export const Op = {
  /** Read the member; payload is null. */
  GET: 0,
  /** Write the member; payload is the new value. */
  SET: 1,
  /** Call the member; payload is the argument array. */
  CALL: 2,
  /** List the exposed members of the object the path names; payload is null. */
  DIR: 3,
} as const;

/** Type of {@linkcode Op} values. */
export type Op = typeof Op[keyof typeof Op];

/**
 * A request's target: ROOT, a positive ref id exported by the receiver, or the
 * negated id of an earlier request whose result the receiver holds.
 */
export const ROOT_TARGET = 0;

/**
 * msgpack extension type numbers of netref values: the only ones a decoder
 * accepts. Each but UNDEFINED is written `d4 TYPE 00` (a fixext 1 whose data
 * byte is 0) followed by one msgpack value, its payload, described here.
 */
export const Ext = {
  /** No payload: `d4 00 00` alone is `undefined`. */
  UNDEFINED: 0,
  /** `[refId, kind]`: an object the sender exports by reference. */
  REF: 1,
  /** `refId`: an object the receiver exported, coming back to it. */
  RETURN: 2,
  /** `[key, value, key, value, ...]`: a Map. */
  MAP: 3,
  /** `[value, ...]`: a Set. */
  SET: 4,
  /** `{name, message, stack?, code?, cause?}`: an error. */
  ERROR: 5,
  /**
   * `[offset, length]`: a large `Uint8Array` carried after the msgpack value,
   * in a blob frame (see {@linkcode BLOB_FRAME_FLAG}).
   */
  BLOB: 6,
  /** `"-"? hexDigits` (a str): a bigint outside the 64-bit integer range. */
  BIGINT: 7,
  /**
   * `[binaryType, bytes]`, bytes a bin or a BLOB: a typed array other than
   * `Uint8Array`, an `ArrayBuffer` or a `DataView` (see {@linkcode BinaryType}).
   */
  BINARY: 8,
  /** `milliseconds` (a number, NaN for an invalid date): a Date. */
  DATE: 9,
  /**
   * `[streamId, streamKind]`: a stream the sender opens (see
   * {@linkcode StreamKind}); its items follow in STREAM_* messages.
   */
  STREAM: 10,
} as const;

/**
 * What an {@linkcode Ext.STREAM} is. The side that sends it numbers it: odd
 * ids for the connecting side, even ids for the accepting side.
 */
export const StreamKind = {
  /** An async iterable; the sender produces its items. */
  ITERABLE: 0,
  /** A `ReadableStream`; the sender produces its chunks. */
  READABLE: 1,
  /** A `WritableStream`; the receiver produces the chunks written to it. */
  WRITABLE: 2,
} as const;

/**
 * What the bytes of an {@linkcode Ext.BINARY} are. Elements are in
 * little-endian order; the byte length is a multiple of the element size.
 */
export const BinaryType = {
  INT8: 0,
  UINT8_CLAMPED: 1,
  INT16: 2,
  UINT16: 3,
  INT32: 4,
  UINT32: 5,
  FLOAT16: 6,
  FLOAT32: 7,
  FLOAT64: 8,
  BIGINT64: 9,
  BIGUINT64: 10,
  ARRAY_BUFFER: 11,
  DATA_VIEW: 12,
} as const;

/**
 * Most msgpack items one message may hold (every array, map, key, string,
 * number... counts one, and so do the items of an extension's payload),
 * checked before decoding starts, so that the work a frame causes stays
 * proportional to its size.
 */
export const MAX_VALUE_NODES = 1_000_000;

/** Deepest nesting of arrays and maps a decoded message may have. */
export const MAX_VALUE_DEPTH = 256;

/**
 * Set in a frame header's length: the payload is a u32 length of a msgpack
 * value, the value, then the raw bytes its BLOB extensions point into. Large
 * binary values travel so, uncopied by the codec, between peers that both
 * announce the `blobs` feature.
 */
export const BLOB_FRAME_FLAG = 0x80000000;

/** Largest frame payload length; the header's top bit is the blob flag. */
export const MAX_FRAME_LENGTH = 0x7fffffff;

/** `Uint8Array`s at least this large travel as blobs. */
export const BLOB_MIN_BYTES = 64 * 1024;

/** Kinds of referenced objects, carried in an {@linkcode Ext.REF}. */
export const RefKind = {
  /** An object: members are reachable, it cannot be called. */
  OBJECT: 0,
  /** A function: it can be called. */
  FUNCTION: 1,
} as const;

/** The encoded form of `false` and `true` in msgpack: the hold flag's byte. */
export const MSGPACK_FALSE = 0xc2;
/** See {@linkcode MSGPACK_FALSE}. */
export const MSGPACK_TRUE = 0xc3;
