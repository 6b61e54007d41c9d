import assert from "node:assert/strict";
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
