/**
 * The least a general RPC costs on Deno, written for the benchmark: what
 * any library that carries arbitrary values must do for a call, and nothing
 * more. It is not a library to use (no limits, no references, no checks on
 * what a peer sends); it is the reference that shows how much of netref's
 * distance to the raw echo is the work every RPC does.
 *
 * - A message is `[REQUEST, id, name, args]`, `[ANSWER, id, value]` or
 *   `[FAILURE, id, message]`, packed with msgpackr (netref's codec) into a
 *   frame of the echo's shape: a u32 big-endian length, then the payload.
 * - Frames are assembled in a reused buffer; those sent in one turn leave in
 *   one write, with one write in flight (netref's writer does the same).
 *   It does not use `_framing.ts`, the framing capnweb and birpc run on:
 *   that one allocates a buffer per write and copies each payload it
 *   receives, which a floor should not pay.
 * - A call is one promise, its resolvers kept in a table by id; the read
 *   loop is always pending, so the peer may call at any time (the callback
 *   loop's server calls the client's `cb`).
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { HEADER_BYTES } from "./_common.ts";
import { listen } from "./_framing.ts";
import type { BenchClient, BenchServer, BenchSystem } from "./_system.ts";

const REQUEST = 0;
const ANSWER = 1;
const FAILURE = 2;
/** Ids cycle through this many table slots. */
const ID_SLOTS = 1 << 16;
const BUFFER_BYTES = 64 * 1024;

type Handlers = Record<string, (...args: never[]) => unknown>;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** The payload length in the frame header at `at`. */
function payloadLength(buffer: Uint8Array, at: number): number {
  return (buffer[at] << 24 | buffer[at + 1] << 16 | buffer[at + 2] << 8 |
    buffer[at + 3]) >>> 0;
}

/** One side of a connection: it calls the peer's handlers and serves its own. */
class Peer {
  readonly #conn: Deno.TcpConn;
  readonly #handlers: Handlers;
  readonly #packr = new Packr({ useRecords: false });
  // Decoded bytes are copies: a value stays as it arrived when the read
  // buffer is reused.
  readonly #unpackr = new Unpackr({ useRecords: false, copyBuffers: true });
  readonly #waiting: (Waiting | undefined)[] = [];
  #nextId = 0;
  /** Frames of this turn, and the buffer of the write in flight. */
  #out = new Uint8Array(BUFFER_BYTES);
  #spare = new Uint8Array(BUFFER_BYTES);
  #outLength = 0;
  #flushQueued = false;
  #writing = false;
  #closed = false;

  /** Told once, when the connection closes. */
  onClose: () => void = () => {};

  constructor(conn: Deno.TcpConn, handlers: Handlers) {
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#handlers = handlers;
    this.#readLoop().catch((error) => this.#close(error));
  }

  /** Calls the peer's handler `name`. */
  call(name: string, args: unknown[]): Promise<unknown> {
    const id = this.#nextId;
    if (this.#waiting[id] !== undefined) {
      return Promise.reject(
        new RangeError(`Cannot call ${name}: ${ID_SLOTS} calls are in flight`),
      );
    }
    this.#nextId = (id + 1) % ID_SLOTS;
    const promise = new Promise((resolve, reject) => {
      this.#waiting[id] = { resolve, reject };
    });
    this.#send([REQUEST, id, name, args]);
    return promise;
  }

  close(): void {
    this.#close(new Error("The connection was closed"));
  }

