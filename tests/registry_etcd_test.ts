import assert from "node:assert/strict";
import { RegistryError } from "../src/errors.ts";
import { MAX_LINE_CHARS } from "../src/registry/etcd_http.ts";
import { openRegistry } from "../src/registry/url.ts";
import type { RegistryEvent } from "../src/registry/types.ts";
import { delay } from "./_harness.ts";
import { needPeer } from "./_peers.ts";
import {
  type Child,
  discoveryScenario,
  freePort,
  spawn,
  until,
} from "./_registry.ts";

async function etcdVersion(): Promise<string | null> {
  try {
    const { stdout } = await new Deno.Command("etcd", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(stdout).split("\n")[0];
  } catch {
    return null;
  }
}

const found = await etcdVersion();
const version = needPeer(
    "etcd",
    found !== null,
    "Debian: apt-get install etcd-server; .ci/run installs it",
  )
  ? found
  : null;

/** One etcd member on loopback, in a data directory that survives restarts. */
class Etcd implements AsyncDisposable {
  readonly dataDir = Deno.makeTempDirSync({ prefix: "netref-etcd-" });
  readonly clientPort = freePort();
  readonly peerPort = freePort();
  #child: Child | null = null;

  /** @param flags More of etcd's flags, such as `--auth-token-ttl=1`. */
  constructor(readonly flags: string[] = []) {}

  get url(): string {
    return `etcd://127.0.0.1:${this.clientPort}`;
  }

  async start(): Promise<void> {
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.#child = await spawn("etcd", [
      "--name=netref-test",
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=netref-test=${peer}`,
      ...this.flags,
    ], false);
    const healthy = await until(
      async () => {
        try {
          const response = await fetch(`${client}/health`);
          return (await response.json()).health === "true";
        } catch {
          return false;
        }
      },
      10_000,
      50,
    );
    assert.ok(
      healthy,
      `etcd did not start: ${this.#child.stderr().slice(-2000)}`,
    );
  }

  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    await this.#child?.stop(signal);
    this.#child = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    Deno.removeSync(this.dataDir, { recursive: true });
  }
}

Deno.test({
  name:
    "etcd registry: servers announce, clients spread, a killed server leaves within its TTL, a restarted etcd is survived",
  ignore: version === null,
  async fn(t) {
    await using etcd = new Etcd();
    await etcd.start();
    await discoveryScenario(t, {
      url: `${etcd.url}/scenario`,
      ttl: 2000, // etcd's shortest lease with its default election timeout
      slack: 1000, // etcd looks for expired leases every 500 ms
      async restart() {
        await etcd.stop("SIGKILL");
        await delay(300); // The outage itself: clients must ride it out.
        await etcd.start();
      },
    });
  },
});

Deno.test({
  name:
    "etcd registry: prefixes keep deployments apart, and a withdrawn registration is gone at once",
  ignore: version === null,
  async fn() {
    await using etcd = new Etcd();
    await etcd.start();
    const quiet = { log: () => {} };
    await using prod = await openRegistry(`${etcd.url}/prod`, quiet);
    await using staging = await openRegistry(`${etcd.url}/staging`, quiet);
    const events: RegistryEvent[] = [];
    const stop = new AbortController();
    const watching = (async () => {
      for await (const e of staging.watch({ signal: stop.signal })) {
        events.push(e);
      }
    })();
    const registration = await prod.register([
      { name: "work", hostname: "10.0.0.1", port: 1, metadata: { v: "1" } },
    ], { ttl: 5000 });
    await staging.register([{ name: "work", hostname: "10.0.0.2", port: 2 }]);
    assert.deepEqual((await prod.list("work")).map((i) => i.hostname), [
      "10.0.0.1",
    ]);
    assert.deepEqual((await prod.list())[0].metadata, { v: "1" });
    assert.ok(await until(() => events.length === 1, 3000));
    assert.equal(events[0].instance.hostname, "10.0.0.2");
    await registration.withdraw();
    assert.deepEqual(await prod.list(), []);
    assert.equal(prod.url, `etcd://127.0.0.1:${etcd.clientPort}/prod`);
    stop.abort();
    await watching;
  },
});

