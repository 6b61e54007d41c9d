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
 * @module
 */

import {
  ECHO_PAYLOAD_BYTES,
  HEADER_BYTES,
  IN_FLIGHT,
  makePayload,
  PAYLOAD_BYTES,
} from "./_common.ts";
import { listen } from "./_framing.ts";
import type {
  BenchClient,
  BenchServer,
  BenchSystem,
  Timed,
} from "./_system.ts";
import { sequential } from "./_system.ts";

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
  readonly #small = frameOf(makePayload(ECHO_PAYLOAD_BYTES));
  readonly #reply = new Uint8Array(HEADER_BYTES + ECHO_PAYLOAD_BYTES);
  callback = null;
  churnOne = null;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
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
    return new EchoClient(conn);
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
