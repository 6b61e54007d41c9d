// Nothing a peer sends can exit the process: its thenables are never
// adopted, probes of a netref (JSON.stringify, console.log, String) never
// reach the peer, and a call nobody awaits that fails is logged, not fatal.
// The server runs in its own process (tests/fixtures/careless_server.ts),
// since a crash is the failure.

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  exposed,
  RemoteError,
  serve,
  TimeoutError,
  withOptions,
} from "../mod.ts";
import { type FixtureProcess, startFixture } from "./_processes.ts";
import { eventually } from "./_harness.ts";
import { pythonLines, startPythonServer } from "./_rpyc.ts";
import { connectRpyc } from "../src/rpyc/client.ts";
import { client } from "./_rpyc_service.ts";

type Fn = (...args: unknown[]) => unknown;

interface Careless {
  echo(value: unknown): Promise<unknown>;
  asyncEcho(value: unknown): Promise<unknown>;
  relay(callback: Fn): Promise<unknown>;
  fireAndForget(callback: Fn): Promise<string>;
  later(callback: Fn, ms: number): Promise<string>;
  stringify(value: unknown): Promise<string | undefined>;
  show(value: unknown): Promise<string>;
  showPending(callback: Fn): Promise<string>;
  text(value: unknown): Promise<string[]>;
  failOnDisconnect(): Promise<void>;
  pid(): Promise<number>;
}

function startCareless(token?: string): Promise<FixtureProcess> {
  return startFixture("careless_server.ts", token === undefined ? [] : [token]);
}

function open(
  server: FixtureProcess,
  token?: string,
): Promise<Connection<Careless>> {
  return connect<Careless>("127.0.0.1", server.ready.port, { token });
}

/** Waits (at most 5 s) until the server has logged `text`. */
async function logged(server: FixtureProcess, text: string): Promise<void> {
  const seen = await eventually(() => server.stderr().includes(text), 5000);
  assert.ok(seen, `the server never logged "${text}":\n${server.stderr()}`);
}

/** A fresh connection still reaches the server, which reported no crash. */
async function assertAlive(
  server: FixtureProcess,
  token?: string,
): Promise<void> {
  assert.doesNotMatch(server.stderr(), /Uncaught|error:/);
  await using conn = await open(server, token);
  assert.equal(await conn.root.pid(), server.child.pid);
}

