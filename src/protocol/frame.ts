/**
 * Length-prefixed framing: a u32 big-endian payload length, then the payload.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { BLOB_FRAME_FLAG } from "./constants.ts";

/** Bytes in a frame header. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Receives each whole frame's payload: `data` from `start` to `end` (a view
 * per frame would cost more than decoding a small one). `owned`: the decoder
 * never touches those bytes again, so they may be kept. `blob`: the header
 * carried the blob flag.
 */
export type FrameHandler = (
  data: Uint8Array,
  start: number,
  end: number,
  owned: boolean,
  blob: boolean,
) => void;

/**
 * The rest of a frame at least this large is read straight into place,
 * however little of it is missing: another read of a few bytes costs less
 * than carrying the frame through the read buffer, which copies it twice.
 */
const DIRECT_READ_BYTES = 16 * 1024;

/**
 * Incremental frame decoder: feed it bytes as they arrive, it hands out each
 * complete payload. A length over the maximum is a {@linkcode ProtocolError}
 * raised before anything is allocated for it.
 *
 * Payloads handed to `onFrame` may be views into the caller's chunk, which
 * the caller may reuse once `push` returns, unless `owned` is true: consume
 * them synchronously.
 *
 * @example
 * ```ts
 * import { FrameDecoder, encodeFrames } from "./frame.ts";
 * const decoder = new FrameDecoder(1024);
 * decoder.push(encodeFrames([new Uint8Array([1, 2])]), (payload) => console.log(payload));
 * ```
 */
export class FrameDecoder {
  #maxFrameBytes: number;
  #buffer: Uint8Array | null = null;
  #length = 0;

  /**
   * @param maxFrameBytes Largest payload accepted.
   */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received that do not yet make a whole frame. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Consumes `chunk`, calling `onFrame` for every complete payload.
   *
   * @param chunk Bytes just read; only read during this call.
   * @param onFrame Receives each payload; when `owned` is true the payload is
   *   never touched again by the decoder and may be kept.
   * @throws {ProtocolError} If a frame announces more than the maximum.
   */
  push(
    chunk: Uint8Array,
    onFrame: FrameHandler,
  ): void {
    if (this.#length === 0) return this.#scan(chunk, false, onFrame);
    this.#append(chunk);
    this.#scan(this.#buffer!.subarray(0, this.#length), true, onFrame);
  }

  /**
   * Where to read the rest of a large frame being assembled, so that its
   * bytes land in place instead of passing through a read buffer: the
   * frame's missing part, or null when no large frame is under way.
   *
   * @returns A view to read into; then call {@linkcode commit}.
   */
  readTarget(): Uint8Array | null {
    if (this.#buffer === null || this.#length < FRAME_HEADER_BYTES) return null;
    const end = FRAME_HEADER_BYTES + this.#lengthAt(this.#buffer, 0);
    if (end < DIRECT_READ_BYTES) return null;
    return this.#buffer.subarray(this.#length, end);
  }

  /**
   * Takes `n` bytes read into {@linkcode readTarget}'s view.
   *
   * @param n Bytes read.
   * @param onFrame As for {@linkcode push}.
   */
  commit(
    n: number,
    onFrame: FrameHandler,
  ): void {
    this.#length += n;
    this.#scan(this.#buffer!.subarray(0, this.#length), true, onFrame);
  }

  /**
   * Hands out the whole frames of `data`, and keeps the rest. `owned`: data
   * is this decoder's own buffer.
   */
  #scan(
    data: Uint8Array,
    owned: boolean,
    onFrame: FrameHandler,
  ): void {
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#lengthAt(data, offset);
      const start = offset + FRAME_HEADER_BYTES;
      if (data.length - start < length) break;
      const blob = (data[offset] & 0x80) !== 0;
      offset = start + length;
      onFrame(data, start, offset, owned, blob);
    }
    const rest = data.length - offset;
    this.#length = rest;
    if (rest === 0) {
      this.#buffer = null;
      return;
    }
    const capacity = rest >= FRAME_HEADER_BYTES
      ? FRAME_HEADER_BYTES + this.#lengthAt(data, offset)
      : 4096;
    if (owned && offset === 0) {
      // Nothing was handed out of our buffer: keep assembling in it.
      if (this.#buffer!.length < capacity) this.#grow(capacity);
      return;
    }
    // Payloads handed out of an owned buffer are the caller's now, so the
    // rest moves to a fresh buffer, sized for its whole frame at once.
    const buffer = new Uint8Array(Math.max(capacity, rest));
    buffer.set(data.subarray(offset));
    this.#buffer = buffer;
  }

  #lengthAt(data: Uint8Array, offset: number): number {
    // The top bit is the blob flag, not part of the length.
    const length = (data[offset] & 0x7f) * 0x1000000 +
      ((data[offset + 1] << 16) | (data[offset + 2] << 8) | data[offset + 3]);
    if (length > this.#maxFrameBytes) {
      throw new ProtocolError(
        `Cannot decode frame: length ${length} exceeds maxFrameBytes ${this.#maxFrameBytes}`,
      );
    }
    return length;
  }

