/**
 * A TCP relay between a client and a server that forwards bytes unchanged
 * and records each frame's direction, message kind and id, so tests can see
 * how many messages and round trips an operation took.
 *
 * @module
 */

import { Kind } from "../src/protocol/constants.ts";

/** One frame seen by the relay. */
export interface SeenFrame {
  /** `up`: client to server; `down`: server to client. */
  direction: "up" | "down";
  /** Message kind (see `Kind`). */
  kind: number;
  /** Message id (request id), when it has one. */
  id: number | null;
}

/** Names of message kinds, for readable assertions. */
export const kindName: Record<number, string> = Object.fromEntries(
  Object.entries(Kind).map(([name, value]) => [value, name]),
);

/** Reads a msgpack unsigned integer at `offset` (only the forms ids use). */
function readUint(bytes: Uint8Array, offset: number): number | null {
  const b = bytes[offset];
  if (b <= 0x7f) return b;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset + 1);
  if (b === 0xcc) return view.getUint8(0);
  if (b === 0xcd) return view.getUint16(0);
  if (b === 0xce) return view.getUint32(0);
  return null;
}

/** Parses frames out of one direction of the stream, after the hello. */
class FrameSpy {
  #buffer = new Uint8Array(0);
  #helloDone = false;
  constructor(readonly direction: "up" | "down", readonly seen: SeenFrame[]) {}

  push(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    let offset = 0;
    const view = new DataView(joined.buffer);
    if (!this.#helloDone) {
      if (joined.length < 9) return void (this.#buffer = joined);
      const length = view.getUint32(5);
      if (joined.length < 9 + length) return void (this.#buffer = joined);
      offset = 9 + length;
      this.#helloDone = true;
    }
    while (joined.length - offset >= 4) {
      const length = view.getUint32(offset);
      if (joined.length - offset - 4 < length) break;
      const payload = joined.subarray(offset + 4, offset + 4 + length);
      // Every message is a fixarray [kind, id, ...]: kind is a fixint.
      const kind = payload[1];
      const id = kind === Kind.RELEASE || kind === Kind.CLOSE
        ? null
        : readUint(payload, 2);
      this.seen.push({ direction: this.direction, kind, id });
      offset += 4 + length;
    }
    this.#buffer = joined.slice(offset);
  }
}

/** A running relay. */
export interface Relay extends AsyncDisposable {
  /** The port clients connect to. */
  port: number;
  /** Frames seen so far, in the order the relay forwarded them. */
  seen: SeenFrame[];
}

/**
 * Starts a relay on a free loopback port that forwards to `targetPort`.
 *
 * @example
 * ```ts ignore
 * await using relay = startRelay(server.addr.port);
 * const conn = await connect("127.0.0.1", relay.port);
 * ```
 */
export function startRelay(targetPort: number): Relay {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: SeenFrame[] = [];
  const conns: Deno.Conn[] = [];
  const pumps: Promise<void>[] = [];
  async function pump(from: Deno.Conn, to: Deno.Conn, spy: FrameSpy) {
    const buffer = new Uint8Array(65536);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        spy.push(buffer.subarray(0, n));
        let written = 0;
        while (written < n) {
          written += await to.write(buffer.subarray(written, n));
        }
      }
    } catch {
      // One side went away: the relay just stops forwarding.
    }
    try {
      to.close();
    } catch {
      // Already closed by the other pump.
    }
  }
  const accepting = (async () => {
    for await (const client of listener) {
      client.setNoDelay(true);
      const server = await Deno.connect({
        hostname: "127.0.0.1",
        port: targetPort,
      });
      server.setNoDelay(true);
      conns.push(client, server);
      pumps.push(pump(client, server, new FrameSpy("up", seen)));
      pumps.push(pump(server, client, new FrameSpy("down", seen)));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    seen,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await Promise.all(pumps);
    },
  };
}
