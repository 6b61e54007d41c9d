/**
 * The floor: a raw Deno TCP echo of length-prefixed frames. The server
 * sends each complete frame back in one write; the client's loops use no
 * codec and no framing library, only `write` and `read`.
 *
 * - `call`: a 20-byte frame (a netref request for `root.foo()` is that
 *   size), one round trip.
 * - `bytes1k`, `bytes1m`: a frame of the payload's size, one round trip.
 * - `callback`: two round trips, the wire pattern of a call whose handler
 *   calls back (request, callback, its answer, the answer).
 * - `inflight`: 100 frames outstanding; every read's complete frames are
 *   replaced by as many new ones in one write.
 *
 * The floor of the stream loops runs on a connection of its own, opened by
 * a request frame whose length field is a code, not a length:
 *
 * - `items` ({@linkcode ITEMS_REQUEST}): the server counts 0, 1, 2, ...
 *   into an array of {@linkcode FLOOR_BATCH_ITEMS} integers, packs it with
 *   msgpackr into one frame and writes it, frame after frame, as fast as
 *   the client reads, until the client closes the connection. The client
 *   decodes every frame with msgpackr and adds up its items: the least a
 *   one-way stream of small values over TCP costs with framing and a codec
 *   (no per-item promise, no credit, no stream id).
 * - `bytes256m` ({@linkcode BYTES_REQUEST}): the server writes
 *   {@linkcode STREAM_BYTES} raw, no framing, in writes of
 *   {@linkcode STREAM_CHUNK_BYTES}, then closes; the client reads into a
 *   1 MiB buffer until the end.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import {
  ECHO_PAYLOAD_BYTES,
  FLOOR_BATCH_ITEMS,
  HEADER_BYTES,
  IN_FLIGHT,
  makePayload,
  PAYLOAD_BYTES,
  STREAM_BYTES,
  STREAM_CHUNK_BYTES,
} from "./_common.ts";
import { listen } from "./_framing.ts";
import type {
  BenchClient,
  BenchServer,
  BenchSystem,
  Timed,
} from "./_system.ts";
import { checkCount, sequential } from "./_system.ts";

/** A request frame's length field asking for a stream of small items. */
export const ITEMS_REQUEST = 0xffff_ff01;
/** A request frame's length field asking for {@linkcode STREAM_BYTES} raw. */
export const BYTES_REQUEST = 0xffff_ff02;
/** The client's read buffer for the stream loops. */
const STREAM_READ_BYTES = 1024 * 1024;

/** A larger frame is a bug in the echo client, not something to allocate. */
const MAX_ECHO_FRAME = 2 * 1024 * 1024;
/** Per connection: small, since 1,000 idle connections are measured. */
const SERVER_BUFFER_BYTES = 16 * 1024;

let open = 0;

