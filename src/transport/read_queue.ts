/**
 * Bytes that arrive as events (a Node socket's `data`, a WebSocket's
 * `message`, an in-memory writer) queued for a `read(buffer)` caller: the
 * part of a pull-style {@linkcode ByteStream} that event-driven transports
 * share.
 *
 * @module
 */

import type { ByteStream } from "./types.ts";

interface Reader {
  buffer: Uint8Array;
  resolve: (n: number | null) => void;
  reject: (error: Error) => void;
}

/**
 * Chunks waiting to be read, and at most one read waiting for them. Queued
 * bytes are handed out before the end of stream or an error is reported.
 *
 * @example
 * ```ts
 * import { ReadQueue } from "./read_queue.ts";
 * const queue = new ReadQueue();
 * queue.push(new Uint8Array([1, 2, 3]));
 * queue.end();
 * const buffer = new Uint8Array(8);
 * console.assert(await queue.read(buffer) === 3);
 * console.assert(await queue.read(buffer) === null);
 * ```
 */
export class ReadQueue implements Pick<ByteStream, "read"> {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #ended = false;
  #error: Error | null = null;
  #reader: Reader | null = null;
  #onTaken: (() => void) | undefined;

  /**
   * Makes an empty queue.
   *
   * @param onTaken Called after a read takes bytes, for example to resume a
   *   paused source once the queue has drained enough.
   */
  constructor(onTaken?: () => void) {
    this.#onTaken = onTaken;
  }

  /** Bytes queued and not yet read. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the end of stream (or an error) has been reported. */
  get ended(): boolean {
    return this.#ended || this.#error !== null;
  }

  /** The error reported, if any. */
  get error(): Error | null {
    return this.#error;
  }

  /**
   * Queues a chunk; it is read as it is, so the caller must not reuse it.
   *
   * @param chunk Bytes that arrived.
   */
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    this.#deliver();
  }

  /** No more chunks will come: reads get what is queued, then null. */
  end(): void {
    this.#ended = true;
    this.#deliver();
  }

  /**
   * Reports an error (the first one wins): reads get what is queued, then it.
   *
   * @param error What went wrong.
   * @param dropQueued Drop what is queued, so that reads get the error now.
   */
  fail(error: Error, dropQueued = false): void {
    this.#error ??= error;
    if (dropQueued) {
      this.#chunks = [];
      this.#bytes = 0;
    }
    this.#deliver();
  }

  /** Drops what is queued and ends the stream, as when it is closed. */
  clear(): void {
    this.#chunks = [];
    this.#bytes = 0;
    this.#ended = true;
    this.#deliver();
  }

  /**
   * Reads queued bytes into `buffer`, waiting for some if none are queued.
   *
   * @param buffer Where to read into.
   * @returns Bytes read, or null at end of stream.
   * @throws {Error} If another read is already waiting, or the stream failed.
   */
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#reader !== null) {
      return Promise.reject(
        new Error("Cannot read: another read() is already waiting"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#reader = { buffer, resolve, reject };
      this.#deliver();
    });
  }

  #deliver(): void {
    const reader = this.#reader;
    if (reader === null) return;
    const chunk = this.#chunks[0];
    if (chunk === undefined) {
      if (this.#error !== null) {
        this.#reader = null;
        reader.reject(this.#error);
      } else if (this.#ended) {
        this.#reader = null;
        reader.resolve(null);
      }
      return;
    }
    this.#reader = null;
    const n = Math.min(chunk.length, reader.buffer.length);
    reader.buffer.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#bytes -= n;
    this.#onTaken?.();
    reader.resolve(n);
  }
}