/** POSTs to the gateway of `etcd`, as an admin would with etcdctl. */
async function gateway(etcd: Etcd, path: string, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${etcd.clientPort}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

Deno.test({
  name:
    "etcd registry with auth: the URL's user and password, an expired token renewed, a wrong or missing password refused with what to do",
  ignore: version === null,
  async fn() {
    await using etcd = new Etcd(["--auth-token-ttl=1"]);
    await etcd.start();
    await gateway(etcd, "/v3/auth/user/add", { name: "root", password: "pw" });
    await gateway(etcd, "/v3/auth/role/add", { name: "root" });
    await gateway(etcd, "/v3/auth/user/grant", { user: "root", role: "root" });
    await gateway(etcd, "/v3/auth/enable", {});
    const host = `127.0.0.1:${etcd.clientPort}`;
    await using registry = await openRegistry(`etcd://root:pw@${host}/a`, {
      log: () => {},
    });
    await registry.register([{ name: "work", hostname: "h", port: 1 }]);
    assert.equal((await registry.list("work")).length, 1);
    await delay(2500); // The token expires after a second without use.
    assert.equal((await registry.list("work")).length, 1);
    for (
      const [user, reason] of [
        ["root:wrong@", /authentication failed.*check the URL's user and pass/],
        ["", /user name is empty; .*put user:password@ in the URL/],
      ] as const
    ) {
      await using refused = await openRegistry(`etcd://${user}${host}/a`);
      await assert.rejects(refused.list(), (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.message, new RegExp(`member ${host} refused`));
        assert.match(error.message, reason);
        return true;
      });
    }
  },
});

Deno.test({
  name:
    "etcd registry: a member that cannot be reached is passed over for the next, and named when none answers",
  ignore: version === null,
  async fn() {
    await using etcd = new Etcd();
    await etcd.start();
    const dead = `127.0.0.1:${freePort()}`;
    const live = `127.0.0.1:${etcd.clientPort}`;
    await using registry = await openRegistry(`etcd://${dead},${live}/fo`);
    const stop = new AbortController();
    const events = registry.watch({ signal: stop.signal });
    await registry.register([{ name: "work", hostname: "h", port: 1 }]);
    assert.equal((await events.next()).value?.instance.hostname, "h");
    assert.equal((await registry.list()).length, 1);
    stop.abort();
    const other = `127.0.0.1:${freePort()}`;
    await using none = await openRegistry(`etcd://${dead},${other}/fo`);
    await assert.rejects(
      none.list(),
      new RegExp(
        `no etcd member could be reached \\(${dead}: connection refused; ${other}: connection refused\\)`,
      ),
    );
  },
});

Deno.test({
  name:
    "etcd registry: a lease revoked behind the server's back is noticed, and the entries are registered again",
  ignore: version === null,
  async fn() {
    await using etcd = new Etcd();
    await etcd.start();
    const logs: string[] = [];
    await using registry = await openRegistry(`${etcd.url}/lost`, {
      log: (m) => logs.push(m),
    });
    await registry.register([{ name: "work", hostname: "h", port: 1 }], {
      ttl: 2000,
    });
    const { leases } = await gateway(etcd, "/v3/lease/leases", {});
    await gateway(etcd, "/v3/lease/revoke", { ID: leases[0].ID });
    assert.deepEqual(await registry.list(), []);
    assert.ok(
      await until(async () => (await registry.list()).length === 1, 3000),
      `not registered again: ${logs}`,
    );
    assert.match(logs.join("\n"), /lease for work\/h:1 lost/);
  },
});

/**
 * A stand-in for etcd's gateway that answers each path with what `answer`
 * returns for it, counting the requests.
 */
function fakeGateway(
  answer: (path: string, count: number) => BodyInit,
): Deno.HttpServer<Deno.NetAddr> & { url: string } {
  const counts = new Map<string, number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      await request.body?.cancel();
      const path = new URL(request.url).pathname;
      counts.set(path, (counts.get(path) ?? 0) + 1);
      return new Response(answer(path, counts.get(path)!));
    },
  );
  return Object.assign(server, {
    url: `etcd://127.0.0.1:${server.addr.port}/fake`,
  });
}

const b64 = (text: string) => btoa(text);
function range(revision: number, ...ids: number[]): string {
  return JSON.stringify({
    header: { revision: String(revision) },
    kvs: ids.map((id) => ({
      key: b64(`/fake/services/work/h:${id}`),
      value: b64(JSON.stringify({ name: "work", hostname: "h", port: id })),
    })),
  });
}

Deno.test("etcd registry: a watch whose revision was compacted reads afresh and reports what changed", async () => {
  await using fake = fakeGateway((path, count) =>
    path === "/v3/kv/range"
      ? range(count, count === 1 ? 1 : 2)
      : count === 1
      ? '{"result":{"canceled":true,"compact_revision":"9"}}\n'
      : '{"result":{"created":true}}\n'
  );
  await using registry = await openRegistry(fake.url, { log: () => {} });
  const seen: string[] = [];
  for await (const event of registry.watch()) {
    seen.push(`${event.type} ${event.instance.port}`);
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, ["added 1", "removed 1", "added 2"]);
});

Deno.test("etcd registry: malformed answers are RegistryErrors, and an endless watch line is cut off at the bound", async () => {
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode("x".repeat(1 << 20)));
      },
    });
  await using fake = fakeGateway((path, count) =>
    path === "/v3/kv/range"
      ? count === 1 ? "not json" : count === 2 ? '{"kvs":{}}' : range(1, 1)
      : count === 1
      ? endless()
      : '{"result":{"created":true}}\n'
  );
  const logs: string[] = [];
  await using registry = await openRegistry(fake.url, {
    log: (m) => logs.push(m),
  });
  for (const reason of [/Unexpected token/, /its header is not an object/]) {
    await assert.rejects(registry.list(), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.match(error.message, /sent a malformed answer/);
      assert.match(error.message, reason);
      return true;
    });
  }
  const watch = registry.watch();
  assert.equal((await watch.next()).value?.instance.port, 1);
  assert.ok(await until(() => logs.length > 0, 5000));
  assert.match(logs[0], new RegExp(`a line over ${MAX_LINE_CHARS} characters`));
  await watch.return?.();
});
