/**
 * The discovery scenario both registry backends must pass, and the real
 * processes it runs: three announced servers, the embedded registry, etcd.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConnectionClosedError } from "../mod.ts";
import { connectByService, discover } from "../src/registry/discover.ts";
import type { Registry, RegistryEvent } from "../src/registry/types.ts";
import { openRegistry } from "../src/registry/url.ts";
import { delay } from "./_harness.ts";

const fixtures = new URL("./fixtures/", import.meta.url);

/** A process started by a test. */
export interface Child {
  /** The number it printed first (a port), or 0 for processes that print none. */
  port: number;
  /** Whether it is still running. */
  readonly running: boolean;
  /** Everything it printed on stderr. */
  stderr(): string;
  /** Sends `signal` (SIGTERM unless told) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Spawns a process; unless `printsPort` is false, waits (10 s at most) for
 * the number on its first line of stdout.
 */
export async function spawn(
  command: string,
  args: string[],
  printsPort = true,
): Promise<Child> {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const drainErr = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errText += chunk) }),
  ).catch(() => {});
  let outText = "";
  let sawLine!: () => void;
  const line = new Promise<void>((resolve) => sawLine = resolve);
  const drainOut = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        outText += chunk;
        if (outText.includes("\n")) sawLine();
      },
    }),
  ).catch(() => {});
  let running = true;
  const exited = child.status.then((status) => {
    running = false;
    sawLine();
    return status;
  });
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (running) {
      try {
        child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      exited,
      new Promise((r) => timer = setTimeout(r, 3000)),
    ]);
    clearTimeout(timer);
    if (running) child.kill("SIGKILL");
    const status = await exited;
    await Promise.all([drainOut, drainErr]);
    return status;
  };
  let port = 0;
  if (printsPort) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      line,
      new Promise((r) => timer = setTimeout(r, 10_000)),
    ]);
    clearTimeout(timer);
    port = Number(outText.trim().split("\n")[0]);
    if (!(port > 0)) {
      await stop("SIGKILL");
      throw new Error(
        `${args.join(" ")} printed no port: ${outText}\n${
          errText.slice(-2000)
        }`,
      );
    }
  }
  return {
    port,
    get running() {
      return running;
    },
    stderr: () => errText,
    stop,
  };
}

/** Starts a Deno fixture from tests/fixtures/ and waits for its port. */
export function spawnFixture(script: string, args: string[]): Promise<Child> {
  return spawn(Deno.execPath(), [
    "run",
    "--quiet",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    new URL(script, fixtures).pathname,
    ...args,
  ]);
}

/** A free loopback port (free a moment ago). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Waits until `condition()` resolves true; returns whether it did in time. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  ms: number,
  every = 25,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await delay(every);
  }
  return await condition();
}

/** What the scenario needs of a backend. */
export interface Backend {
  /** Its registry URL. */
  url: string;
  /** The TTL the servers register with, in milliseconds. */
  ttl: number;
  /** How much later than the TTL a killed server may still be listed. */
  slack: number;
  /** Kills the registry with SIGKILL and starts it again at the same address. */
  restart(): Promise<void>;
}

interface Work {
  port(): number;
  sleep(ms: number): string;
}

const ports = (instances: { port: number }[]) =>
  instances.map((i) => i.port).sort((a, b) => a - b);

/**
 * Three announced servers; clients spread over them; one is killed and
 * leaves the registry within its TTL while calls go on; the registry
 * restarts and everything carries on; a server stopped with SIGTERM
 * withdraws at once.
 */
