/**
 * The byte side of an RPyC connection: reads channel frames and decodes
 * their messages (taking the wire version from the first one when it is not
 * known), writes messages with the frames of one tick in one write, and
 * enforces the first-message and idle timeouts.
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { READ_PAUSE_BYTES } from "../defaults.ts";
import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
} from "../errors.ts";
import type { ByteStream } from "../transport/types.ts";
import type { BrineValue } from "./py_values.ts";
import {
  ChannelDecoder,
  encodeChannelFrame,
  loadChannelZlib,
} from "./channel.ts";
import type { Msg, WireVersion } from "./constants.ts";
import { FrameDeadline } from "../core/frame_deadline.ts";
import {
  decodeMessage,
  detectVersion,
  encodeMessage,
  type RpycMessage,
} from "./wire.ts";

const READ_BUFFER_BYTES = 64 * 1024;

/** The peer speaks the other RPyC wire version. */
export class WireVersionError extends ProtocolError {
  constructor(readonly peerVersion: WireVersion, message: string) {
    super(message);
    this.name = "WireVersionError";
  }
}

/** How a link behaves. */
export interface LinkOptions {
  /** The wire version, or null to take it from the first frame. */
  version: WireVersion | null;
  /** Largest frame accepted. */
  maxFrameBytes: number;
  /** How the peer is described in messages. */
  label: string;
  /** Milliseconds for the first whole message, when the version is unknown. */
  handshakeTimeout: number;
  /** Milliseconds of silence, with nothing in flight, before ending; 0: never. */
  idleTimeout: number;
  /** Milliseconds a frame may take once its first byte is in; 0: no limit. */
  frameTimeout: number;
}

/** What a link reports. */
export interface LinkHandler {
  /** One message; a `ProtocolError` thrown here ends the link. */
  onMessage(message: RpycMessage): void;
  /**
   * The link ended by itself: `ConnectionClosedError` when the peer hung
   * up, another error when it broke the protocol or timed out.
   */
  onEnd(reason: Error): void;
  /** Whether a request is in flight either way (an idle link is not busy). */
  isBusy(): boolean;
}

/** Reads and writes the RPyC messages of one stream. */
export class RpycLink {
  readonly #stream: ByteStream;
  readonly #options: LinkOptions;
  readonly #handler: LinkHandler;
  readonly #decoder: ChannelDecoder;
  #version: WireVersion | null;
  #queue: Uint8Array[] = [];
  /** Bytes queued or being written. */
  #queuedBytes = 0;
  #drainWaiters: (() => void)[] = [];
  readonly #frameDeadline: FrameDeadline;
  #messagesRead = 0;
  #writing: Promise<void> | null = null;
  #ended = false;
  #lastHeard = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Lets the frame deadline's timer, which outlives its frame, not hold the process. */
  unrefTimers(): void {
    this.#frameDeadline.unrefTimer = true;
  }