const NETREF_FN = /^\[netref function #\d+ of 127\.0\.0\.1:\d+\]$/;

Deno.test("netref never calls the then method of a peer's object, and user code that does cannot exit the server", async (t) => {
  await using server = await startCareless();
  await using conn = await open(server);
  let thenCalls = 0;
  const thenable = {
    then: () => {
      thenCalls++;
      throw new Error("the peer's then was called");
    },
  };

  await t.step(
    "returned by a handler, it goes back to the peer as it came",
    async () => {
      const [back] = await conn.root.echo([thenable]) as [typeof thenable];
      assert.equal(back.then, thenable.then);
    },
  );

  await t.step(
    "returned on its own, the receiving side refuses it by name rather than call it",
    async () => {
      await assert.rejects(
        conn.root.echo(thenable),
        (e) => e instanceof TypeError && /'then' method/.test(e.message),
      );
    },
  );

  await t.step(
    "a callback answering with one fails the server's call with a TypeError",
    async () => {
      await assert.rejects(
        conn.root.relay(() => thenable),
        (e) =>
          e instanceof RemoteError && e.remoteName === "TypeError" &&
          /'then' method/.test(e.message),
      );
    },
  );
  assert.equal(thenCalls, 0);

  await t.step(
    "an async handler that adopts one (user code) calls it; when it throws, the server logs it and lives",
    async () => {
      await assert.rejects(
        withOptions(conn.root, { timeout: 300 }).asyncEcho(thenable),
        TimeoutError,
      );
      await logged(server, "the peer's then was called");
      assert.equal(thenCalls, 1);
    },
  );

  await assertAlive(server);
});

Deno.test("JSON.stringify, console.log and String of a netref in a handler describe it without a remote call", async () => {
  await using server = await startCareless();
  await using conn = await open(server);
  let calls = 0;
  const fn = () => {
    calls++;
  };
  const json = await conn.root.stringify(fn);
  assert.match(JSON.parse(json!), NETREF_FN);
  assert.match(await conn.root.show(fn), NETREF_FN);
  const [string, template, plus] = await conn.root.text(fn);
  assert.match(string, NETREF_FN);
  assert.equal(template, string);
  assert.equal(plus, string);
  assert.equal(calls, 0);
  assert.match(
    await conn.root.showPending(fn),
    /^\[netref pending call #\d+\(\) of 127\.0\.0\.1:\d+: await it\]$/,
  );
  await assertAlive(server);
});

Deno.test("a callback called after its client has gone is logged, not fatal", async () => {
  await using server = await startCareless();
  const conn = await open(server);
  assert.equal(await conn.root.later(() => {}, 100), "scheduled");
  await conn.close();
  await logged(server, "failed while nothing awaited it");
  await logged(server, "the connection is closed");
  await assertAlive(server);
});

Deno.test("a callback that throws, whose result the server drops, is logged, not fatal", async () => {
  await using server = await startCareless();
  await using conn = await open(server);
  assert.equal(
    await conn.root.fireAndForget(() => {
      throw new Error("nobody listens to this failure");
    }),
    "fired",
  );
  await logged(server, "nobody listens to this failure");
  await assertAlive(server);
});

Deno.test("an async onDisconnect that rejects is logged, not fatal", async () => {
  await using server = await startCareless();
  const conn = await open(server);
  await conn.root.failOnDisconnect();
  await conn.close();
  await logged(server, "onDisconnect failed on purpose");
  await assertAlive(server);
});

Deno.test("a silent client of a server that requires a token is refused, not fatal", async () => {
  await using server = await startCareless("sesame");
  // Silent past the handshake timeout: handed to RPyC, which cannot send a
  // token, so it is closed with the sniffing read still pending.
  const socket = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.ready.port,
  });
  assert.equal(await socket.read(new Uint8Array(64)), null);
  socket.close();
  await logged(server, "refused RPyC client");
  await assertAlive(server, "sesame");
});

