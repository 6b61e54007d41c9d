/**
 * Length-prefixed framing: a u32 big-endian payload length, then the payload.
 *
 * @module
 */

import { ProtocolError } from "../core/errors.ts";

/** Bytes in a frame header. */
export const FRAME_HEADER_BYTES = 4;

/** A frame missing at least this much is read straight into place. */
const DIRECT_READ_BYTES = 64 * 1024;

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
    onFrame: (payload: Uint8Array, owned: boolean) => void,
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
    if (end - this.#length < DIRECT_READ_BYTES) return null;
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
    onFrame: (payload: Uint8Array, owned: boolean) => void,
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
    onFrame: (payload: Uint8Array, owned: boolean) => void,
  ): void {
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#lengthAt(data, offset);
      const start = offset + FRAME_HEADER_BYTES;
      if (data.length - start < length) break;
      offset = start + length;
      onFrame(data.subarray(start, offset), owned);
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
    const length = data[offset] * 0x1000000 +
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
  payloads: readonly Uint8Array[],
  scratch?: Uint8Array,
): Uint8Array {
  let total = 0;
  for (const payload of payloads) total += FRAME_HEADER_BYTES + payload.length;
  const out = scratch !== undefined && scratch.length >= total
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  let offset = 0;
  for (const payload of payloads) {
    const length = payload.length;
    out[offset] = length >>> 24;
    out[offset + 1] = (length >>> 16) & 0xff;
    out[offset + 2] = (length >>> 8) & 0xff;
    out[offset + 3] = length & 0xff;
    out.set(payload, offset + FRAME_HEADER_BYTES);
    offset += FRAME_HEADER_BYTES + length;
  }
  return out;
}

/** A payload at least this large is written as it is, not copied into a batch. */
const SEPARATE_PAYLOAD_BYTES = 64 * 1024;

/**
 * Frames payloads for writing, in order: small frames are batched into one
 * buffer (as {@linkcode encodeFrames} does), while a large payload is not
 * copied: its header ends the batch before it, and the payload itself is the
 * next buffer.
 *
 * @param payloads The payloads, in order.
 * @param scratch A buffer to reuse for the first batch when it is large
 *   enough; the caller must be done with what an earlier call wrote there.
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
  payloads: readonly Uint8Array[],
  scratch?: Uint8Array,
): Uint8Array[] {
  let large = false;
  for (const payload of payloads) {
    if (payload.length >= SEPARATE_PAYLOAD_BYTES) large = true;
  }
  if (!large) return [encodeFrames(payloads, scratch)];
  const chunks: Uint8Array[] = [];
  let batch: Uint8Array[] = [];
  for (const payload of payloads) {
    if (payload.length < SEPARATE_PAYLOAD_BYTES) {
      batch.push(payload);
      continue;
    }
    // The batch so far plus this payload's header: an empty payload framed,
    // with its length patched in.
    batch.push(EMPTY);
    const head = encodeFrames(batch, chunks.length === 0 ? scratch : undefined);
    new DataView(
      head.buffer,
      head.byteOffset + head.length - FRAME_HEADER_BYTES,
    )
      .setUint32(0, payload.length);
    chunks.push(head, payload);
    batch = [];
  }
  if (batch.length > 0) chunks.push(encodeFrames(batch));
  return chunks;
}

const EMPTY = new Uint8Array(0);
