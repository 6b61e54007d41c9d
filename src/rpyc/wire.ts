/**
 * RPyC messages inside channel frames, for both wire versions: encoding,
 * decoding, telling the versions apart, and recognising an RPyC connection
 * from its first bytes.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import { ProtocolError } from "../errors.ts";
import { dump, dumpAfter, load } from "./brine.ts";
import { compressedLength } from "./channel.ts";
import { type BrineValue, PyTuple } from "./py_values.ts";
import {
  BrineTag,
  CHANNEL_HEADER_BYTES,
  IMM_INT_BIAS,
  Msg,
  WireVersion,
  ZLIB_FIRST_BYTE,
} from "./constants.ts";

/** One decoded RPyC message. */
export interface RpycMessage {
  /** {@linkcode Msg}: REQUEST, REPLY or EXCEPTION. */
  msg: Msg;
  /** The request's sequence number, echoed by its answer. */
  seq: number;
  /** REQUEST: `(handle, boxed_args)`; REPLY: a boxed value; EXCEPTION: vinegar. */
  args: BrineValue;
}

/**
 * Encodes one message for a channel frame.
 *
 * @throws {TypeError} If `args` is not dumpable.
 * @throws {RangeError} If `args` exceeds a brine limit.
 */
export function encodeMessage(
  version: WireVersion,
  msg: Msg,
  seq: number,
  args: BrineValue,
): Uint8Array {
  if (version === WireVersion.V5) return dump(PyTuple.of(msg, seq, args));
  return dumpAfter(msg, PyTuple.of(seq, args));
}

/**
 * Decodes one frame payload.
 *
 * @throws {ProtocolError} If the payload is not a well-formed message of
 *   that version.
 */
export function decodeMessage(
  version: WireVersion,
  payload: Uint8Array,
): RpycMessage {
  let msg: unknown;
  let seq: unknown;
  let args: BrineValue;
  // A compressed frame's value may hold only so many items per wire byte.
  const options = { compressedBytes: compressedLength(payload) };
  if (version === WireVersion.V5) {
    const value = load(payload, options);
    if (!(value instanceof PyTuple) || value.length !== 3) {
      throw new ProtocolError(
        `Cannot handle RPyC 5 message: expected a brine tuple (msg, seq, args), got ${
          shape(value)
        }`,
      );
    }
    [msg, seq, args] = value.items;
  } else {
    if (payload.length < 2) {
      throw new ProtocolError(
        `Cannot handle RPyC 6 message: ${payload.length} bytes is too short`,
      );
    }
    msg = payload[0];
    const value = load(payload.subarray(1), options);
    if (!(value instanceof PyTuple) || value.length !== 2) {
      throw new ProtocolError(
        `Cannot handle RPyC 6 message: expected a brine tuple (seq, args) after the message byte, got ${
          shape(value)
        }`,
      );
    }
    [seq, args] = value.items;
  }
  if (msg !== Msg.REQUEST && msg !== Msg.REPLY && msg !== Msg.EXCEPTION) {
    throw new ProtocolError(
      `Cannot handle RPyC message: unknown message kind ${String(msg)}`,
    );
  }
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    throw new ProtocolError(
      `Cannot handle RPyC message: sequence number ${
        String(seq)
      } is not an int >= 0`,
    );
  }
  return { msg, seq, args };
}

/**
 * The wire version a frame payload is written in, from its first byte.
 *
 * @returns 5, 6, or null if it is neither.
 */
export function detectVersion(payload: Uint8Array): WireVersion | null {
  const first = payload[0];
  if (first === BrineTag.TUP3) return WireVersion.V5;
  if (first >= Msg.REQUEST && first <= Msg.EXCEPTION) return WireVersion.V6;
  return null;
}

/**
 * Whether a connection's first bytes open an RPyC channel frame: a length
 * within the frame limit, a compressed flag of 0 or 1, and a payload that
 * starts as a message of either version does (5.x: `TUP3` then the message
 * kind; 6.x: the message kind then `TUP2`), or with a zlib header.
 *
 * @returns True or false, or null while more bytes are needed.
 */
export function looksLikeRpyc(first: Uint8Array): boolean | null {
  if (first.length === 0) return null;
  // Lengths up to 16 MiB (0x01000000) start with 0x00 or 0x01.
  if (first[0] > 0x01) return false;
  if (first.length < 4) return null;
  const length = new DataView(first.buffer, first.byteOffset, 4).getUint32(0);
  if (length < 2 || length > DEFAULT_MAX_FRAME_BYTES) return false;
  if (first.length < CHANNEL_HEADER_BYTES) return null;
  const flag = first[4];
  if (flag > 1) return false;
  const head = CHANNEL_HEADER_BYTES;
  if (first.length > head && !startsRight(flag, first[head], null)) {
    return false;
  }
  if (first.length < head + 2) return null;
  return startsRight(flag, first[head], first[head + 1]);
}

/** Whether a payload's first two bytes (the second if known) fit. */
function startsRight(flag: number, a: number, b: number | null): boolean {
  if (flag === 1) {
    // A zlib header: CMF 0x78, and (CMF * 256 + FLG) divisible by 31.
    return a === ZLIB_FIRST_BYTE && (b === null || (a * 256 + b) % 31 === 0);
  }
  if (a === BrineTag.TUP3) {
    return b === null || (b >= IMM_MSG_FIRST && b <= IMM_MSG_LAST);
  }
  if (a >= Msg.REQUEST && a <= Msg.EXCEPTION) {
    return b === null || b === BrineTag.TUP2;
  }
  return false;
}

// Brine's one-byte ints for the message kinds 1 to 3.
const IMM_MSG_FIRST = Msg.REQUEST + IMM_INT_BIAS;
const IMM_MSG_LAST = Msg.EXCEPTION + IMM_INT_BIAS;

function shape(value: BrineValue): string {
  if (value instanceof PyTuple) return `a tuple of ${value.length}`;
  if (value === null) return "None";
  if (typeof value === "object") return value.constructor.name;
  return typeof value;
}
