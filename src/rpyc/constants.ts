/**
 * Wire constants of Python RPyC 5.3 (`rpyc/core/consts.py`, `brine.py`,
 * `channel.py`): the one place that numbers RPyC's message kinds, handlers,
 * boxing labels, brine tags and channel framing.
 *
 * Every RPyC message is sent as one channel frame. RPyC 5.x encodes it as one
 * brine tuple `(msg, seq, args)`; RPyC 6.x as one byte `msg` followed by the
 * brine tuple `(seq, args)` (see {@linkcode WireVersion}).
 *
 * @module
 */

/**
 * Message kinds: the first element of every message tuple.
 */
export const Msg = {
  /** `(REQUEST, seq, (handle, boxed_args_tuple))` */
  REQUEST: 1,
  /** `(REPLY, seq, boxed_result)` */
  REPLY: 2,
  /** `(EXCEPTION, seq, vinegar_dump)`: `((module, name), args, attrs, traceback)`, or `Exc.STOP_ITERATION` */
  EXCEPTION: 3,
} as const;

/** Type of {@linkcode Msg} values. */
export type Msg = typeof Msg[keyof typeof Msg];

/**
 * Boxing labels: how a value inside a REQUEST or REPLY travels, always as
 * `(label, value)`.
 */
export const Label = {
  /** `(VALUE, brine_value)`: a dumpable value, by value. */
  VALUE: 1,
  /** `(TUPLE, (boxed, ...))`: a tuple holding something not dumpable. */
  TUPLE: 2,
  /** `(LOCAL_REF, id_pack)`: the receiver's own object, coming back to it. */
  LOCAL_REF: 3,
  /** `(REMOTE_REF, (type_name, class_id, instance_id))`: an object the sender exports. */
  REMOTE_REF: 4,
} as const;

/** Type of {@linkcode Label} values. */
export type Label = typeof Label[keyof typeof Label];

/**
 * Request handlers: the `handle` of a REQUEST and the arguments it takes
 * (boxed together as one tuple).
 */
export const Handle = {
  /** `(data,)` → `data` */
  PING: 1,
  /** `()` → `None`; the peer closes the connection. */
  CLOSE: 2,
  /** `()` → the root (service) object. */
  GETROOT: 3,
  /** `(obj, name)` → `getattr(obj, name)` */
  GETATTR: 4,
  /** `(obj, name)` → `delattr(obj, name)` */
  DELATTR: 5,
  /** `(obj, name, value)` → `setattr(obj, name, value)` */
  SETATTR: 6,
  /** `(obj, args, kwargs=())` → `obj(*args, **dict(kwargs))` */
  CALL: 7,
  /** `(obj, name, args, kwargs=())` → `getattr(obj, name)(*args, **dict(kwargs))` */
  CALLATTR: 8,
  /** `(obj,)` → `repr(obj)` */
  REPR: 9,
  /** `(obj,)` → `str(obj)` */
  STR: 10,
  /** `(obj, other, op="__cmp__")` → `type(obj).op(obj, other)` */
  CMP: 11,
  /** `(obj,)` → `hash(obj)` */
  HASH: 12,
  /** `(obj,)` → `tuple(dir(obj))` */
  DIR: 13,
  /** `(obj, proto)` → `pickle.dumps(obj, proto)`, if the peer allows pickle */
  PICKLE: 14,
  /** `(obj, count=1)`: drop `count` references to the receiver's `obj`. */
  DEL: 15,
  /** `(id_pack,)` → `((name, doc), ...)`: the methods of the object's class */
  INSPECT: 16,
  /** `(obj, count)` → `tuple(islice(obj, count))` */
  BUFFITER: 17,
  /** `(obj, attempt, fallback, start, stop, args)`: Python 2 slicing */
  OLDSLICING: 18,
  /** `(obj, exc)` → `obj.__exit__(...)` */
  CTXEXIT: 19,
  /** `(obj, other_id_pack)` → `isinstance(other, obj)` */
  INSTANCECHECK: 20,
} as const;

/** Type of {@linkcode Handle} values. */
export type Handle = typeof Handle[keyof typeof Handle];

/**
 * Exceptions RPyC sends as a bare number instead of a vinegar tuple.
 */
export const Exc = {
  /** `(EXCEPTION, seq, STOP_ITERATION)`: the iterator is exhausted. */
  STOP_ITERATION: 1,
} as const;

/**
 * Brine type tags: the first byte of every encoded value.
 */
