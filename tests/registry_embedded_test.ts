import assert from "node:assert/strict";
import { RegistryError, ServiceUnavailableError } from "../src/errors.ts";
import { exposed, serve, service } from "../mod.ts";
import { announce } from "../src/registry/announce.ts";
import { connectByService, discover } from "../src/registry/discover.ts";
import { formatInstances } from "../src/registry/format.ts";
import { RegistryService } from "../src/registry/service.ts";
import { serveRegistry } from "../src/registry/serve_registry.ts";
import type { Registry, RegistryEvent } from "../src/registry/types.ts";
import { checkInstance } from "../src/registry/validate.ts";
import { openRegistry, parseRegistryUrl } from "../src/registry/url.ts";
import { delay } from "./_harness.ts";
import {
  type Child,
  discoveryScenario,
  freePort,
  spawnFixture,
  until,
} from "./_registry.ts";

const quiet = { log: () => {} };
/** A registry with no warm-up: it has no restart to recover from. */
const fresh = { ...quiet, warmup: 0 };

@service("work")
class Work {
  @exposed
  hello(): string {
    return "hello";
  }
}

Deno.test("netref registry: servers announce, clients spread, a killed server leaves within its TTL, a restarted registry is survived", async (t) => {
  const port = freePort();
  let registry: Child = await spawnFixture("registry_process.ts", [
    String(port),
  ]);
  try {
    await discoveryScenario(t, {
      url: `netref://127.0.0.1:${port}`,
      ttl: 1000,
      slack: 300,
      async restart() {
        await registry.stop("SIGKILL");
        await delay(300); // The outage itself: clients must ride it out.
        registry = await spawnFixture("registry_process.ts", [String(port)]);
      },
    });
  } finally {
    await registry.stop("SIGKILL");
  }
});

Deno.test("RegistryService expires a lease that misses its heartbeats, and keeps one that does not", async () => {
  using registry = new RegistryService(fresh);
  const kept = registry.register([{ name: "a", hostname: "h", port: 1 }], 150);
  registry.register([{ name: "b", hostname: "h", port: 2 }], 150);
  // Time is the behaviour: heartbeats every 50 ms keep a 150 ms lease.
  for (let i = 0; i < 6; i++) {
    await delay(50);
    assert.ok(registry.heartbeat(kept));
  }
  assert.deepEqual((await registry.list()).map((i) => i.name), ["a"]);
  assert.equal(registry.heartbeat("no such lease"), false);
  assert.ok(registry.withdraw(kept));
  assert.equal(registry.size, 0);
});

Deno.test("RegistryService refuses malformed registrations with the reason", async (t) => {
  using registry = new RegistryService({ ...fresh, maxEntries: 2 });
  const ok = { name: "a", hostname: "h", port: 1 };
  const cases: [string, unknown[], number, ErrorConstructor, RegExp][] = [
    ["no instances", [], 1000, TypeError, /non-empty array/],
    ["a name with a slash", [{ ...ok, name: "a/b" }], 1000, TypeError, /'\/'/],
    ["an empty name", [{ ...ok, name: "" }], 1000, RangeError, /length 0/],
    [
      "a port out of range",
      [{ ...ok, port: 70000 }],
      1000,
      RangeError,
      /70000/,
    ],
    [
      "a missing hostname",
      [{ ...ok, hostname: "" }],
      1000,
      TypeError,
      /hostname/,
    ],
    [
      "non-string metadata",
      [{ ...ok, metadata: { v: 1 } }],
      1000,
      TypeError,
      /metadata 'v'/,
    ],
    ["a ttl too short", [ok], 10, RangeError, /ttl 10/],
    [
      "more than 256 in one call",
      Array.from({ length: 257 }, (_, i) => ({ ...ok, port: i + 1 })),
      1000,
      RangeError,
      /Cannot register 257 instances at once: the limit is 256/,
    ],
    [
      "more than the registry holds",
      [ok, { ...ok, port: 2 }, { ...ok, port: 3 }],
      1000,
      RangeError,
      /at most 2/,
    ],
  ];
  for (const [what, instances, ttl, ErrorClass, message] of cases) {
    await t.step(what, () => {
      assert.throws(
        () => registry.register(instances, ttl),
        (e: Error) => e instanceof ErrorClass && message.test(e.message),
      );
    });
  }
  assert.equal(registry.size, 0);
});

Deno.test("parseRegistryUrl reads netref and etcd URLs and refuses others", async (t) => {
  await t.step("netref with the default port", () => {
    const url = parseRegistryUrl("netref://10.0.0.1");
    assert.deepEqual(url.hosts, [{ hostname: "10.0.0.1", port: 18810 }]);
  });
  await t.step("etcd with several members, credentials and a prefix", () => {
    const url = parseRegistryUrl("etcd://user:p%40ss@a:1,[::1]:2,b/prod/");
    assert.equal(url.backend, "etcd");
    assert.deepEqual(url.hosts, [
      { hostname: "a", port: 1 },
      { hostname: "::1", port: 2 },
      { hostname: "b", port: 2379 },
    ]);
    assert.equal(url.prefix, "/prod");
    assert.equal(url.password, "p@ss");
  });
  await t.step("etcd's default prefix", () => {
    assert.equal(parseRegistryUrl("etcd://a").prefix, "/netref");
  });
  for (
    const bad of [
      "http://a:1",
      "netref://a:1,b:2",
      "netref://a:1/x",
      "netref://",
      "etcd://a:99999",
    ]
  ) {
    await t.step(`refuses ${bad}`, () => {
      assert.throws(
        () => parseRegistryUrl(bad),
        /registry URL|scheme|one host|port/,
      );
    });
  }
});

