/**
 * In-memory transport: two connected byte streams in one process, for unit
 * tests and for wiring two parts of one program together.
 *
 * @module
 */

import { ReadQueue } from "./read_queue.ts";
import type { ByteStream } from "./types.ts";

/** Bytes a writer may get ahead of its reader before `write()` waits. */
const HIGH_WATER_BYTES = 1024 * 1024;

/** One direction: what one side writes and the other reads. */
class Pipe {
  // Waiting writers wake once the reader has taken half the backlog.
  #queue = new ReadQueue(() => this.#wakeWriters());
  /** The reader closed: nothing more is delivered or accepted. */
  #dropped = false;
  #spaceWaiters: (() => void)[] = [];

  write(data: Uint8Array): Promise<number> {
    if (this.#queue.ended || this.#dropped) {
      return Promise.reject(
        new Error("Cannot write: the in-memory stream is closed"),
      );
    }
    if (data.length === 0) return Promise.resolve(0);
    // A copy: the caller may reuse `data` as soon as write() resolves.
    this.#queue.push(data.slice());
    if (this.#queue.bytes <= HIGH_WATER_BYTES) {
      return Promise.resolve(data.length);
    }
    return new Promise((resolve, reject) => {
      this.#spaceWaiters.push(() =>
        this.#dropped
          ? reject(new Error("Cannot write: the in-memory stream is closed"))
          : resolve(data.length)
      );
    });
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#queue.read(buffer);
  }

  /** The writing side closed: the reader gets what is left, then the end. */
  end(): void {
    this.#queue.end();
    this.#wakeWriters();
  }

  /** The reading side closed. */
  drop(): void {
    this.#dropped = true;
    this.#queue.clear();
    this.#wakeWriters();
  }

  #wakeWriters(): void {
    if (
      this.#queue.bytes > HIGH_WATER_BYTES / 2 && !this.#dropped &&
      !this.#queue.ended
    ) return;
    const waiters = this.#spaceWaiters;
    this.#spaceWaiters = [];
    for (const wake of waiters) wake();
  }
}

class MemoryStream implements ByteStream {
  #incoming: Pipe;
  #outgoing: Pipe;

  constructor(incoming: Pipe, outgoing: Pipe) {
    this.#incoming = incoming;
    this.#outgoing = outgoing;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#incoming.read(buffer);
  }

  write(data: Uint8Array): Promise<number> {
    return this.#outgoing.write(data);
  }

  close(): void {
    // The peer still reads what was written before; this side reads no more.
    this.#outgoing.end();
    this.#incoming.drop();
  }
}

/**
 * Makes two connected in-memory byte streams: what one writes, the other
 * reads. Writes are copied, and wait once 1 MiB is unread (backpressure).
 * Closing one side ends the other's reads after the bytes already written.
 *
 * @returns The two ends, `[client, server]` by convention.
 *
 * @example A netref connection without a socket
 * ```ts
 * import { connectStream, memoryPair, serveListener } from "@netref/netref";
 * const [client, server] = memoryPair();
 * // Pair `server` with serveListener() through a listener of your own, or
 * // use serveMemory(), which does it for you.
 * ```
 *
 * @example Bytes in, bytes out
 * ```ts
 * import { memoryPair } from "./memory.ts";
 * const [a, b] = memoryPair();
 * await a.write(new Uint8Array([1, 2, 3]));
 * const buffer = new Uint8Array(8);
 * console.assert(await b.read(buffer) === 3);
 * a.close();
 * console.assert(await b.read(buffer) === null);
 * b.close();
 * ```
 */
export function memoryPair(): [ByteStream, ByteStream] {
  const forward = new Pipe();
  const backward = new Pipe();
  return [
    new MemoryStream(backward, forward),
    new MemoryStream(forward, backward),
  ];
}