export const BrineTag = {
  /** `NONE` */
  NONE: 0x00,
  /** `EMPTY_STR`: `b""` */
  EMPTY_STR: 0x01,
  /** `EMPTY_TUPLE`: `()` */
  EMPTY_TUPLE: 0x02,
  /** `TRUE` */
  TRUE: 0x03,
  /** `FALSE` */
  FALSE: 0x04,
  /** `NOT_IMPLEMENTED` */
  NOT_IMPLEMENTED: 0x05,
  /** `ELLIPSIS` */
  ELLIPSIS: 0x06,
  /** `UNICODE, bytes_value`: a `str` as its UTF-8 bytes */
  UNICODE: 0x08,
  /** `STR1, byte` (STR2..STR4 follow: 2 to 4 bytes) */
  STR1: 0x0a,
  /** `STR2, byte * 2` */
  STR2: 0x0b,
  /** `STR3, byte * 3` */
  STR3: 0x0c,
  /** `STR4, byte * 4` */
  STR4: 0x0d,
  /** `STR_L1, u8 length, bytes` */
  STR_L1: 0x0e,
  /** `STR_L4, u32 length, bytes` */
  STR_L4: 0x0f,
  /** `TUP1, value` (TUP2..TUP4 follow: 2 to 4 values) */
  TUP1: 0x10,
  /** `TUP2, value * 2` */
  TUP2: 0x11,
  /** `TUP3, value * 3` */
  TUP3: 0x12,
  /** `TUP4, value * 4` */
  TUP4: 0x13,
  /** `TUP_L1, u8 count, values` */
  TUP_L1: 0x14,
  /** `TUP_L4, u32 count, values` */
  TUP_L4: 0x15,
  /** `INT_L1, u8 length, ASCII decimal digits` */
  INT_L1: 0x16,
  /** `INT_L4, u32 length, ASCII decimal digits` */
  INT_L4: 0x17,
  /** `FLOAT, f64` */
  FLOAT: 0x18,
  /** `SLICE, (start, stop, step)` */
  SLICE: 0x19,
  /** `FSET, tuple_value` */
  FSET: 0x1a,
  /** `COMPLEX, f64 real, f64 imag` */
  COMPLEX: 0x1b,
} as const;

/** Type of {@linkcode BrineTag} values. */
export type BrineTag = typeof BrineTag[keyof typeof BrineTag];

/**
 * Small ints travel as one byte, `value + IMM_INT_BIAS`, for values from
 * {@linkcode IMM_INT_MIN} to {@linkcode IMM_INT_MAX}: tags `0x20` to `0xef`.
 */
export const IMM_INT_BIAS = 0x50;
/** Smallest int brine sends as one byte. */
export const IMM_INT_MIN: number = -0x30;
/** Largest int brine sends as one byte. */
export const IMM_INT_MAX = 0x9f;

/**
 * Longest decimal int Python 3.11+ converts (`sys.int_info.default_max_str_digits`):
 * Python cannot dump or load a longer one.
 */
export const MAX_INT_DIGITS = 4300;

/**
 * Channel frame header: `u32 length, u8 compressed` (big-endian, `!LB`),
 * then `length` payload bytes, then {@linkcode CHANNEL_FLUSHER}.
 */
export const CHANNEL_HEADER_BYTES = 5;

/** The byte after every frame's payload (`"\n"`), for line-buffered transports. */
export const CHANNEL_FLUSHER = 0x0a;

/** Payloads longer than this many bytes are zlib-compressed when sending. */
export const COMPRESSION_THRESHOLD = 3000;

/** zlib level RPyC compresses with. */
export const COMPRESSION_LEVEL = 1;

/**
 * RPyC wire versions: how a message is laid out inside a channel frame.
 * The handlers, boxing and brine are the same in both.
 */
export const WireVersion = {
  /** RPyC 5.x: brine `(msg, seq, args)`; its first byte is `TUP3` (0x12). */
  V5: 5,
  /** RPyC 6.x: one byte `msg` (1 to 3), then brine `(seq, args)`. */
  V6: 6,
} as const;

/** Type of {@linkcode WireVersion} values. */
export type WireVersion = typeof WireVersion[keyof typeof WireVersion];

/**
 * First byte of a zlib stream at the levels RPyC uses (`0x78`).
 */
export const ZLIB_FIRST_BYTE = 0x78;

/**
 * Default nesting limit. RPyC boxing nests each user tuple two levels deep
 * inside a message three levels deep, and CPython's own recursion limit
 * stops it well before 500 levels.
 */
export const DEFAULT_MAX_DEPTH = 256;
