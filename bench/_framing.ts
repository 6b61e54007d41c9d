/**
 * The length-prefixed TCP framing the reference libraries (capnweb, birpc)
 * run on, the same as netref's: a u32 big-endian payload length, then the
 * payload; `setNoDelay(true)`; frames sent in the same tick coalesced into
 * one write. Our own code, so that every library gets the same transport
 * and the comparison is between RPC layers.
 *
 * @module
 */

import { HEADER_BYTES } from "./_common.ts";

const READ_BUFFER_BYTES = 64 * 1024;
/** Largest payload accepted: above the 1 MiB loop and its encoding. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * One TCP connection carrying frames both ways.
 *
 * @example
 * ```ts ignore
 * import { FramedSocket } from "./_framing.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 4000 });
 * const socket = new FramedSocket(conn, (payload) => console.log(payload));
 * socket.send(new Uint8Array([1, 2, 3]));
 * ```
 */
export class FramedSocket {
  readonly #conn: Deno.TcpConn;
  readonly #onFrame: (payload: Uint8Array) => void;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  #writing = false;
  #closed = false;
  /** Resolves once the connection has closed, with the reason if it failed. */
  readonly closed: Promise<Error | null>;
  #resolveClosed!: (reason: Error | null) => void;

  /**
   * @param conn A connected socket; the framed socket owns it.
   * @param onFrame Receives every payload, which it may keep.
   */
  constructor(conn: Deno.TcpConn, onFrame: (payload: Uint8Array) => void) {
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#onFrame = onFrame;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#readLoop();
  }

  /**
   * Queues one frame; frames queued in the same tick leave in one write.
   *
   * @param payload The payload; not modified, read before the next write.
   */
  send(payload: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push(payload);
    this.#queuedBytes += HEADER_BYTES + payload.length;
    if (!this.#flushScheduled && !this.#writing) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#writeLoop());
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#finish(null);
  }

  #finish(reason: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
    this.#resolveClosed(reason);
  }

  async #writeLoop(): Promise<void> {
    this.#flushScheduled = false;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = new Uint8Array(this.#queuedBytes);
        let offset = 0;
        for (const payload of this.#queue) {
          new DataView(batch.buffer, offset, HEADER_BYTES).setUint32(
            0,
            payload.length,
          );
          batch.set(payload, offset + HEADER_BYTES);
          offset += HEADER_BYTES + payload.length;
        }
        this.#queue = [];
        this.#queuedBytes = 0;
        let written = 0;
        while (written < batch.length) {
          written += await this.#conn.write(
            written === 0 ? batch : batch.subarray(written),
          );
        }
      }
    } catch (error) {
      this.#finish(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(READ_BUFFER_BYTES);
    let length = 0;
    try {
      while (!this.#closed) {
        if (length === buffer.length) {
          const grown = new Uint8Array(buffer.length * 2);
          grown.set(buffer);
          buffer = grown;
        }
        const n = await this.#conn.read(buffer.subarray(length));
        if (n === null) break;
        length += n;
        let offset = 0;
        while (length - offset >= HEADER_BYTES) {
          const size = new DataView(buffer.buffer, offset, HEADER_BYTES)
            .getUint32(0);
          if (size > MAX_FRAME_BYTES) {
            throw new RangeError(
              `Cannot read frame: length ${size} exceeds ${MAX_FRAME_BYTES}`,
            );
          }
          const end = offset + HEADER_BYTES + size;
          if (end > length) {
            if (end - offset > buffer.length) {
              // Room for the whole frame, so that it arrives in one buffer.
              const grown = new Uint8Array(end - offset);
              grown.set(buffer.subarray(offset, length));
              buffer = grown;
              length -= offset;
              offset = 0;
            }
            break;
          }
          if (
            offset === 0 && end === length && buffer.length > READ_BUFFER_BYTES
          ) {
            // A buffer grown for this one frame is handed over, not copied.
            this.#onFrame(buffer.subarray(HEADER_BYTES, end));
            buffer = new Uint8Array(READ_BUFFER_BYTES);
            length = 0;
            break;
          }
          this.#onFrame(buffer.slice(offset + HEADER_BYTES, end));
          offset = end;
        }
        if (offset > 0) {
          buffer.copyWithin(0, offset, length);
          length -= offset;
        }
      }
      this.#finish(null);
    } catch (error) {
      if (this.#closed) return;
      this.#finish(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/**
 * Accepts TCP connections on 127.0.0.1 until the listener closes.
 *
 * @param onConn Serves one accepted connection.
 * @returns The listener, its port in `addr`.
 *
 * @example
 * ```ts ignore
 * import { listen } from "./_framing.ts";
 * const listener = listen((conn) => conn.close());
 * console.log(listener.addr.port);
 * ```
 */
export function listen(onConn: (conn: Deno.TcpConn) => void): Deno.TcpListener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    try {
      for await (const conn of listener) onConn(conn);
    } catch {
      // The listener was closed.
    }
  })();
  return listener;
}
