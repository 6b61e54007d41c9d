/**
 * The read side of a netref connection: the peer's hello, then bytes read
 * into frames, paused while the writer is congested, each partial frame
 * under the frame deadline.
 *
 * @module
 */

import { FrameDecoder } from "../protocol/frame.ts";
import { type Hello, readHello } from "../protocol/handshake.ts";
import { ProtocolError } from "../errors.ts";
import type { ByteStream } from "../transport/types.ts";
import type { FrameDeadline } from "./frame_deadline.ts";
import type { FrameWriter } from "./writer.ts";

/**
 * The read buffer starts small, so that idle connections cost little, and
 * doubles up to the maximum while reads fill it.
 */
const READ_BUFFER_START_BYTES = 4 * 1024;
const READ_BUFFER_MAX_BYTES = 64 * 1024;

/** What the reader hands frames to. */
export interface ReaderHost {
  readonly label: string;
  readonly isClosed: boolean;
  /** Handles one complete frame; a throw fails the connection. */
  onFrame(
    data: Uint8Array,
    start: number,
    end: number,
    owned: boolean,
    blob: boolean,
  ): void;
}

/** The parts of the connection the reader works with. */
export interface ReaderOptions {
  stream: ByteStream;
  maxFrameBytes: number;
  /** Reading pauses while it is congested. */
  writer: FrameWriter;
  deadline: FrameDeadline;
}

/** Reads one connection's stream. */
export class FrameReader {
  /** Frames received so far. */
  framesReceived = 0;
  readonly #host: ReaderHost;
  readonly #stream: ByteStream;
  readonly #maxFrameBytes: number;
  readonly #writer: FrameWriter;
  readonly #deadline: FrameDeadline;
  #buffer = new Uint8Array(READ_BUFFER_START_BYTES);

  constructor(host: ReaderHost, options: ReaderOptions) {
    this.#host = host;
    this.#stream = options.stream;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#writer = options.writer;
    this.#deadline = options.deadline;
  }

  /**
   * Reads the peer's hello.
   *
   * @returns The hello, and the bytes received after it.
   */
  hello(): Promise<{ hello: Hello; rest: Uint8Array }> {
    return readHello(this.#stream, this.#buffer, this.#host.label);
  }

  /**
   * Reads frames until the stream ends or the connection closes.
   *
   * @param rest The bytes that came after the hello.
   * @returns True if the peer ended the stream, false if the connection
   *   closed.
   * @throws {ProtocolError} If the stream ended in the middle of a frame.
   */
  async run(rest: Uint8Array): Promise<boolean> {
    const host = this.#host;
    const deadline = this.#deadline;
    const decoder = new FrameDecoder(this.#maxFrameBytes);
    const onFrame = (
      data: Uint8Array,
      start: number,
      end: number,
      owned: boolean,
      blob: boolean,
    ) => {
      this.framesReceived++;
      host.onFrame(data, start, end, owned, blob);
    };
    let buffer = this.#buffer;
    if (rest.length > 0) {
      decoder.push(rest, onFrame);
      deadline.update(decoder.bufferedBytes > 0, this.framesReceived);
    }
    while (!host.isClosed) {
      if (this.#writer.congested) {
        deadline.pause();
        await this.#writer.drained();
        if (host.isClosed) return false;
      }
      // The rest of a large frame is read straight into place.
      const direct = decoder.readTarget();
      const n = await this.#stream.read(direct ?? buffer);
      if (n === null) break;
      if (direct !== null) {
        decoder.commit(n, onFrame);
        deadline.update(decoder.bufferedBytes > 0, this.framesReceived);
        continue;
      }
      decoder.push(buffer.subarray(0, n), onFrame);
      deadline.update(decoder.bufferedBytes > 0, this.framesReceived);
      if (n === buffer.length && buffer.length < READ_BUFFER_MAX_BYTES) {
        buffer = new Uint8Array(buffer.length * 2);
      }
    }
    if (host.isClosed) return false;
    if (decoder.bufferedBytes > 0) {
      throw new ProtocolError(
        `${host.label} closed the connection in the middle of a frame (${decoder.bufferedBytes} bytes of it received)`,
      );
    }
    return true;
  }
}