/** Serves `conn` the floor: each frame goes back as it came, in one write. */
async function echo(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  open++;
  let buffer = new Uint8Array(SERVER_BUFFER_BYTES);
  let view = new DataView(buffer.buffer);
  let length = 0;
  try {
    while (true) {
      const n = await conn.read(
        length === 0 ? buffer : buffer.subarray(length),
      );
      if (n === null) return;
      length += n;
      let offset = 0;
      // Every complete frame of this read goes back in one write.
      while (length - offset >= HEADER_BYTES) {
        const size = view.getUint32(offset);
        if (size === ITEMS_REQUEST || size === BYTES_REQUEST) {
          await streamTo(conn, size);
          return;
        }
        if (size > MAX_ECHO_FRAME) {
          throw new RangeError(
            `Cannot echo frame: length ${size} exceeds ${MAX_ECHO_FRAME}`,
          );
        }
        const end = offset + HEADER_BYTES + size;
        if (end > length) break;
        offset = end;
      }
      if (offset > 0) {
        await writeAll(conn, buffer.subarray(0, offset));
        buffer.copyWithin(0, offset, length);
        length -= offset;
      }
      if (length >= HEADER_BYTES) {
        const needed = HEADER_BYTES + view.getUint32(0);
        if (needed > buffer.length) {
          const grown = new Uint8Array(needed);
          grown.set(buffer.subarray(0, length));
          buffer = grown;
          view = new DataView(buffer.buffer);
        }
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) {
      console.error(`echo server: ${String(error)}`);
    }
  } finally {
    open--;
    try {
      conn.close();
    } catch {
      // Already closed by the peer.
    }
  }
}

/** Counts 0, 1, 2, ... in frames of msgpack arrays until the client goes. */
async function writeItems(conn: Deno.TcpConn): Promise<void> {
  const packr = new Packr();
  const items = new Array<number>(FLOOR_BATCH_ITEMS);
  const header = new Uint8Array(HEADER_BYTES);
  const headerView = new DataView(header.buffer);
  let next = 0;
  while (true) {
    for (let i = 0; i < FLOOR_BATCH_ITEMS; i++) items[i] = next++;
    const body = packr.pack(items);
    const frame = new Uint8Array(HEADER_BYTES + body.length);
    headerView.setUint32(0, body.length);
    frame.set(header);
    frame.set(body, HEADER_BYTES);
    await writeAll(conn, frame);
  }
}

/**
 * Writes the stream `request` asks for: items until the client goes, or
 * {@linkcode STREAM_BYTES} raw.
 */
async function streamTo(conn: Deno.TcpConn, request: number): Promise<void> {
  try {
    if (request === ITEMS_REQUEST) return await writeItems(conn);
    const chunk = new Uint8Array(STREAM_CHUNK_BYTES).fill(7);
    for (let sent = 0; sent < STREAM_BYTES; sent += chunk.length) {
      await writeAll(conn, chunk);
    }
  } catch (error) {
    // The client closes an items stream when its loop ends.
    if (
      !(error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe ||
        error instanceof Deno.errors.BadResource)
    ) {
      throw error;
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(
      written === 0 ? bytes : bytes.subarray(written),
    );
  }
}

async function readExactly(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  let received = 0;
  while (received < into.length) {
    const n = await conn.read(
      received === 0 ? into : into.subarray(received),
    );
    if (n === null) throw new Error("echo server closed the connection");
    received += n;
  }
}

function frameOf(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** One raw echo client: a socket and the loops of the floor. */
class EchoClient implements BenchClient {
  readonly #conn: Deno.TcpConn;
  readonly #port: number;
  readonly #small = frameOf(makePayload(ECHO_PAYLOAD_BYTES));
  readonly #reply = new Uint8Array(HEADER_BYTES + ECHO_PAYLOAD_BYTES);
  callback = null;
  churnOne = null;

  constructor(conn: Deno.TcpConn, port: number) {
    this.#conn = conn;
    this.#port = port;
  }

  /** A new connection, on which `request` was sent. */
  async #request(request: number): Promise<Deno.TcpConn> {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: this.#port,
    });
    conn.setNoDelay(true);
    const header = new Uint8Array(HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, request);
    await writeAll(conn, header);
    return conn;
  }

  /** Reads the items stream for `ms`, decoding every frame. */
  async streamItems(ms: number): Promise<Timed> {
    const conn = await this.#request(ITEMS_REQUEST);
    const unpackr = new Unpackr();
    const buffer = new Uint8Array(STREAM_READ_BYTES);
    const view = new DataView(buffer.buffer);
    let length = 0;
    let items = 0;
    let sum = 0;
    let running = true;
    const timer = setTimeout(() => running = false, ms);
    const start = performance.now();
    try {
      while (running) {
        const n = await conn.read(buffer.subarray(length));
        if (n === null) throw new Error("echo server ended the items stream");
        length += n;
        let offset = 0;
        while (length - offset >= HEADER_BYTES) {
          const end = offset + HEADER_BYTES + view.getUint32(offset);
          if (end > length) break;
          const batch = unpackr.unpack(
            buffer.subarray(offset + HEADER_BYTES, end),
          ) as number[];
          for (let i = 0; i < batch.length; i++) sum += batch[i];
          items += batch.length;
          offset = end;
        }
        buffer.copyWithin(0, offset, length);
        length -= offset;
      }
    } finally {
      clearTimeout(timer);
      conn.close();
    }
    const took = performance.now() - start;
    checkCount(items, sum);
    return { calls: items, ms: took };
  }

  /** Reads one raw stream of {@linkcode STREAM_BYTES} to its end. */
  async streamBytes(): Promise<number> {
    const conn = await this.#request(BYTES_REQUEST);
    const buffer = new Uint8Array(STREAM_READ_BYTES);
    let bytes = 0;
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) return bytes;
        bytes += n;
      }
    } finally {
      conn.close();
    }
  }

  async foo(): Promise<unknown> {
    await writeAll(this.#conn, this.#small);
    await readExactly(this.#conn, this.#reply);
    return "foo";
  }

  echo(): Promise<unknown> {
    throw new TypeError("The raw echo runs its own loops");
  }

  imports(): null {
    return null;
  }

  close(): Promise<void> {
    this.#conn.close();
    return Promise.resolve();
  }

  /** Sequential round trips of one frame, `trips` per iteration. */
  roundTrips(payload: Uint8Array, trips: number, ms: number) {
    const frame = frameOf(payload);
    const reply = new Uint8Array(frame.length);
    const conn = this.#conn;
    return sequential(async () => {
      for (let i = 0; i < trips; i++) {
        await writeAll(conn, frame);
        await readExactly(conn, reply);
      }
      if (reply[reply.length - 1] !== frame[frame.length - 1]) {
        throw new Error("echo server sent back different bytes");
      }
    }, ms);
  }

  /** Keeps `window` small frames outstanding for `ms`. */
  async pipelined(window: number, ms: number): Promise<Timed> {
    const conn = this.#conn;
    const size = this.#small.length;
    const batch = new Uint8Array(size * window);
    for (let i = 0; i < window; i++) batch.set(this.#small, i * size);
    const buffer = new Uint8Array(64 * 1024);
    let calls = 0;
    let outstanding = window;
    let carry = 0;
    const start = performance.now();
    const end = start + ms;
    await writeAll(conn, batch);
    while (outstanding > 0) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("echo server closed the connection");
      const bytes = carry + n;
      const frames = Math.floor(bytes / size);
      carry = bytes - frames * size;
      calls += frames;
      outstanding -= frames;
      if (frames > 0 && performance.now() < end) {
        await writeAll(conn, batch.subarray(0, frames * size));
        outstanding += frames;
      }
    }
    return { calls, ms: performance.now() - start };
  }
}

/** The raw echo as a {@linkcode BenchSystem}. */
export const echoSystem: BenchSystem = {
  serve(): Promise<BenchServer> {
    const listener = listen((conn) => echo(conn));
    return Promise.resolve({
      port: listener.addr.port,
      exports: () => null,
      connections: () => open,
    });
  },

  async connect(port: number): Promise<BenchClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new EchoClient(conn, port);
  },

  loopsOf(client: BenchClient) {
    const echoClient = client as EchoClient;
    const small = makePayload(ECHO_PAYLOAD_BYTES);
    return {
      call: (ms: number) => echoClient.roundTrips(small, 1, ms),
      bytes1k: (ms: number) =>
        echoClient.roundTrips(makePayload(PAYLOAD_BYTES.bytes1k!), 1, ms),
      bytes1m: (ms: number) =>
        echoClient.roundTrips(makePayload(PAYLOAD_BYTES.bytes1m!), 1, ms),
      callback: (ms: number) => echoClient.roundTrips(small, 2, ms),
      inflight: (ms: number) => echoClient.pipelined(IN_FLIGHT, ms),
    };
  },
};
