/**
 * RPyC's channel framing (`rpyc/core/channel.py`), without any I/O: each
 * message travels as a `u32` big-endian length, a `u8` compressed flag, the
 * payload (zlib-compressed when the flag is 1), then `"\n"`.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import { ProtocolError } from "../errors.ts";
import {
  CHANNEL_FLUSHER,
  CHANNEL_HEADER_BYTES,
  COMPRESSION_LEVEL,
  COMPRESSION_THRESHOLD,
} from "./constants.ts";

// node:zlib is loaded on first use, not imported: a program that never
// speaks RPyC never loads it.
type Zlib = typeof import("node:zlib");
let zlib: Zlib | null = null;

/**
 * Loads the zlib the channel compresses with. Call (and await) it before
 * encoding or decoding frames; connections do so when they open.
 */
export async function loadChannelZlib(): Promise<void> {
  zlib ??= await import("node:zlib");
}

function loadedZlib(): Zlib {
  if (zlib === null) {
    throw new Error(
      "Cannot compress or decompress an RPyC frame: call loadChannelZlib() first",
    );
  }
  return zlib;
}

/** Options for {@linkcode encodeChannelFrame}. */
export interface ChannelFrameOptions {
  /**
   * Whether payloads over `compressionThreshold` bytes are zlib-compressed,
   * as RPyC's `Channel(stream, compress=True)` does.
   * @default {true}
   */
  compress?: boolean;
  /**
   * Payloads longer than this many bytes are compressed.
   * @default {COMPRESSION_THRESHOLD} (3000)
   */
  compressionThreshold?: number;
  /**
   * zlib compression level, 0 to 9.
   * @default {COMPRESSION_LEVEL} (1)
   */
  compressionLevel?: number;
}

/**
 * Frames one message the way RPyC's `Channel.send` does, compressing it when
 * it is longer than the threshold.
 *
 * @param payload The message (one brine-encoded value).
 * @returns Header, payload and trailing `"\n"`, in one buffer.
 * @throws {RangeError} If the (compressed) payload is longer than 2^32 - 1.
 */
export function encodeChannelFrame(
  payload: Uint8Array,
  options: ChannelFrameOptions = {},
): Uint8Array {
  const {
    compress = true,
    compressionThreshold = COMPRESSION_THRESHOLD,
    compressionLevel = COMPRESSION_LEVEL,
  } = options;
  let data = payload;
  let compressed = 0;
  if (compress && payload.length > compressionThreshold) {
    data = loadedZlib().deflateSync(payload, { level: compressionLevel });
    compressed = 1;
  }
  if (data.length > 0xffffffff) {
    throw new RangeError(
      `Cannot encode frame: length ${data.length} exceeds 4294967295`,
    );
  }
  const frame = new Uint8Array(CHANNEL_HEADER_BYTES + data.length + 1);
  const length = data.length;
  frame[0] = length >>> 24;
  frame[1] = (length >>> 16) & 0xff;
  frame[2] = (length >>> 8) & 0xff;
  frame[3] = length & 0xff;
  frame[4] = compressed;
  frame.set(data, CHANNEL_HEADER_BYTES);
  frame[frame.length - 1] = CHANNEL_FLUSHER;
  return frame;
}

/**
 * The compressed length of each payload {@linkcode ChannelDecoder} inflated,
 * by payload: what crossed the wire, which bounds the value it may carry
 * (see `compressedBytes` in brine's options).
 */
const compressedLengths = new WeakMap<Uint8Array, number>();

/**
 * How many bytes `payload` took on the wire, if a {@linkcode ChannelDecoder}
 * inflated it from a compressed frame; undefined for an uncompressed one.
 */
export function compressedLength(payload: Uint8Array): number | undefined {
  return compressedLengths.get(payload);
}

/** Options for {@linkcode ChannelDecoder}. */
export interface ChannelDecoderOptions {
  /**
   * Largest payload accepted, both as sent and after decompression; a frame
   * announcing more is refused before anything is buffered for it.
   * @default {DEFAULT_MAX_FRAME_BYTES} (16 MiB)
   */
  maxFrameBytes?: number;
}

/**
 * Incremental decoder for RPyC channel frames: push bytes as they arrive,
 * get back every message they complete, decompressed.
 *
 * The decoder never keeps a reference to a pushed chunk, and every message
 * it returns is the caller's to keep: callers may reuse their read
 * buffer, and the decoder never touches a returned message again. After it
 * throws, the stream is out of step and every later `push` throws too.
 */
export class ChannelDecoder {
  #maxFrameBytes: number;
  // Unconsumed bytes, as copies we own; #needed is how many bytes the next
  // step waits for: a header, or (once the header is read) the whole frame.
  #chunks: Uint8Array[] = [];
  #size = 0;
  #needed = CHANNEL_HEADER_BYTES;
  #failure: ProtocolError | undefined;