  #close(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed by the peer already.
    }
    const error = reason instanceof Error ? reason : new Error(String(reason));
    for (const waiting of this.#waiting) waiting?.reject(error);
    this.#waiting.length = 0;
    this.onClose();
  }

  #send(message: unknown[]): void {
    if (this.#closed) return;
    const payload = this.#packr.pack(message);
    const start = this.#outLength;
    const end = start + HEADER_BYTES + payload.length;
    if (end > this.#out.length) {
      const grown = new Uint8Array(Math.max(end, this.#out.length * 2));
      grown.set(this.#out.subarray(0, start));
      this.#out = grown;
    }
    const out = this.#out;
    out[start] = payload.length >>> 24;
    out[start + 1] = payload.length >>> 16;
    out[start + 2] = payload.length >>> 8;
    out[start + 3] = payload.length;
    out.set(payload, start + HEADER_BYTES);
    this.#outLength = end;
    if (!this.#flushQueued && !this.#writing) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  /** Writes this turn's frames, unless a write is in flight. */
  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#writing || this.#outLength === 0 || this.#closed) return;
    const written = this.#out;
    const bytes = written.subarray(0, this.#outLength);
    // The written buffer is left alone until its write is done.
    this.#out = this.#spare;
    this.#spare = written;
    this.#outLength = 0;
    this.#writing = true;
    this.#write(bytes);
  };

  #write(bytes: Uint8Array): void {
    this.#conn.write(bytes).then((n) => {
      if (n < bytes.length) return this.#write(bytes.subarray(n));
      this.#writing = false;
      this.#flush();
    }, (error) => this.#close(error));
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(BUFFER_BYTES);
    let length = 0;
    while (!this.#closed) {
      const n = await this.#conn.read(
        length === 0 ? buffer : buffer.subarray(length),
      );
      if (n === null) return this.#close(new Error("The peer closed"));
      length += n;
      let offset = 0;
      while (length - offset >= HEADER_BYTES) {
        const end = offset + HEADER_BYTES + payloadLength(buffer, offset);
        if (end > length) break;
        this.#receive(
          this.#unpackr.unpack(buffer.subarray(offset + HEADER_BYTES, end)),
        );
        offset = end;
      }
      if (offset > 0) {
        buffer.copyWithin(0, offset, length);
        length -= offset;
      }
      if (length >= HEADER_BYTES) {
        const needed = HEADER_BYTES + payloadLength(buffer, 0);
        if (needed > buffer.length) {
          const grown = new Uint8Array(needed);
          grown.set(buffer.subarray(0, length));
          buffer = grown;
        }
      }
    }
  }

  #receive(message: unknown): void {
    const [kind, id, a, b] = message as [number, number, unknown, unknown];
    if (kind === REQUEST) return this.#serve(id, a as string, b as never[]);
    const waiting = this.#waiting[id];
    if (waiting === undefined) {
      throw new Error(`The peer answered call ${id}, which is not waiting`);
    }
    this.#waiting[id] = undefined;
    if (kind === ANSWER) waiting.resolve(a);
    else waiting.reject(new Error(String(a)));
  }

  #serve(id: number, name: string, args: never[]): void {
    const handler = Object.hasOwn(this.#handlers, name)
      ? this.#handlers[name]
      : undefined;
    if (handler === undefined) {
      return this.#send([FAILURE, id, `No handler is named ${name}`]);
    }
    let result: unknown;
    try {
      result = handler(...args);
    } catch (error) {
      return this.#send([FAILURE, id, String(error)]);
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.#send([ANSWER, id, value]),
        (error) => this.#send([FAILURE, id, String(error)]),
      );
    } else {
      this.#send([ANSWER, id, result]);
    }
  }
}

/** The minimal RPC as a {@linkcode BenchSystem}. */
export const minimalRpc: BenchSystem = {
  serve(): Promise<BenchServer> {
    let open = 0;
    const listener = listen((conn) => {
      open++;
      const peer: Peer = new Peer(conn, {
        foo: () => "foo",
        echo: (data: Uint8Array) => data,
        callBack: () => peer.call("cb", [1]),
      });
      peer.onClose = () => open--;
    });
    return Promise.resolve({
      port: listener.addr.port,
      exports: () => null,
      connections: () => open,
    });
  },

  async connect(port: number): Promise<BenchClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const peer = new Peer(conn, { cb: (x: number) => x });
    return {
      foo: () => peer.call("foo", []),
      echo: (data) => peer.call("echo", [data]),
      callback: () => peer.call("callBack", []),
      churnOne: null,
      imports: () => null,
      close: () => {
        peer.close();
        return Promise.resolve();
      },
    };
  },
};