Deno.test("a Python client cannot have the server call its then, and its late callbacks are logged", async () => {
  await using server = await startCareless();
  const lines = await pythonLines(
    client(`called = []
def then(*args):
    called.append(args)
    raise ValueError('the python then was called')
back = c.root.echo(then=then)
print(len(called))
print(c.root.stringify(then))
print(c.root.show(then))
print(c.root.later(then, 100))
c.close()`),
    { args: [String(server.ready.port)] },
  );
  assert.equal(lines[0], "0");
  assert.match(lines[1], /^"\[netref \S+ #\d+ of 127\.0\.0\.1:\d+\]"$/);
  assert.match(lines[2], /^\[netref \S+ #\d+ of 127\.0\.0\.1:\d+\]$/);
  assert.equal(lines[3], "scheduled");
  await logged(server, "failed while nothing awaited it");
  await assertAlive(server);
});

// In-process: what a proxy answers itself. A probe that went to the peer
// would leave a pending call behind (they are counted synchronously).

class Probed {
  @exposed
  counter(): number {
    return 1;
  }
  @exposed
  callback(): () => number {
    return () => 1;
  }
}

Deno.test("a netref answers the well-known probes locally", async (t) => {
  const logs: string[] = [];
  const server = serve(Probed, { port: 0, log: (m) => logs.push(m) });
  const conn = await connect("127.0.0.1", server.addr.port);
  const port = server.addr.port;
  try {
    const ref = conn.root as unknown as Record<string | symbol, unknown>;
    await t.step("toJSON, toString, String(), template and inspect", () => {
      const text = `[netref root of 127.0.0.1:${port}]`;
      assert.equal(JSON.stringify(ref), JSON.stringify(text));
      assert.equal(JSON.stringify({ a: ref }), JSON.stringify({ a: text }));
      assert.equal(String(ref), text);
      assert.equal(`${ref}`, text);
      assert.equal((ref.toString as () => string)(), text);
      assert.equal(Deno.inspect(ref), text);
      assert.equal(Deno.inspect([ref]), `[ ${text} ]`);
    });
    await t.step(
      "own keys of an object or a function netref: none",
      async () => {
        const fn = await (ref.callback as () => Promise<object>)();
        for (const value of [ref, fn]) {
          assert.deepEqual(Object.keys(value), []);
          assert.deepEqual(Reflect.ownKeys(value), []);
          assert.equal(
            Object.getOwnPropertyDescriptor(value, "prototype"),
            undefined,
          );
        }
      },
    );
    await t.step("valueOf, constructor, iterators, toStringTag, then", () => {
      assert.equal((ref.valueOf as () => unknown).call(ref), ref);
      assert.equal(ref.constructor, undefined);
      assert.equal(ref[Symbol.iterator], undefined);
      assert.equal(ref[Symbol.asyncIterator], undefined);
      assert.equal(Object.prototype.toString.call(ref), "[object Netref]");
      assert.equal(ref.then, undefined);
      assert.equal("then" in ref, false);
      assert.equal("toJSON" in ref, true);
      assert.equal("constructor" in ref, false);
    });
    await t.step("members and pending calls describe themselves", async () => {
      const member = ref.counter as () => unknown;
      assert.equal(
        Deno.inspect(member),
        `[netref member root.counter of 127.0.0.1:${port}]`,
      );
      assert.equal(JSON.stringify(member), JSON.stringify(String(member)));
      assert.equal(conn.stats.pendingCalls, 0); // No probe asked the server.
      const pending = member();
      assert.equal(
        Deno.inspect(pending),
        `[netref pending call root.counter() of 127.0.0.1:${port}: await it]`,
      );
      assert.equal(JSON.stringify(pending), JSON.stringify(String(pending)));
      assert.equal(conn.stats.pendingCalls, 1);
      assert.equal(await pending, 1);
    });
    assert.deepEqual(logs, []);
  } finally {
    await conn.close();
    await server.shutdown({ deadline: 1000 });
  }
});

Deno.test("a call nobody awaits that fails is logged once; an awaited one is not", async () => {
  const logs: string[] = [];
  const server = serve(Probed, { port: 0, log: () => {} });
  const conn = await connect<Record<string, () => Promise<unknown>>>(
    "127.0.0.1",
    server.addr.port,
    { log: (m) => logs.push(m) },
  );
  try {
    conn.root.missing();
    await assert.rejects(conn.root.alsoMissing());
    await eventually(() => logs.length > 0);
    await conn.root.counter();
    assert.equal(logs.length, 1);
    assert.match(
      logs[0],
      /a call to missing on .* failed while nothing awaited it/,
    );
  } finally {
    await conn.close();
    await server.shutdown({ deadline: 1000 });
  }
});

Deno.test("a Python object's netref describes itself locally, and a failed call nobody awaits is logged", async () => {
  await using python = await startPythonServer();
  const logs: string[] = [];
  await using conn = await connectRpyc<
    { make_counter(): object; fail(message: string): never }
  >("127.0.0.1", python.port, { version: 5, log: (m) => logs.push(m) });
  const counter = await conn.root.make_counter();
  const text = String(counter);
  assert.match(text, /^\[netref \S*Counter #\d+ of 127\.0\.0\.1:\d+\]$/);
  assert.equal(Deno.inspect(counter), text);
  assert.equal(JSON.stringify(counter), JSON.stringify(text));
  assert.equal(conn.stats.pendingCalls, 0);
  conn.root.fail("nobody awaits this");
  const seen = await eventually(() => logs.length > 0);
  assert.ok(seen, "the failed call was not logged");
  assert.match(logs[0], /a call to fail on .* failed while nothing awaited it/);
  assert.match(logs[0], /nobody awaits this/);
});