  /**
   * Makes a decoder with nothing buffered.
   *
   * @throws {RangeError} If `maxFrameBytes` is not a non-negative integer.
   */
  constructor(options: ChannelDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(
        `Cannot create a ChannelDecoder: maxFrameBytes ${max} is not a non-negative integer`,
      );
    }
    this.#maxFrameBytes = max;
  }

  /** Bytes received that do not yet make a whole frame. */
  get bufferedBytes(): number {
    return this.#size;
  }

  /**
   * Consumes `chunk`.
   *
   * @param chunk Bytes just read; only read during this call.
   * @returns The messages completed by `chunk`, in order (often none).
   * @throws {ProtocolError} If a frame is longer than `maxFrameBytes` (as
   *   sent or decompressed), has a flag other than 0 or 1, lacks its
   *   trailing `"\n"`, or holds invalid zlib data.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== undefined) {
      throw new ProtocolError(
        "Cannot decode frame: the channel failed earlier",
        { cause: this.#failure },
      );
    }
    try {
      return this.#push(chunk);
    } catch (error) {
      if (error instanceof ProtocolError) this.#failure = error;
      throw error;
    }
  }

  /**
   * Declares the end of the stream.
   *
   * @throws {ProtocolError} If part of a frame is still buffered.
   */
  end(): void {
    if (this.#size > 0) {
      throw new ProtocolError(
        `Cannot decode frame: stream ended ${this.#size} bytes into a frame of ${this.#needed}`,
      );
    }
  }

  #push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length === 0) return [];
    if (this.#size + chunk.length < this.#needed) {
      this.#chunks.push(chunk.slice());
      this.#size += chunk.length;
      return [];
    }
    let data = chunk;
    let owned = false;
    if (this.#size > 0) {
      data = concat([...this.#chunks, chunk], this.#size + chunk.length);
      owned = true;
    }
    const messages: Uint8Array[] = [];
    let offset = 0;
    let needed = CHANNEL_HEADER_BYTES;
    while (data.length - offset >= CHANNEL_HEADER_BYTES) {
      const length = this.#header(data, offset);
      needed = CHANNEL_HEADER_BYTES + length + 1;
      if (data.length - offset < needed) break;
      const end = offset + CHANNEL_HEADER_BYTES + length;
      if (data[end] !== CHANNEL_FLUSHER) {
        throw new ProtocolError(
          `Cannot decode frame: expected "\\n" after the ${length}-byte payload, got 0x${
            data[end].toString(16).padStart(2, "0")
          }`,
        );
      }
      const payload = data.subarray(offset + CHANNEL_HEADER_BYTES, end);
      messages.push(
        data[offset + 4] === 1
          ? this.#inflate(payload)
          : owned
          ? payload
          : payload.slice(),
      );
      offset = end + 1;
      needed = CHANNEL_HEADER_BYTES;
    }
    const rest = data.subarray(offset);
    this.#chunks = rest.length === 0 ? [] : [owned ? rest : rest.slice()];
    this.#size = rest.length;
    this.#needed = needed;
    return messages;
  }

  /** Reads and checks the header at `offset`; returns the payload length. */
  #header(data: Uint8Array, offset: number): number {
    const length = new DataView(data.buffer, data.byteOffset + offset, 4)
      .getUint32(0);
    const flag = data[offset + 4];
    if (flag > 1) {
      throw new ProtocolError(
        `Cannot decode frame: compressed flag ${flag} is neither 0 nor 1`,
      );
    }
    if (length > this.#maxFrameBytes) {
      throw new ProtocolError(
        `Cannot decode frame: length ${length} exceeds maxFrameBytes ${this.#maxFrameBytes}`,
      );
    }
    return length;
  }

  #inflate(payload: Uint8Array): Uint8Array {
    let inflated: Uint8Array;
    try {
      // maxOutputLength stops inflation there, so a zlib bomb costs no more
      // than maxFrameBytes.
      inflated = loadedZlib().inflateSync(payload, {
        maxOutputLength: Math.max(1, this.#maxFrameBytes),
      });
    } catch (cause) {
      const tooLarge = cause instanceof RangeError;
      throw new ProtocolError(
        tooLarge
          ? `Cannot decode frame: ${payload.length}-byte compressed payload inflates past maxFrameBytes ${this.#maxFrameBytes}`
          : `Cannot decode frame: invalid zlib data in a ${payload.length}-byte compressed payload`,
        { cause },
      );
    }
    if (inflated.length > this.#maxFrameBytes) {
      throw new ProtocolError(
        `Cannot decode frame: ${payload.length}-byte compressed payload inflates past maxFrameBytes ${this.#maxFrameBytes}`,
      );
    }
    // A plain Uint8Array view rather than the Buffer node:zlib returns.
    const message = new Uint8Array(
      inflated.buffer,
      inflated.byteOffset,
      inflated.byteLength,
    );
    compressedLengths.set(message, payload.length);
    return message;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
