import assert from "node:assert/strict";
import {
  AccessError,
  connect,
  dir,
  exposed,
  RemoteError,
  serve,
  service,
  setAttr,
  TimeoutError,
} from "../mod.ts";
import { serviceName } from "../registry.ts";
import { TestService } from "../examples/test_service.ts";
import { eventually, harness } from "./_harness.ts";
import { startFixture } from "./_processes.ts";

class Settings {
  @exposed
  theme = "dark";
  @exposed
  nested = { deep: { value: 42, list: [1, 2, 3] } };
  #size = 10;
  @exposed
  get size(): number {
    return this.#size;
  }
  @exposed
  set size(value: number) {
    if (value < 0) throw new RangeError("size must be >= 0");
    this.#size = value;
  }
  @exposed
  get readOnly(): string {
    return "ro";
  }
  hidden = "not exposed";
}

class Base {
  @exposed
  inherited(): string {
    return "from base";
  }
}

@service("rich")
class RichService extends Base {
  @exposed
  settings = new Settings();
  @exposed
  data = { a: { b: { c: (x: number) => x * 2 } } };
  @exposed
  echo<T>(value: T): T {
    return value;
  }
  @exposed
  add(a: number, b: number): number {
    return a + b;
  }
  @exposed
  fail(): never {
    throw new RangeError("out of range");
  }
  notExposed(): string {
    return "nope";
  }
}

Deno.test("root.foo() is 'foo' and root.bar() is 'bar'", async () => {
  await using h = await harness(TestService);
  assert.equal(await h.client.root.foo(), "foo");
  assert.equal(await h.client.root.bar(), "bar");
});

Deno.test("an exposed attribute is read with await", async () => {
  await using h = await harness(TestService);
  assert.equal(await h.client.root.version, "1.0");
});

Deno.test("setAttr() writes an exposed field and waits for the acknowledgement", async () => {
  await using h = await harness(TestService);
  await setAttr(h.client.root, "version", "2.0");
  assert.equal(await h.client.root.version, "2.0");
});

Deno.test("setAttr() goes through exposed setters, and their errors come back", async () => {
  await using h = await harness(RichService);
  const settings = h.client.root.settings;
  assert.equal(await settings.size, 10);
  await setAttr(settings, "size", 12);
  assert.equal(await settings.size, 12);
  await assert.rejects(setAttr(settings, "size", -1), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.remoteName, "RangeError");
    return true;
  });
  await assert.rejects(setAttr(settings, "readOnly", "x"), AccessError);
  await assert.rejects(setAttr(settings, "hidden", "x"), AccessError);
});

Deno.test("plain data the server exposes is read-only remotely: setAttr on it fails and nothing changes", async () => {
  await using h = await harness(RichService);
  const nested = h.client.root.settings.nested;
  await assert.rejects(
    setAttr(nested, "mode", "UNSAFE"),
    (error: unknown) => {
      assert.ok(error instanceof AccessError, `got ${error}`);
      assert.match(error.message, /plain data is read-only remotely/);
      return true;
    },
  );
  await assert.rejects(setAttr(nested.deep, "value", 0), AccessError);
  // Only its own properties are reachable, not those it inherits.
  const inherited = nested as unknown as {
    toLocaleString(): Promise<string>;
  };
  await assert.rejects(
    async () => await inherited.toLocaleString(),
    /Cannot access 'toLocaleString' of a plain object: no such property/,
  );
  assert.deepEqual(await nested, { deep: { value: 42, list: [1, 2, 3] } });
});

Deno.test("reaching secret() or __proto__ fails with an error naming the member", async (t) => {
  await using h = await harness(TestService);
  const root = h.client.root as unknown as Record<
    string,
    () => Promise<unknown>
  >;
  for (
    const name of [
      "secret",
      "__proto__",
      "prototype",
      "onConnect",
    ]
  ) {
    await t.step(name, async () => {
      await assert.rejects(root[name](), (error: unknown) => {
        assert.ok(
          error instanceof AccessError,
          `expected AccessError, got ${error}`,
        );
        assert.match(error.message, new RegExp(`'${name}'`));
        return true;
      });
      await assert.rejects(Promise.resolve(root[name]), AccessError);
    });
  }
  // Answered by the proxy itself, never asked of the server.
  assert.equal(root.constructor, undefined);
  assert.match(root.toString() as unknown as string, /^\[netref root of /);
});

Deno.test("a member path root.a.b.c(1) is called on the server", async () => {
  await using h = await harness(RichService);
  assert.equal(await h.client.root.data.a.b.c(21), 42);
  assert.equal(await h.client.root.settings.nested.deep.value, 42);
  assert.deepEqual(await h.client.root.settings.nested.deep.list, [1, 2, 3]);
  assert.equal(await h.client.root.settings.theme, "dark");
  await assert.rejects(
    Promise.resolve(
      (h.client.root.settings as unknown as Record<string, unknown>).hidden,
    ),
    /'hidden'/,
  );
});

Deno.test("inherited exposed members are reachable", async () => {
  await using h = await harness(RichService);
  assert.equal(await h.client.root.inherited(), "from base");
});

Deno.test("dir() lists exactly the exposed members with their kinds, and methods' parameter names", async () => {
  await using h = await harness(RichService);
  const members = await dir(h.client.root);
  assert.deepEqual(members, [
    { name: "add", kind: "method", params: ["a", "b"] },
    { name: "data", kind: "field" },
    { name: "echo", kind: "method", params: ["value"] },
    { name: "fail", kind: "method", params: [] },
    { name: "inherited", kind: "method", params: [] },
    { name: "settings", kind: "field" },
  ]);
  const settings = await dir(h.client.root.settings);
  assert.deepEqual(settings.map((m) => `${m.name}:${m.kind}`), [
    "nested:field",
    "readOnly:getter",
    "size:field",
    "theme:field",
  ]);
});

Deno.test("a remote throw arrives as RemoteError with name, message and stack", async () => {
  await using h = await harness(RichService);
  await assert.rejects(h.client.root.fail(), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.remoteName, "RangeError");
    assert.match(error.message, /out of range/);
    assert.match(error.remoteStack ?? "", /fail/);
    return true;
  });
});

