/**
 * The benchmark's servers, one per process. Listens on 127.0.0.1, on a port
 * the system picks, prints `{"port": N}` as its first stdout line, and serves
 * until its stdin closes (so it never outlives `run.ts`).
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 bench/_servers.ts netref   # TestService via serve()
 * deno run --allow-net=127.0.0.1 bench/_servers.ts echo     # raw length-prefixed echo
 * ```
 *
 * @module
 */

import { serve } from "../mod.ts";
import { TestService } from "../examples/test_service.ts";
import { HEADER_BYTES } from "./_common.ts";

const HOSTNAME = "127.0.0.1";
/** A larger frame is a bug in the echo client, not something to allocate. */
const MAX_ECHO_FRAME = 1024 * 1024;

/** Serves `conn` the floor: each frame goes back as it came, in one write. */
async function echo(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  let buffer = new Uint8Array(64 * 1024);
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
      while (length - offset >= HEADER_BYTES) {
        const size = view.getUint32(offset);
        if (size > MAX_ECHO_FRAME) {
          throw new RangeError(
            `Cannot echo frame: length ${size} exceeds ${MAX_ECHO_FRAME}`,
          );
        }
        const end = offset + HEADER_BYTES + size;
        if (end > length) {
          if (end - offset > buffer.length) {
            const grown = new Uint8Array(end - offset);
            grown.set(buffer.subarray(offset, length));
            buffer = grown;
            view = new DataView(buffer.buffer);
            length -= offset;
            offset = 0;
          }
          break;
        }
        const frame = buffer.subarray(offset, end);
        let written = 0;
        while (written < frame.length) {
          written += await conn.write(
            written === 0 ? frame : frame.subarray(written),
          );
        }
        offset = end;
      }
      if (offset > 0) {
        buffer.copyWithin(0, offset, length);
        length -= offset;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) {
      console.error(`echo server: ${String(error)}`);
    }
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the peer.
    }
  }
}

/** Serves the echo until `stop` resolves; open connections end with the process. */
async function serveEcho(stop: Promise<void>): Promise<void> {
  const listener = Deno.listen({ hostname: HOSTNAME, port: 0 });
  console.log(JSON.stringify({ port: listener.addr.port }));
  stop.then(() => listener.close());
  try {
    for await (const conn of listener) echo(conn);
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/** Serves TestService with netref's own `serve()` until `stop` resolves. */
async function serveNetref(stop: Promise<void>): Promise<void> {
  const server = serve(TestService, { hostname: HOSTNAME, port: 0 });
  console.log(JSON.stringify({ port: server.addr.port }));
  await stop;
  await server.shutdown({ deadline: 1000 });
}

/** Resolves when stdin reaches its end: the parent closed it, or died. */
async function stdinClosed(): Promise<void> {
  const buffer = new Uint8Array(256);
  try {
    while (await Deno.stdin.read(buffer) !== null) {
      // Nothing is sent on stdin; it only signals the parent's presence.
    }
  } catch {
    // A broken stdin means the parent is gone too.
  }
}

if (import.meta.main) {
  const mode = Deno.args[0];
  const stop = stdinClosed();
  if (mode === "netref") await serveNetref(stop);
  else if (mode === "echo") await serveEcho(stop);
  else {
    console.error(`usage: _servers.ts netref|echo (got ${String(mode)})`);
    Deno.exit(2);
  }
  // A connection the client did not close must not keep the process alive.
  Deno.exit(0);
}
