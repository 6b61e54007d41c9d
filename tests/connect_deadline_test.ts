import assert from "node:assert/strict";
import {
  connect,
  connectStream,
  memoryPair,
  ProtocolError,
  TimeoutError,
} from "../mod.ts";
import { connectRpyc } from "../rpyc.ts";
import { startPythonServer } from "./_rpyc.ts";
import {
  connectTls,
  connectUnix,
  connectWebSocket,
} from "../src/client/transports.ts";

/**
 * A server that accepts, reads everything, and never answers: no hello, no
 * TLS handshake, no HTTP response. `closed` resolves once the client has
 * closed the accepted socket.
 */
function silentServer(): {
  port: number;
  accepted: Promise<void>;
  closed: Promise<void>;
  close(): void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const { promise: accepted, resolve: onAccepted } = Promise.withResolvers<
    void
  >();
  const closed = (async () => {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch {
      return; // Closed before anyone connected.
    }
    conns.push(conn);
    onAccepted();
    const buffer = new Uint8Array(4096);
    try {
      while (await conn.read(buffer) !== null) { /* says nothing */ }
    } catch {
      // Reset by the client: closed all the same.
    }
  })();
  return {
    port: listener.addr.port,
    accepted,
    closed,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

/** Asserts that `connecting` fails with a TimeoutError well before 10 s. */
async function assertTimesOut(
  connecting: Promise<unknown>,
  started: number,
): Promise<void> {
  await assert.rejects(connecting, (error: unknown) => {
    assert.ok(error instanceof TimeoutError, String(error));
    assert.match(error.message, /not connected within 300 ms/);
    return true;
  });
  const took = performance.now() - started;
  assert.ok(took < 3000, `took ${took} ms, expected about 300`);
}

Deno.test("connect() with connectTimeout gives up on a server that accepts and never answers, and closes the socket", async () => {
  const server = silentServer();
  try {
    const started = performance.now();
    await assertTimesOut(
      connect("127.0.0.1", server.port, { connectTimeout: 300 }),
      started,
    );
    await server.closed;
  } finally {
    server.close();
  }
});

Deno.test("connectTls() with connectTimeout gives up on a TLS handshake that is never answered", async () => {
  const server = silentServer();
  try {
    const started = performance.now();
    await assertTimesOut(
      connectTls("127.0.0.1", server.port, { connectTimeout: 300 }),
      started,
    );
    // Deno 2.9 releases a TLS socket closed mid-handshake only once the
    // handshake ends: here, when the server hangs up below.
  } finally {
    server.close();
  }
});

Deno.test("connectWebSocket() with connectTimeout gives up on an upgrade that is never answered", async () => {
  const server = silentServer();
  try {
    const started = performance.now();
    await assertTimesOut(
      connectWebSocket(`ws://127.0.0.1:${server.port}/`, {
        connectTimeout: 300,
      }),
      started,
    );
    await server.closed;
  } finally {
    server.close();
  }
});

Deno.test("connect() rejects with the signal's reason when it aborts during the handshake", async () => {
  const server = silentServer();
  try {
    const controller = new AbortController();
    const reason = new Error("the user gave up");
    const connecting = connect("127.0.0.1", server.port, {
      signal: controller.signal,
    });
    await server.accepted;
    controller.abort(reason);
    await assert.rejects(connecting, (error: unknown) => error === reason);
    await server.closed;
  } finally {
    server.close();
  }
});

Deno.test("connect*() with a signal already aborted reject with its reason", async () => {
  const reason = new Error("too late");
  const signal = AbortSignal.abort(reason);
  const server = silentServer();
  try {
    for (
      const connecting of [
        connect("127.0.0.1", server.port, { signal }),
        connectTls("127.0.0.1", server.port, { signal }),
        connectWebSocket(`ws://127.0.0.1:${server.port}/`, { signal }),
        connectUnix("/nonexistent/netref.sock", { signal }),
      ]
    ) {
      await assert.rejects(connecting, (error: unknown) => error === reason);
    }
  } finally {
    server.close();
  }
});

Deno.test("connectStream() with connectTimeout gives up on a peer that never says hello", async () => {
  const [client, peer] = memoryPair();
  try {
    const started = performance.now();
    await assertTimesOut(
      connectStream(client, { connectTimeout: 300 }),
      started,
    );
    // The client's end was closed: the peer reads the end of the stream.
    const buffer = new Uint8Array(64);
    while (await peer.read(buffer) !== null) { /* its hello */ }
  } finally {
    peer.close();
  }
});

Deno.test("bad connectTimeout and signal options are refused before dialling", async () => {
  await assert.rejects(
    connect("127.0.0.1", 9, { connectTimeout: -1 }),
    RangeError,
  );
  await assert.rejects(
    connect("127.0.0.1", 9, { signal: "soon" as unknown as AbortSignal }),
    TypeError,
  );
});

/** Asserts a rejection within `expected` ms (give or take) that suggests connectRpyc(). */
async function assertSilentServerHint(
  connecting: Promise<unknown>,
  kind: new (...args: never[]) => Error,
  expected: number,
): Promise<void> {
  const started = performance.now();
  await assert.rejects(connecting, (error: unknown) => {
    assert.ok(error instanceof kind, String(error));
    assert.match(
      error.message,
      /if this is a Python RPyC server, use connectRpyc\(\) \(netref call --rpyc\)/,
    );
    return true;
  });
  const took = performance.now() - started;
  assert.ok(
    took >= expected - 50 && took < expected + 2000,
    `took ${took} ms, expected about ${expected}`,
  );
}

Deno.test("connect() with only a call timeout gives up connecting after it, suggests connectRpyc(), and logs nothing", async () => {
  const server = silentServer();
  const logs: string[] = [];
  try {
    const connecting = connect("127.0.0.1", server.port, {
      timeout: 500,
      log: (line) => logs.push(line),
    });
    await assertSilentServerHint(connecting, TimeoutError, 500);
    await connecting.catch((error: Error) =>
      assert.match(error.message, /not connected within 500 ms \(timeout\)/)
    );
    await server.closed;
    assert.deepEqual(logs, []);
  } finally {
    server.close();
  }
});

Deno.test("a tiny call timeout bounds connecting at 250 ms, and timeout: 0 not at all", async () => {
  const server = silentServer();
  try {
    await assertSilentServerHint(
      connect("127.0.0.1", server.port, { timeout: 20 }),
      TimeoutError,
      250,
    );
    // No bound of its own: the handshake's, with the hint said once.
    const logs: string[] = [];
    const connecting = connect("127.0.0.1", server.port, {
      timeout: 0,
      handshakeTimeout: 400,
      log: (line) => logs.push(line),
    });
    await assertSilentServerHint(connecting, ProtocolError, 400);
    await connecting.catch((error: Error) =>
      assert.equal(error.message.match(/connectRpyc/g)?.length, 1)
    );
    assert.deepEqual(logs, []);
  } finally {
    server.close();
  }
});

Deno.test("connect(..., { timeout: 500 }) to a Python RPyC server rejects in about 500 ms suggesting connectRpyc(), which reaches it", async () => {
  await using python = await startPythonServer();
  await assertSilentServerHint(
    connect("127.0.0.1", python.port, { timeout: 500 }),
    TimeoutError,
    500,
  );
  await using conn = await connectRpyc("127.0.0.1", python.port, {
    timeout: 5000,
  });
  assert.ok(conn.root);
});

Deno.test("connectRpyc() gives up on a server that never answers within connectTimeout, or timeout, and on its signal", async () => {
  const server = silentServer();
  try {
    for (const options of [{ connectTimeout: 300 }, { timeout: 300 }]) {
      const started = performance.now();
      await assert.rejects(
        connectRpyc("127.0.0.1", server.port, options),
        (error: unknown) => {
          assert.ok(error instanceof TimeoutError, String(error));
          assert.match(
            error.message,
            /not connected within 300 ms \((connectTimeout|timeout)\), no answer from the server/,
          );
          return true;
        },
      );
      const took = performance.now() - started;
      assert.ok(took < 3000, `took ${took} ms, expected about 300`);
    }
    const controller = new AbortController();
    const reason = new Error("the user gave up");
    const connecting = connectRpyc("127.0.0.1", server.port, {
      signal: controller.signal,
    });
    await server.accepted;
    controller.abort(reason);
    await assert.rejects(connecting, (error: unknown) => error === reason);
  } finally {
    server.close();
  }
});
