import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  ConnectionClosedError,
  exposed,
  serve,
  serveWebSocket,
} from "../mod.ts";
import { delay, eventually, recordConnections } from "./_harness.ts";

class Slow {
  @exposed
  async sleep(ms: number): Promise<string> {
    await delay(ms);
    return `slept ${ms}`;
  }
  @exposed
  accessor mode = "fast";
}

/** Waits until the server's side of the first connection runs `n` calls. */
async function callsRunning(sides: Connection[], n: number): Promise<void> {
  assert.ok(
    await eventually(() => sides[0]?.stats.inFlight === n, 2000),
    `the server never ran ${n} calls`,
  );
}

Deno.test("shutdown() lets in-flight calls finish, then closes every connection", async () => {
  const recorder = recordConnections(Slow);
  const server = serve(recorder.Service, { port: 0, log: () => {} });
  const conn = await connect<Slow>("127.0.0.1", server.addr.port);
  const call = conn.root.sleep(200);
  await callsRunning(recorder.sides, 1);
  const stopping = server.shutdown({ deadline: 5000 });
  // New connections are refused once shutdown has begun.
  await assert.rejects(
    connect("127.0.0.1", server.addr.port),
    (e) =>
      e instanceof Deno.errors.ConnectionRefused ||
      e instanceof Deno.errors.ConnectionReset,
  );
  assert.equal(await call, "slept 200");
  await stopping;
  await server.finished;
  await conn.closed;
  assert.equal(conn.isClosed, true);
  assert.equal(server.connectionCount, 0);
});

Deno.test("shutdown() closes connections whose calls outlast the deadline", async () => {
  const recorder = recordConnections(Slow);
  const server = serve(recorder.Service, { port: 0, log: () => {} });
  const conn = await connect<Slow>("127.0.0.1", server.addr.port);
  const call = conn.root.sleep(5000);
  await callsRunning(recorder.sides, 1);
  const started = performance.now();
  await server.shutdown({ deadline: 100 });
  // The deadline is the behaviour: shutdown does not wait for the 5 s call.
  assert.ok(performance.now() - started < 2000);
  await assert.rejects(call, ConnectionClosedError);
  await conn.closed;
});

Deno.test("a server disposed with await using is shut down", async () => {
  let port = 0;
  {
    await using server = serve(Slow, { port: 0, log: () => {} });
    port = server.addr.port;
    await using conn = await connect<Slow>("127.0.0.1", port);
    assert.equal(await conn.root.mode, "fast");
  }
  await assert.rejects(
    connect("127.0.0.1", port),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("an exposed accessor is readable and writable", async () => {
  await using server = serve(Slow, { port: 0, log: () => {} });
  await using conn = await connect<Slow>("127.0.0.1", server.addr.port);
  const { setAttr } = await import("../mod.ts");
  await setAttr(conn.root, "mode", "slow");
  assert.equal(await conn.root.mode, "slow");
});

Deno.test("a service whose onConnect throws refuses that client with the reason, and logs it", async () => {
  const logs: string[] = [];
  class Picky {
    onConnect() {
      throw new Error("not today");
    }
    @exposed
    foo() {
      return "foo";
    }
  }
  await using server = serve(Picky, {
    port: 0,
    log: (line) => logs.push(line),
  });
  await assert.rejects(connect("127.0.0.1", server.addr.port), /not today/);
  assert.ok(logs.some((line) => /not today/.test(line)), logs.join("\n"));
});

Deno.test("a client beyond maxConnections is refused with the reason, and others keep working", async () => {
  const logs: string[] = [];
  await using server = serve(Slow, {
    port: 0,
    maxConnections: 2,
    log: (line) => logs.push(line),
  });
  await using a = await connect<Slow>("127.0.0.1", server.addr.port);
  await using b = await connect<Slow>("127.0.0.1", server.addr.port);
  await assert.rejects(
    connect("127.0.0.1", server.addr.port),
    /refused the connection: the server is at its limit of 2 connections/,
  );
  assert.ok(
    logs.some((line) => /limit of 2 connections/.test(line)),
    logs.join("\n"),
  );
  assert.equal(await a.root.mode, "fast");
  assert.equal(await b.root.mode, "fast");
  await a.close();
  // A place is free again.
  assert.ok(await eventually(() => server.connectionCount === 1));
  await using c = await connect<Slow>("127.0.0.1", server.addr.port);
  assert.equal(await c.root.mode, "fast");
});

Deno.test("onDisconnect runs only for clients whose handshake succeeded and onConnect ran", async () => {
  const events: string[] = [];
  class Counted {
    onConnect() {
      events.push("connect");
    }
    onDisconnect() {
      events.push("disconnect");
    }
    @exposed
    ping() {
      return "pong";
    }
  }
  await using server = serve(Counted, { port: 0, token: "t", log: () => {} });
  await assert.rejects(connect("127.0.0.1", server.addr.port), /token/);
  await assert.rejects(
    connect("127.0.0.1", server.addr.port, { token: "x" }),
    /does not match/,
  );
  const conn = await connect<Counted>("127.0.0.1", server.addr.port, {
    token: "t",
  });
  assert.equal(await conn.root.ping(), "pong");
  await conn.close();
  // A connection leaves the count only after its onDisconnect ran.
  assert.ok(await eventually(() => server.connectionCount === 0));
  assert.deepEqual(events, ["connect", "disconnect"]);
});

/** A port nothing listens on now. */
function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = probe.addr;
  probe.close();
  return port;
}

Deno.test("a server refused for a bad option leaves its port free", async () => {
  for (const bad of [{ timeout: -1 }, { maxConnections: 0 }]) {
    const port = freePort();
    assert.throws(() => serve(Slow, { port, ...bad }), RangeError);
    await using server = serve(Slow, { port });
    assert.equal(server.addr.port, port);
  }
  const port = freePort();
  assert.throws(
    () => serveWebSocket(Slow, { port, maxInFlight: 0 }),
    /maxInFlight 0/,
  );
  await using server = serveWebSocket(Slow, { port });
  assert.equal(server.addr.port, port);
});