export async function discoveryScenario(
  t: Deno.TestContext,
  backend: Backend,
): Promise<void> {
  const servers: Child[] = [];
  const logs: string[] = [];
  const registry: Registry = await openRegistry(backend.url, {
    log: (m) => logs.push(m),
  });
  const watchStop = new AbortController();
  const watched = new Map<number, RegistryEvent["type"]>();
  const events: RegistryEvent[] = [];
  const watching = (async () => {
    for await (
      const event of registry.watch({ name: "work", signal: watchStop.signal })
    ) {
      events.push(event);
      watched.set(event.instance.port, event.type);
    }
  })();
  const live = () =>
    [...watched].filter(([, type]) => type === "added").map(([p]) => p)
      .sort((a, b) => a - b);
  let loading = true;
  let loads: Promise<void>[] = [];
  let victim = 0;
  let succeeded = 0;
  const failed: string[] = [];
  try {
    servers.push(
      ...await Promise.all(
        [1, 2, 3].map(() =>
          spawnFixture("announced_server.ts", [
            backend.url,
            String(backend.ttl),
          ])
        ),
      ),
    );
    const all = ports(servers);
    assert.ok(
      await until(
        async () =>
          ports(await discover(registry, "work")).join() === all.join(),
        5000,
      ),
      "the three servers never all appeared",
    );

    await t.step(
      "connectByService spreads connections round robin",
      async () => {
        const seen: number[] = [];
        for (let i = 0; i < 6; i++) {
          await using conn = await connectByService<Work>(registry, "work");
          seen.push(await conn.root.port());
        }
        assert.deepEqual(
          ports(seen.map((port) => ({ port }))),
          [...all, ...all].sort((a, b) => a - b),
        );
      },
    );

    // Two clients calling all along: nothing may fail but calls in flight
    // on the server that gets killed.
    const client = async () => {
      while (loading) {
        let port = 0;
        try {
          await using conn = await connectByService<Work>(registry, "work", {
            connectTimeout: 1000,
            registryWait: 300,
            log: () => {},
          });
          port = (conn.remoteAddr as Deno.NetAddr).port;
          assert.equal(await conn.root.port(), port);
          succeeded++;
        } catch (error) {
          if (!(error instanceof ConnectionClosedError && port === victim)) {
            failed.push(`${port}: ${error}`);
          }
        }
        await delay(5);
      }
    };
    loads = [client(), client()];

    await t.step(
      "a killed server leaves within its TTL; calls in flight on it fail with ConnectionClosedError",
      async () => {
        victim = servers[0].port;
        await using onVictim = await (async () => {
          // The load clients take turns from the same round robin, so a
          // few picks may pass the victim by; a hundred cannot all.
          for (let i = 0; i < 100; i++) {
            const conn = await connectByService<Work>(registry, "work", {
              log: () => {},
            });
            if ((conn.remoteAddr as Deno.NetAddr).port === victim) return conn;
            await conn.close();
          }
          throw new Error("round robin never reached the victim");
        })();
        const inFlight = assert.rejects(
          onVictim.root.sleep(30_000),
          ConnectionClosedError,
        );
        // Answered after the sleep was received: it is in flight there.
        assert.equal(await onVictim.root.port(), victim);
        await servers[0].stop("SIGKILL");
        const killedAt = performance.now();
        await inFlight;
        const gone = await until(
          async () => !ports(await registry.list("work")).includes(victim),
          backend.ttl + backend.slack,
        );
        const after = Math.round(performance.now() - killedAt);
        assert.ok(
          gone,
          `still listed ${after} ms after the kill (ttl ${backend.ttl})`,
        );
        assert.ok(
          await until(() => watched.get(victim) === "removed", 1000),
          `the watch never reported the removal: ${JSON.stringify(events)}`,
        );
        // Calls go on against the survivors.
        const before = succeeded;
        assert.ok(
          await until(() => succeeded >= before + 5, 3000),
          "no calls succeeded against the survivors",
        );
        assert.deepEqual(failed, []);
      },
    );

    const survivors = ports(servers.slice(1));
    await t.step(
      "a restarted registry gets the servers back; clients carry on meanwhile",
      async () => {
        const before = succeeded;
        await backend.restart();
        assert.ok(
          await until(async () => {
            try {
              return ports(await registry.list("work")).join() ===
                survivors.join();
            } catch {
              return false;
            }
          }, 5000),
          `the servers did not come back: ${
            servers.map((s) => s.stderr()).join("\n")
          }`,
        );
        assert.ok(
          await until(() => live().join() === survivors.join(), 3000),
          `the watch did not catch up: ${live()} (events ${
            JSON.stringify(events)
          })`,
        );
        assert.ok(succeeded > before, "no call succeeded across the restart");
        assert.deepEqual(failed, []);
      },
    );

    await t.step(
      "a server stopped with SIGTERM withdraws at once",
      async () => {
        const stoppedAt = performance.now();
        const status = await servers[1].stop("SIGTERM");
        assert.equal(status.code, 0, servers[1].stderr());
        assert.ok(
          await until(
            async () =>
              !ports(await registry.list("work")).includes(servers[1].port),
            backend.ttl,
          ),
          "the stopped server was not withdrawn",
        );
        assert.ok(performance.now() - stoppedAt < backend.ttl + backend.slack);
      },
    );

    loading = false;
    await Promise.all(loads);
    assert.deepEqual(failed, []);
    assert.ok(succeeded > 20, `only ${succeeded} calls succeeded`);
  } finally {
    loading = false;
    await Promise.all(loads);
    watchStop.abort();
    await watching;
    await registry.close();
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
  }
}
