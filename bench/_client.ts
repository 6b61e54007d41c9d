/**
 * The benchmark's client, one system per process: connects once, then
 * answers each {@linkcode ClientCommand} line on stdin with one JSON line on
 * stdout. Exits when stdin closes.
 *
 * Run by `run.ts`; by hand, for profiling (port from `_servers.ts`):
 *
 * ```sh
 * echo '{"op":"loop","loop":"inflight","ms":5000}' | \
 *   deno run --allow-net=127.0.0.1 --cpu-prof bench/_client.ts netref 40123
 * ```
 *
 * @module
 */

import process from "node:process";
import {
  type ChurnReply,
  isLoop,
  isSystem,
  type LoopReply,
  PYTHON_CLIENTS,
  serveCommands,
} from "./_common.ts";
import {
  type BenchClient,
  type BenchSystem,
  runLoop,
  sequential,
} from "./_system.ts";
import { loadSystem } from "./_systems.ts";

/** Longest loop accepted, so that a bad command cannot run away. */
const MAX_RUN_MS = 60_000;
/** Longest wait for the next command before giving up on the parent. */
const IDLE_MS = 3_600_000;
/** Connections opened at once while opening many. */
const OPEN_BATCH = 50;

function checkMs(ms: unknown): number {
  if (typeof ms !== "number" || !(ms > 0 && ms <= MAX_RUN_MS)) {
    throw new RangeError(
      `Cannot run for ${ms} ms: expected 1 to ${MAX_RUN_MS}`,
    );
  }
  return ms;
}

function checkCount(value: unknown, name: string, max: number): number {
  if (
    !Number.isInteger(value) || (value as number) < 1 || (value as number) > max
  ) {
    throw new RangeError(`Cannot use ${name} ${value}: expected 1 to ${max}`);
  }
  return value as number;
}

/** Runs `loop` and adds the CPU time this process used meanwhile. */
async function withCpu(
  loop: () => Promise<Omit<LoopReply, "cpuMs">>,
): Promise<LoopReply> {
  const before = process.cpuUsage();
  const reply = await loop();
  const { user, system } = process.cpuUsage(before);
  return { ...reply, cpuMs: (user + system) / 1000 };
}

/** The state of one client process: its main connection and any others. */
class Driver {
  readonly #system: BenchSystem;
  readonly #port: number;
  readonly #main: BenchClient;
  #others: BenchClient[] = [];

  constructor(system: BenchSystem, port: number, main: BenchClient) {
    this.#system = system;
    this.#port = port;
    this.#main = main;
  }

  handle(command: Record<string, unknown>): Promise<unknown> {
    switch (command.op) {
      case "loop": {
        const loop = command.loop;
        if (!isLoop(loop)) throw new TypeError(`Cannot run loop ${loop}`);
        const own = this.#system.loopsOf?.(this.#main)[loop];
        const ms = checkMs(command.ms);
        return withCpu(() =>
          own !== undefined ? own(ms) : runLoop(this.#main, loop, ms)
        );
      }
      case "open":
        return this.#open(checkCount(command.total, "total", 10_000));
      case "load": {
        const ms = checkMs(command.ms);
        return withCpu(() => this.#load(ms));
      }
      case "shrink":
        return this.#shrink();
      case "churn":
        return this.#churn(
          checkCount(command.count, "count", 10_000_000),
          checkCount(command.window, "window", 10_000),
        );
      case "slow": {
        const readSlowly = this.#main.readSlowly?.bind(this.#main);
        if (readSlowly === undefined) {
          throw new TypeError("Cannot read slowly: this system has no streams");
        }
        return readSlowly(checkMs(command.ms));
      }
      default:
        throw new TypeError(`Cannot run ${JSON.stringify(command)}`);
    }
  }

  async #open(total: number): Promise<{ open: number; ms: number }> {
    const start = performance.now();
    while (1 + this.#others.length < total) {
      const n = Math.min(OPEN_BATCH, total - 1 - this.#others.length);
      const batch = await Promise.all(
        Array.from({ length: n }, () => this.#system.connect(this.#port)),
      );
      this.#others.push(...batch);
    }
    return { open: 1 + this.#others.length, ms: performance.now() - start };
  }

  async #load(ms: number): Promise<Omit<LoopReply, "cpuMs">> {
    const start = performance.now();
    const replies = await Promise.all(
      [this.#main, ...this.#others].map((client) =>
        sequential(() => client.foo(), ms)
      ),
    );
    let calls = 0;
    for (const reply of replies) calls += reply.calls;
    return { calls, ms: performance.now() - start };
  }

  async #shrink(): Promise<{ open: number }> {
    const others = this.#others;
    this.#others = [];
    await Promise.all(others.map((client) => client.close()));
    return { open: 1 };
  }

  async #churn(count: number, window: number): Promise<ChurnReply> {
    const churnOne = this.#main.churnOne;
    if (churnOne === null) {
      throw new TypeError("Cannot churn: this system has no remote objects");
    }
    const clientImportsBefore = this.#main.imports();
    let started = 0;
    const start = performance.now();
    async function lane(): Promise<void> {
      while (started < count) {
        started++;
        await churnOne!();
      }
    }
    await Promise.all(Array.from({ length: window }, lane));
    const ms = performance.now() - start;
    // Releases are batched on a timer: give them a moment to leave.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return {
      objects: started,
      ms,
      clientImportsBefore,
      clientImports: this.#main.imports(),
    };
  }

  close(): Promise<void> {
    return Promise.all(
      [this.#main, ...this.#others].map((client) => client.close()),
    ).then(() => {});
  }
}

if (import.meta.main) {
  const [name, portText] = Deno.args;
  const port = Number(portText);
  if (
    !isSystem(name) || PYTHON_CLIENTS.includes(name) ||
    !(port > 0 && port < 65536)
  ) {
    console.error(
      "usage: _client.ts netref|netrefClientRpyc|echo|minimal|capnweb|birpc|grpc|otelNoop|otel <port>",
    );
    Deno.exit(2);
  }
  const system = await loadSystem(name);
  const driver = new Driver(system, port, await system.connect(port));
  console.log(JSON.stringify({ ready: true }));
  await serveCommands((command) => driver.handle(command), IDLE_MS);
  await driver.close();
  Deno.exit(0);
}
