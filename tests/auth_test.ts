import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  exposed,
  serve,
  serveListener,
  serveMemory,
  serveStdio,
  serveTls,
  serveUnix,
  serveWebSocket,
  webSocketHandler,
} from "../mod.ts";
import { delay, harness } from "./_harness.ts";

class Vault {
  @exposed
  open(): string {
    return "opened";
  }
  @exposed
  async slow(ms: number): Promise<string> {
    await delay(ms);
    return `done after ${ms} ms`;
  }
}

Deno.test("a client with the right token reaches an authenticated server", async () => {
  await using h = await harness(Vault, {
    serve: { token: "s3cret" },
    connect: { token: "s3cret" },
  });
  assert.equal(await h.client.root.open(), "opened");
});

Deno.test("a client without the token, or with a wrong one, is refused with a clear error, and it is logged", async (t) => {
  const logs: string[] = [];
  await using server = serve(Vault, {
    port: 0,
    token: "s3cret",
    log: (line) => logs.push(line),
  });
  await t.step("no token", async () => {
    await assert.rejects(
      connect("127.0.0.1", server.addr.port),
      (error: unknown) => {
        assert.ok(error instanceof ConnectionClosedError);
        assert.match(
          error.message,
          /refused the connection: authentication failed: this server requires a token/,
        );
        return true;
      },
    );
  });
  await t.step("wrong token", async () => {
    await assert.rejects(
      connect("127.0.0.1", server.addr.port, { token: "s3cres" }),
      /authentication failed: the token does not match/,
    );
  });
  await t.step("the token and a NUL byte", async () => {
    await assert.rejects(
      connect("127.0.0.1", server.addr.port, { token: "s3cret\0" }),
      /does not match/,
    );
  });
  await t.step("a prefix of the token", async () => {
    await assert.rejects(
      connect("127.0.0.1", server.addr.port, { token: "s3c" }),
      /does not match/,
    );
  });
  assert.equal(
    logs.filter((line) => /authentication failed/.test(line)).length,
    4,
  );
  // The refused clients never reached the service; a good one still does.
  await using good = await connect<Vault>("127.0.0.1", server.addr.port, {
    token: "s3cret",
  });
  assert.equal(await good.root.open(), "opened");
});

Deno.test("an empty token is refused as an option", () => {
  assert.throws(() => serve(Vault, { port: 0, token: "" }), TypeError);
});

Deno.test("every serve function given token: undefined (an unset variable) throws naming the option, before it listens", async () => {
  // The README's `token: Deno.env.get("NETREF_TOKEN")` with the variable unset.
  const token = Deno.env.get("NETREF_SURELY_UNSET_VARIABLE");
  const named = (error: unknown) => {
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /option token is undefined/);
    return true;
  };
  assert.throws(() => serve(Vault, { port: 0, token }), named);
  assert.throws(() => serveMemory(Vault, { token }), named);
  assert.throws(() => serveStdio(Vault, { token }), named);
  assert.throws(() => webSocketHandler(Vault, { token }), named);
  assert.throws(() => serveWebSocket(Vault, { port: 0, token }), named);
  await assert.rejects(
    serveTls(Vault, { port: 0, cert: "", key: "", token }),
    named,
  );
  await assert.rejects(
    serveUnix(Vault, { path: "/nonexistent", token }),
    named,
  );
  let closed = false;
  assert.throws(
    () =>
      serveListener(
        {
          addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
          accept: () => new Promise<never>(() => {}),
          close: () => closed = true,
        },
        Vault,
        { token },
      ),
    named,
  );
  assert.ok(closed, "the listener was closed");
  // An empty one is refused too, with its own message naming the option.
  assert.throws(() => serveMemory(Vault, { token: "" }), /token/);
});

Deno.test("idleTimeout closes a silent connection with a logged reason, not one with traffic", async () => {
  const logs: string[] = [];
  await using server = serve(Vault, {
    port: 0,
    idleTimeout: 200,
    log: (line) => logs.push(line),
  });
  const started = performance.now();
  const idle = await connect<Vault>("127.0.0.1", server.addr.port);
  await using busy = await connect<Vault>("127.0.0.1", server.addr.port);
  let idleClosed = false;
  idle.closed.then(() => idleClosed = true);
  // One connection calls every 50 ms (a gap well under the timeout: the gap
  // is the behaviour here); the other says nothing until it is closed.
  while (!idleClosed && performance.now() - started < 5000) {
    assert.equal(await busy.root.open(), "opened");
    await delay(50);
  }
  assert.ok(idleClosed, "the silent connection was never closed");
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 150, `closed after only ${elapsed} ms`);
  await assert.rejects(idle.root.open(), ConnectionClosedError);
  assert.equal(busy.isClosed, false);
  assert.equal(await busy.root.open(), "opened");
  assert.ok(logs.some((line) => /idle for 200 ms/.test(line)), logs.join("\n"));
});

Deno.test("idleTimeout does not close a connection while a call is pending, even with no other traffic", async () => {
  await using h = await harness(Vault, { serve: { idleTimeout: 200 } });
  // Nothing else is sent while the call runs for five idle periods.
  assert.equal(await h.client.root.slow(1000), "done after 1000 ms");
  assert.equal(h.client.isClosed, false);
  assert.equal(await h.client.root.open(), "opened");
});