  #append(chunk: Uint8Array): void {
    const needed = this.#length + chunk.length;
    if (needed > this.#buffer!.length) {
      this.#grow(Math.max(needed, this.#buffer!.length * 2));
    }
    this.#buffer!.set(chunk, this.#length);
    this.#length = needed;
  }

  #grow(capacity: number): void {
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer!.subarray(0, this.#length));
    this.#buffer = grown;
  }
}

/**
 * Encodes payloads as consecutive frames in one buffer, ready for one write.
 *
 * @param payloads The payloads, in order.
 * @param scratch A buffer to reuse when it is large enough; the caller must
 *   be done with what an earlier call wrote there.
 * @returns Header and payload of every frame, back to back: a view of
 *   `scratch`, or a new buffer.
 *
 * @example
 * ```ts
 * import { encodeFrames } from "./frame.ts";
 * console.assert(encodeFrames([new Uint8Array(3)]).length === 7);
 * ```
 */
export function encodeFrames(
  payloads: readonly (Uint8Array | FrameSlice)[],
  scratch?: Uint8Array,
): Uint8Array {
  // Indexed loops: this runs once per write, and an iterator would be
  // garbage each time.
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    total += FRAME_HEADER_BYTES + frameLength(payloads[i]);
  }
  const out = scratch !== undefined && scratch.length >= total
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < payloads.length; i++) {
    const payload = payloads[i];
    const length = frameLength(payload);
    out[offset] = length >>> 24;
    out[offset + 1] = (length >>> 16) & 0xff;
    out[offset + 2] = (length >>> 8) & 0xff;
    out[offset + 3] = length & 0xff;
    offset += FRAME_HEADER_BYTES;
    if (payload instanceof Uint8Array || length > COPIED_SLICE_BYTES) {
      out.set(viewOf(payload), offset);
    } else {
      // A few bytes copied one by one cost less than a view to copy from.
      const { bytes, start } = payload;
      for (let j = 0; j < length; j++) out[offset + j] = bytes[start + j];
    }
    offset += length;
  }
  return out;
}

/** A slice up to this long is copied byte by byte, without a view. */
const COPIED_SLICE_BYTES = 64;

/** A piece at least this large is written as it is, not copied into a batch. */
const SEPARATE_PAYLOAD_BYTES = 64 * 1024;

/**
 * A blob frame to write: `head` is the u32 length of the msgpack value and
 * the value; `blobs` are the raw bytes its BLOB extensions point into.
 */
export interface BlobFrame {
  readonly head: Uint8Array;
  readonly blobs: readonly Uint8Array[];
}

