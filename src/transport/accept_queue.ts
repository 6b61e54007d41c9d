/**
 * A queue of accepted streams for listeners whose connections arrive as
 * events (WebSocket upgrades, `node:tls` servers, in-memory pairs) rather
 * than from an `accept()` call of their own.
 *
 * @module
 */

import type { ByteStream } from "./types.ts";

/**
 * Hands out streams in arrival order to one `accept()` caller at a time.
 *
 * @example
 * ```ts
 * import { AcceptQueue } from "./accept_queue.ts";
 * import { memoryPair } from "./memory.ts";
 * const queue = new AcceptQueue();
 * const [a, b] = memoryPair();
 * queue.push(b);
 * console.assert(await queue.accept() === b);
 * queue.close();
 * a.close();
 * ```
 */
export class AcceptQueue {
  #ready: ByteStream[] = [];
  #waiter: {
    resolve: (stream: ByteStream) => void;
    reject: (error: Error) => void;
  } | null = null;
  #closed = false;

  /** Whether {@linkcode AcceptQueue.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues a stream for the next `accept()`; once closed, closes it instead.
   *
   * @param stream A connected stream.
   */
  push(stream: ByteStream): void {
    if (this.#closed) {
      closeQuietly(stream);
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.resolve(stream);
    } else {
      this.#ready.push(stream);
    }
  }

  /**
   * The next stream.
   *
   * @returns The stream, once one arrives.
   * @throws {Error} Once the queue is closed (a `Deno.errors.BadResource`
   *   where Deno is present).
   */
  accept(): Promise<ByteStream> {
    if (this.#closed) return Promise.reject(closedError());
    const stream = this.#ready.shift();
    if (stream !== undefined) return Promise.resolve(stream);
    if (this.#waiter !== null) {
      return Promise.reject(
        new Error("Cannot accept: another accept() is already waiting"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Rejects the waiting `accept()` and closes streams never accepted. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of this.#ready) closeQuietly(stream);
    this.#ready = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(closedError());
  }
}

function closedError(): Error {
  const message = "Cannot accept: the listener is closed";
  // serveListener() treats BadResource as the normal end of its accept loop.
  const BadResource = (globalThis as { Deno?: typeof Deno }).Deno?.errors
    .BadResource;
  return BadResource ? new BadResource(message) : new Error(message);
}

/**
 * Closes a stream, ignoring a stream that is already closed.
 *
 * @param stream The stream.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./accept_queue.ts";
 * import { memoryPair } from "./memory.ts";
 * const [a, b] = memoryPair();
 * closeQuietly(a);
 * closeQuietly(a);
 * closeQuietly(b);
 * ```
 */
export function closeQuietly(stream: { close(): void }): void {
  try {
    stream.close();
  } catch {
    // Already closed: nothing left to release.
  }
}