  /** Starts reading. */
  constructor(stream: ByteStream, options: LinkOptions, handler: LinkHandler) {
    this.#stream = stream;
    this.#options = options;
    this.#handler = handler;
    this.#version = options.version;
    this.#decoder = new ChannelDecoder({
      maxFrameBytes: options.maxFrameBytes,
    });
    this.#frameDeadline = new FrameDeadline(
      options.frameTimeout,
      () =>
        this.#end(
          new ProtocolError(
            `${options.label} started an RPyC frame and did not finish it within ${options.frameTimeout} ms (frameTimeout)`,
          ),
        ),
    );
    if (this.#version === null && options.handshakeTimeout > 0) {
      this.#timer = setTimeout(() => {
        this.#end(
          new ProtocolError(
            `${options.label} sent no whole RPyC message within ${options.handshakeTimeout} ms`,
          ),
        );
      }, options.handshakeTimeout);
    } else {
      this.#watchIdle();
    }
    this.#read();
  }

  /** The wire version, once known. */
  get version(): WireVersion | null {
    return this.#version;
  }

  /** The peer's address, for network streams. */
  get remoteAddr(): Deno.Addr | null {
    return this.#stream.remoteAddr ?? null;
  }

  /**
   * Queues one message; it leaves with the others of this tick.
   *
   * @throws {TypeError} If the version is not known yet or `args` is not
   *   dumpable.
   */
  send(msg: Msg, seq: number, args: BrineValue): void {
    if (this.#version === null) {
      throw new TypeError("Cannot send: the RPyC version is not known yet");
    }
    if (this.#ended) return;
    const payload = encodeMessage(this.#version, msg, seq, args);
    const frame = encodeChannelFrame(payload);
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (this.#writing === null) this.#writing = this.#write();
  }

  /** Stops: waits up to `ms` for queued writes, then closes the stream. */
  async close(ms: number): Promise<void> {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#frameDeadline.stop();
    this.#wakeReader(true);
    if (this.#writing !== null) await withTimeout(this.#writing, ms);
    try {
      this.#stream.close();
    } catch {
      // Already closed by the peer.
    }
  }

  #end(reason: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#frameDeadline.stop();
    this.#wakeReader(true);
    this.#handler.onEnd(reason);
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      // Before the first frame is decoded, and so before any is answered.
      await loadChannelZlib();
      while (!this.#ended) {
        if (this.#queuedBytes > READ_PAUSE_BYTES) {
          this.#frameDeadline.pause();
          await new Promise<void>((resolve) =>
            this.#drainWaiters.push(resolve)
          );
          continue;
        }
        const n = await this.#stream.read(buffer);
        if (n === null) break;
        this.#lastHeard = Date.now();
        for (const payload of this.#decoder.push(buffer.subarray(0, n))) {
          if (this.#ended) return;
          this.#messagesRead++;
          this.#handler.onMessage(this.#decode(payload));
        }
        this.#frameDeadline.update(
          this.#decoder.bufferedBytes > 0,
          this.#messagesRead,
        );
      }
      if (this.#ended) return;
      this.#decoder.end();
      this.#end(
        new ConnectionClosedError(
          `${this.#options.label} closed the connection`,
        ),
      );
    } catch (error) {
      // Reads fail once the stream is closed.
      if (!this.#ended) {
        this.#end(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #decode(payload: Uint8Array): RpycMessage {
    const version = detectVersion(payload);
    if (this.#version === null) {
      if (version === null) {
        throw new ProtocolError(
          `Cannot handle RPyC message: first byte 0x${
            (payload[0] ?? 0).toString(16).padStart(2, "0")
          } starts no message of RPyC 5 or 6`,
        );
      }
      this.#version = version;
      clearTimeout(this.#timer);
      this.#watchIdle();
    } else if (version !== null && version !== this.#version) {
      throw new WireVersionError(
        version,
        `${this.#options.label} speaks RPyC ${version}.x, not ${this.#version}.x`,
      );
    }
    return decodeMessage(this.#version, payload);
  }

  /** Ends the link once the peer was silent for `idleTimeout` with nothing in flight. */
  #watchIdle(): void {
    const period = this.#options.idleTimeout;
    if (!(period > 0) || !Number.isFinite(period)) return;
    const check = () => {
      const quiet = Date.now() - this.#lastHeard;
      if (quiet >= period && !this.#handler.isBusy()) {
        this.#end(
          new ProtocolError(
            `${this.#options.label} was idle for ${period} ms (idleTimeout)`,
          ),
        );
      } else {
        this.#timer = setTimeout(check, Math.max(period - quiet, 10));
      }
    };
    this.#timer = setTimeout(check, period);
  }

  /** Lets a paused reader go on once the queue is down to half the mark. */
  #wakeReader(always = false): void {
    if (!always && this.#queuedBytes > READ_PAUSE_BYTES / 2) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  async #write(): Promise<void> {
    // Frames queued in the same tick leave in one write.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const frames = this.#queue;
        this.#queue = [];
        let bytes = frames[0];
        if (frames.length > 1) {
          bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
          let offset = 0;
          for (const frame of frames) {
            bytes.set(frame, offset);
            offset += frame.length;
          }
        }
        for (let offset = 0; offset < bytes.length;) {
          offset += await this.#stream.write(bytes.subarray(offset));
        }
        this.#queuedBytes -= bytes.length;
        this.#wakeReader();
      }
    } catch (error) {
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#end(
        new ConnectionClosedError(
          `Cannot write to ${this.#options.label}: ${errorMessage(error)}`,
          { cause: error },
        ),
      );
    } finally {
      this.#writing = null;
    }
  }
}