Deno.test("calls with several arguments and concurrent calls all resolve", async () => {
  await using h = await harness(RichService);
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, i) => h.client.root.add(i, 1)),
  );
  assert.deepEqual(results, Array.from({ length: 500 }, (_, i) => i + 1));
});

Deno.test("@service names a service, and the client learns it in the handshake", async () => {
  assert.equal(serviceName(RichService), "rich");
  assert.equal(serviceName(TestService), "test");
  await using h = await harness(RichService);
  assert.equal(h.client.peer.service, "rich");
  assert.match(h.client.peer.implementation, /^netref-deno\//);
});

Deno.test("serve() listens on 127.0.0.1 unless told otherwise", async () => {
  await using server = serve(TestService, { port: 0, log: () => {} });
  assert.equal(server.addr.hostname, "127.0.0.1");
});

Deno.test("each connection gets its own service instance by default", async () => {
  await using server = serve(TestService, { port: 0, log: () => {} });
  await using a = await connect<TestService>("127.0.0.1", server.addr.port);
  await using b = await connect<TestService>("127.0.0.1", server.addr.port);
  await setAttr(a.root, "version", "a");
  assert.equal(await a.root.version, "a");
  assert.equal(await b.root.version, "1.0");
});

Deno.test("shared: true serves one instance to every connection", async () => {
  await using server = serve(TestService, {
    port: 0,
    shared: true,
    log: () => {},
  });
  await using a = await connect<TestService>("127.0.0.1", server.addr.port);
  await using b = await connect<TestService>("127.0.0.1", server.addr.port);
  await setAttr(a.root, "version", "shared");
  assert.equal(await b.root.version, "shared");
});

Deno.test("onConnect and onDisconnect are called with the connection", async () => {
  const events: string[] = [];
  class Hooked {
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
  await using server = serve(Hooked, { port: 0, log: () => {} });
  const conn = await connect<Hooked>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.ping(), "pong");
  await conn.close();
  // A connection leaves the count only after its onDisconnect ran.
  assert.ok(await eventually(() => server.connectionCount === 0));
  assert.deepEqual(events, ["connect", "disconnect"]);
});

Deno.test("conn.ping() measures a round trip", async () => {
  await using h = await harness(TestService);
  const rtt = await h.client.ping();
  assert.ok(rtt >= 0 && rtt < 5000);
});

Deno.test("conn.ping() sends a PING: with the server process stopped, it times out", async () => {
  const server = await startFixture("slow_server.ts", [], [
    "--allow-net",
    "--allow-env",
  ]);
  try {
    await using conn = await connect("127.0.0.1", Number(server.ready));
    await conn.ping({ timeout: 5000 });
    server.child.kill("SIGSTOP");
    try {
      await assert.rejects(conn.ping({ timeout: 300 }), TimeoutError);
    } finally {
      server.child.kill("SIGCONT");
    }
    await conn.ping({ timeout: 5000 });
  } finally {
    await server.stop();
  }
});

Deno.test("bad arguments to connect() and serve() are refused clearly", async () => {
  await assert.rejects(connect("127.0.0.1", 70000), RangeError);
  await assert.rejects(connect("", 1), TypeError);
  await assert.rejects(
    connect("127.0.0.1", 9, { timeout: -1 }),
    RangeError,
  );
  assert.throws(() => serve(null as unknown as object, { port: 0 }), TypeError);
  assert.throws(
    () => serve(TestService, { port: 0, maxFrameBytes: 1 }),
    RangeError,
  );
  // A port just freed: nothing listens there.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = probe.addr.port;
  probe.close();
  await assert.rejects(
    connect("127.0.0.1", freePort),
    Deno.errors.ConnectionRefused,
  );
});

@service("gated")
class GatedService {
  #open: () => void = () => {};
  #gate = new Promise<void>((resolve) => this.#open = resolve);
  @exposed
  async throughGate(): Promise<string> {
    await this.#gate;
    return "through";
  }
  @exposed
  open(): void {
    this.#open();
  }
  @exposed
  echo(n: number): number {
    return n;
  }
}

Deno.test("a call left pending while hundreds of others come and go, many at once, gets its own answer, and each of theirs gets its own", async () => {
  await using h = await harness(GatedService);
  const root = h.client.root;
  // Its id's place in both sides' tables of calls in flight is taken while
  // later ids come round to it, and the tables grow around it.
  const slow = root.throughGate();
  for (let round = 0; round < 10; round++) {
    const batch = Array.from(
      { length: 5 + round * 10 },
      (_, i) => round * 1000 + i,
    );
    assert.deepEqual(await Promise.all(batch.map((n) => root.echo(n))), batch);
  }
  assert.equal(h.client.stats.pendingCalls, 1);
  await root.open();
  assert.equal(await slow, "through");
  assert.equal(h.client.stats.pendingCalls, 0);
});