/**
 * A payload that lies in a larger buffer, `bytes` from `start` to `end`:
 * what the hand-written encoders give (a view of its own per message costs
 * more than encoding it).
 */
export interface FrameSlice {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/** A frame to write: a payload, a slice of one, or the parts of a blob frame. */
export type OutgoingFrame = Uint8Array | FrameSlice | BlobFrame;

/** Whether a frame to write is a {@linkcode BlobFrame}. */
function isBlobFrame(frame: OutgoingFrame): frame is BlobFrame {
  return (frame as BlobFrame).blobs !== undefined;
}

/** The bytes of a payload or slice, as a view (made only when needed). */
function viewOf(payload: Uint8Array | FrameSlice): Uint8Array {
  return payload instanceof Uint8Array
    ? payload
    : payload.bytes.subarray(payload.start, payload.end);
}

/**
 * Frames payloads for writing, in order: small pieces are batched into one
 * buffer (as {@linkcode encodeFrames} does), while a large piece (a large
 * payload or blob) is not copied: the batch before it ends, and the piece
 * itself is the next buffer.
 *
 * @param frames The frames, in order.
 * @param scratch A buffer to reuse for one batch when it is large enough; the
 *   caller must be done with what an earlier call wrote there.
 * @returns The buffers to write, in order.
 *
 * @example
 * ```ts
 * import { encodeFrameChunks } from "./frame.ts";
 * const chunks = encodeFrameChunks([new Uint8Array(3), new Uint8Array(100_000)]);
 * console.assert(chunks.length === 2 && chunks[1].length === 100_000);
 * ```
 */
export function encodeFrameChunks(
  frames: readonly OutgoingFrame[],
  scratch?: Uint8Array,
): Uint8Array[] {
  let simple = true;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i];
    if (isBlobFrame(frame) || frameLength(frame) >= SEPARATE_PAYLOAD_BYTES) {
      simple = false;
      break;
    }
  }
  if (simple) {
    return [encodeFrames(frames as (Uint8Array | FrameSlice)[], scratch)];
  }
  const chunks: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let scratchFree = scratch !== undefined;
  const flush = () => {
    if (pendingBytes === 0) return;
    let out: Uint8Array;
    if (scratchFree && scratch!.length >= pendingBytes) {
      out = scratch!.subarray(0, pendingBytes);
      scratchFree = false;
    } else {
      out = new Uint8Array(pendingBytes);
    }
    let offset = 0;
    for (const piece of pending) {
      out.set(piece, offset);
      offset += piece.length;
    }
    chunks.push(out);
    pending = [];
    pendingBytes = 0;
  };
  const add = (piece: Uint8Array) => {
    if (piece.length >= SEPARATE_PAYLOAD_BYTES) {
      flush();
      chunks.push(piece);
    } else if (piece.length > 0) {
      pending.push(piece);
      pendingBytes += piece.length;
    }
  };
  for (const frame of frames) {
    const blob = isBlobFrame(frame);
    const pieces = blob ? [frame.head, ...frame.blobs] : [viewOf(frame)];
    let length = 0;
    for (const piece of pieces) length += piece.length;
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(
      0,
      blob ? (length | BLOB_FRAME_FLAG) >>> 0 : length,
    );
    add(header);
    for (const piece of pieces) add(piece);
  }
  flush();
  return chunks;
}

/**
 * The payload length of a frame to write.
 *
 * @param frame A payload, or the parts of a blob frame.
 * @returns Its length in bytes, header excluded.
 *
 * @example
 * ```ts
 * import { frameLength } from "./frame.ts";
 * console.assert(frameLength(new Uint8Array(3)) === 3);
 * ```
 */
export function frameLength(frame: OutgoingFrame): number {
  if (frame instanceof Uint8Array) return frame.length;
  if (!isBlobFrame(frame)) return frame.end - frame.start;
  let length = frame.head.length;
  for (const blob of frame.blobs) length += blob.length;
  return length;
}
