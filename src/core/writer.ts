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

/**
 * Frames queued in one tick that are written at once, before the tick
 * ends, when no write is in flight. Without it, a peer answering many calls
 * read together wrote all the answers in one write, and the two sides took
 * turns, each idle while the other worked (100 calls in flight ran at about
 * half the rate). The rest follow in the next write. The check is made as
 * the next frame comes, not as the 32nd does, so that a pipelined call made
 * on the 32nd (`root.a().b()`) still finds its request unwritten.
 */
const WRITE_EARLY_FRAMES = 32;

/** The batch when none is being written. */
const NO_CHUNKS: readonly Uint8Array[] = [];

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
  /** The other queue array: the two swap at each batch, so none is made. */
  #spareQueue: OutgoingFrame[] = [];
  /** Bytes queued or being written. */
  #queuedBytes = 0;
  #drainWaiters: (() => void)[] = [];
  /** Made on the first batch written, so that idle connections cost little. */
  #writeBuffer: Uint8Array | null = null;
  #flushScheduled = false;
  /** Whether a batch is being written. */
  #writing = false;
  /** Told when the writing stops. */
  #idleWaiters: (() => void)[] = [];
  /** The buffers of the batch being written, the current one, and how much of it is written. */
  #batch: readonly Uint8Array[] = NO_CHUNKS;
  #batchIndex = 0;
  #offset = 0;
  /** Whether the batch being written was queued (the hello is not). */
  #batchQueued = false;
  #stopped = false;
  // Made once: a write per batch then costs one promise reaction, where an
  // async loop per batch allocated its frame, promise and closures.
  readonly #flushTask = (): void => this.flush();
  readonly #written = (n: number): void => this.#onWritten(n);
  readonly #failed = (error: unknown): void => this.#onFailed(error);

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
    this.#writing = true;
    this.#startBatch([bytes], false);
  }

  /**
   * Queues a frame; frames queued in one turn leave in one write, up to
   * {@linkcode WRITE_EARLY_FRAMES} of them while no write is in flight.
   *
   * @param frame The frame.
   * @param owner Whose bytes these are: its `payload` is cleared once copied.
   */
  enqueue(frame: OutgoingFrame, owner?: QueuedPayload): void {
    if (this.#queue.length >= WRITE_EARLY_FRAMES && !this.#writing) {
      this.#writing = true;
      this.#nextBatch();
    }
    this.#queue.push(frame);
    if (owner !== undefined) this.#owners.push(owner);
    this.#queuedBytes += FRAME_HEADER_BYTES + frameLength(frame);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Starts writing what is queued, unless a write is under way. */
  flush(): void {
    this.#flushScheduled = false;
    if (!this.#writing && this.#queue.length > 0 && !this.#stopped) {
      this.#writing = true;
      this.#nextBatch();
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
      (this.#writing || this.#queue.length > 0) &&
      performance.now() < deadline
    ) {
      await withTimeout(
        this.#writing
          ? new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
          : Promise.resolve(),
        Math.max(1, deadline - performance.now()),
      );
      if (!this.#writing && this.#queue.length > 0) this.flush();
    }
  }

  /** Writes nothing more, and wakes a paused reader. */
  stop(): void {
    this.#stopped = true;
    this.#wakeReader(true);
  }

  #wakeReader(always = false): void {
    if (!always && this.#queuedBytes > READ_PAUSE_BYTES / 2) return;
    if (this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Writes everything queued meanwhile as the next batch, or stops. */
  #nextBatch(): void {
    if (this.#queue.length === 0 || this.#stopped) return this.#idle();
    // The previous batch is written by now, so its buffer can be reused.
    this.#writeBuffer ??= new Uint8Array(WRITE_BUFFER_BYTES);
    const queue = this.#queue;
    this.#queue = this.#spareQueue;
    let chunks: Uint8Array[];
    try {
      chunks = encodeFrameChunks(queue, this.#writeBuffer);
    } catch (error) {
      return this.#onFailed(error);
    } finally {
      empty(queue);
      this.#spareQueue = queue;
    }
    const owners = this.#owners;
    for (let i = 0; i < owners.length; i++) owners[i].payload = null;
    empty(owners);
    this.#startBatch(chunks, true);
  }

  #startBatch(chunks: readonly Uint8Array[], queued: boolean): void {
    this.#batch = chunks;
    this.#batchIndex = 0;
    this.#offset = 0;
    this.#batchQueued = queued;
    this.#writeChunk();
  }

  /** Writes (the rest of) the current buffer of the batch. */
  #writeChunk(): void {
    const chunk = this.#batch[this.#batchIndex];
    const offset = this.#offset;
    let written: Promise<number>;
    try {
      written = this.#stream.write(
        offset === 0 ? chunk : chunk.subarray(offset),
      );
    } catch (error) {
      return this.#onFailed(error);
    }
    written.then(this.#written, this.#failed);
  }

  #onWritten(n: number): void {
    const chunk = this.#batch[this.#batchIndex];
    this.#offset += n;
    if (this.#offset < chunk.length) return this.#writeChunk();
    this.#offset = 0;
    if (this.#batchQueued) this.#queuedBytes -= chunk.length;
    if (++this.#batchIndex < this.#batch.length) return this.#writeChunk();
    this.#batch = NO_CHUNKS;
    if (this.#batchQueued) this.#wakeReader();
    this.#nextBatch();
  }

  #onFailed(error: unknown): void {
    this.#batch = NO_CHUNKS;
    if (!this.#stopped) this.#onError(error);
    this.#idle();
  }

  #idle(): void {
    this.#writing = false;
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Empties a list the writer reuses. `length = 0` gives up the list's storage,
 * so the next push allocates it again (about 100 ns, once a batch, which is
 * once a call when calls go one at a time); popping a short list keeps it.
 */
function empty(list: unknown[]): void {
  if (list.length > 16) {
    list.length = 0;
    return;
  }
  while (list.length > 0) list.pop();
}
