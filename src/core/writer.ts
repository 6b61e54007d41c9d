/**
 * The write side of a connection: frames queued during one turn leave in one
 * write (coalescing), large pieces leave uncopied, and the reader is told to
 * pause while too much waits for a peer that does not read.
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { READ_PAUSE_BYTES } from "../defaults.ts";
import {
  encodeFrameChunks,
  FRAME_HEADER_BYTES,
  frameLength,
  type OutgoingFrame,
} from "../protocol/frame.ts";
import type { ByteStream } from "../transport/types.ts";

/** Batches up to this size are built in one reused buffer. */
const WRITE_BUFFER_BYTES = 16 * 1024;

/** Something whose encoded bytes stay patchable until they are written. */
export interface QueuedPayload {
  /** The bytes, until the frame is copied into a write; then null. */
  payload: Uint8Array | null;
}

/**
 * Queues frames and writes them, one write per batch.
 *
 * @example
 * ```ts ignore
 * import { FrameWriter } from "./writer.ts";
 * const writer = new FrameWriter(conn, (error) => console.error(error));
 * writer.enqueue(new Uint8Array([0x90]));
 * ```
 */
export class FrameWriter {
  readonly #stream: ByteStream;
  readonly #onError: (error: unknown) => void;
  #queue: OutgoingFrame[] = [];
  #owners: QueuedPayload[] = [];
  /** Bytes queued or being written. */
  #queuedBytes = 0;
  #drainWaiters: (() => void)[] = [];
  /** Made on the first batch written, so that idle connections cost little. */
  #writeBuffer: Uint8Array | null = null;
  #flushScheduled = false;
  #writing: Promise<void> | null = null;
  #stopped = false;

  /**
   * Makes the writer of a stream.
   *
   * @param stream Where the bytes go.
   * @param onError Told once when a write fails; nothing more is written.
   */
  constructor(stream: ByteStream, onError: (error: unknown) => void) {
    this.#stream = stream;
    this.#onError = onError;
  }

  /** Whether so much waits to be written that reading should pause. */
  get congested(): boolean {
    return this.#queuedBytes > READ_PAUSE_BYTES;
  }

  /** Resolves once the queue has drained to half the high-water mark. */
  drained(): Promise<void> {
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Writes raw bytes (the hello) before anything queued.
   *
   * @param bytes The bytes.
   */
  writeFirst(bytes: Uint8Array): void {
    this.#writing = this.#writeLoop(bytes);
  }

  /**
   * Queues a frame; frames queued in one turn leave in one write.
   *
   * @param frame The frame.
   * @param owner Whose bytes these are: its `payload` is cleared once copied.
   */
  enqueue(frame: OutgoingFrame, owner?: QueuedPayload): void {
    this.#queue.push(frame);
    if (owner !== undefined) this.#owners.push(owner);
    this.#queuedBytes += FRAME_HEADER_BYTES + frameLength(frame);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Starts writing what is queued, unless a write is under way. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#writing === null && this.#queue.length > 0 && !this.#stopped) {
      this.#writing = this.#writeLoop(null);
    }
  }

  /**
   * Waits for queued writes, at most `ms` milliseconds.
   *
   * @param ms The most to wait.
   */
  async drain(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (
      (this.#writing !== null || this.#queue.length > 0) &&
      performance.now() < deadline
    ) {
      await withTimeout(
        this.#writing ?? Promise.resolve(),
        Math.max(1, deadline - performance.now()),
      );
      if (this.#writing === null && this.#queue.length > 0) this.flush();
    }
  }

  /** Writes nothing more, and wakes a paused reader. */
  stop(): void {
    this.#stopped = true;
    this.#wakeReader(true);
  }

  #wakeReader(always = false): void {
    if (!always && this.#queuedBytes > READ_PAUSE_BYTES / 2) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Writes `first`, then everything queued meanwhile, one write per batch. */
  async #writeLoop(first: Uint8Array | null): Promise<void> {
    try {
      if (first !== null) await this.#writeAll(first);
      while (this.#queue.length > 0 && !this.#stopped) {
        // The previous batch is written by now, so its buffer can be reused.
        this.#writeBuffer ??= new Uint8Array(WRITE_BUFFER_BYTES);
        const chunks = encodeFrameChunks(this.#queue, this.#writeBuffer);
        this.#queue = [];
        for (const owner of this.#owners) owner.payload = null;
        this.#owners = [];
        for (const chunk of chunks) {
          await this.#writeAll(chunk);
          this.#queuedBytes -= chunk.length;
        }
        this.#wakeReader();
      }
    } catch (error) {
      if (!this.#stopped) this.#onError(error);
    } finally {
      this.#writing = null;
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#stream.write(
        offset === 0 ? bytes : bytes.subarray(offset),
      );
    }
  }
}