Deno.test("connectByService tries the next instance when one refuses, and puts it last afterwards", async () => {
  await using registryServer = serveRegistry({ port: 0, ...fresh });
  await using live = serve(Work, { port: 0, ...quiet });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  const dead = freePort();
  await using _ = await registry.register([
    { name: "work", hostname: "127.0.0.1", port: dead, id: "0-dead" },
    { name: "work", hostname: "127.0.0.1", port: live.addr.port, id: "1-live" },
  ], { ttl: 5000 });
  for (let i = 0; i < 4; i++) {
    await using conn = await connectByService<Work>(registry, "work");
    assert.equal(await conn.root.hello(), "hello");
    assert.equal((conn.remoteAddr as Deno.NetAddr).port, live.addr.port);
  }
  await assert.rejects(
    connectByService(registry, "nothing"),
    (e: Error) =>
      e instanceof ServiceUnavailableError && /no instance/.test(e.message),
  );
  await assert.rejects(
    connectByService(registry, "work", { policy: "fastest" as "random" }),
    TypeError,
  );
});

Deno.test("connectByService reports every failure when no instance answers", async () => {
  await using registryServer = serveRegistry({ port: 0, ...fresh });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  await using _ = await registry.register([
    { name: "work", hostname: "127.0.0.1", port: freePort() },
    { name: "work", hostname: "127.0.0.1", port: freePort() },
  ], { ttl: 5000 });
  await assert.rejects(
    connectByService(registry, "work", { policy: "random" }),
    (e: Error) =>
      e instanceof ServiceUnavailableError &&
      /all 2 instances failed/.test(e.message) &&
      e.cause instanceof AggregateError && e.cause.errors.length === 2,
  );
});

Deno.test("discover answers from its last list while the registry is down", async () => {
  const registryServer = serveRegistry({ port: 0, ...fresh });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  const registration = await registry.register(
    [{ name: "work", hostname: "127.0.0.1", port: 1 }],
    { ttl: 5000 },
  );
  assert.equal((await discover(registry, "work")).length, 1);
  await registration.withdraw();
  await registryServer.shutdown({ deadline: 100 });
  assert.deepEqual((await discover(registry, "work")).map((i) => i.port), [1]);
  await assert.rejects(discover(registry, "never-seen"), RegistryError);
  await assert.rejects(registry.list(), RegistryError);
});

Deno.test("announce registers a server under its names, and the watch sees it come and go", async () => {
  await using registryServer = serveRegistry({ port: 0, ...fresh });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  const events: RegistryEvent[] = [];
  const stop = new AbortController();
  const watching = (async () => {
    for await (const e of registry.watch({ signal: stop.signal })) {
      events.push(e);
    }
  })();
  const server = serve(Work, { port: 0, ...quiet });
  const registration = await announce(server, registry, {
    names: ["work", "other"],
    ttl: 2000,
    metadata: { version: "1" },
  });
  assert.deepEqual(registration.instances.map((i) => i.name), [
    "work",
    "other",
  ]);
  assert.ok(await until(() => events.length === 2, 2000));
  const listed = await registry.list();
  assert.deepEqual(listed.map((i) => [i.name, i.port, i.metadata.version]), [
    ["other", server.addr.port, "1"],
    ["work", server.addr.port, "1"],
  ]);
  assert.match(
    formatInstances(listed),
    /^SERVICE +ID +ADDRESS +METADATA\nother /,
  );
  await server.shutdown();
  assert.ok(
    await until(async () => (await registry.list()).length === 0, 2000),
  );
  assert.ok(await until(() => events.length === 4, 2000));
  assert.deepEqual(events.map((e) => e.type), [
    "added",
    "added",
    "removed",
    "removed",
  ]);
  stop.abort();
  await watching;
  await using wildcard = serve(Work, {
    hostname: "0.0.0.0",
    port: 0,
    ...quiet,
  });
  await assert.rejects(
    announce(wildcard, registry, { names: ["x"] }),
    /pass the address/,
  );
});

Deno.test("openRegistry refuses a netref server that is not a registry", async () => {
  await using server = serve(Work, { port: 0, ...quiet });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${server.addr.port}`,
    quiet,
  );
  await assert.rejects(registry.list(), /serves 'work', not 'netref-registry'/);
});

Deno.test("formatInstances says so when nothing is registered", () => {
  assert.equal(formatInstances([]), "no services registered");
  assert.match(
    formatInstances([checkInstance({ name: "a", hostname: "::1", port: 5 })]),
    /\[::1\]:5/,
  );
});

Deno.test("discover no longer lists an announced server once await server.shutdown() has returned", async () => {
  await using registryServer = serveRegistry({ port: 0, ...fresh });
  await using registry = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  // Clients discover through a registry connection of their own.
  await using clients = await openRegistry(
    `netref://127.0.0.1:${registryServer.addr.port}`,
    quiet,
  );
  // A registry slow to withdraw, as a remote one is: shutdown() waits.
  const slow = {
    register: async (...args: Parameters<Registry["register"]>) => {
      const registration = await registry.register(...args);
      return {
        instances: registration.instances,
        healthy: registration.healthy,
        withdraw: async () => {
          await delay(100);
          await registration.withdraw();
        },
      };
    },
  } as unknown as Registry;
  const server = serve(Work, { port: 0, ...quiet });
  await announce(server, slow, { names: ["work"], ttl: 10_000 });
  assert.deepEqual(
    (await discover(clients, "work")).map((i) => i.port),
    [server.addr.port],
  );
  await server.shutdown();
  assert.deepEqual(await discover(clients, "work"), []);
});
