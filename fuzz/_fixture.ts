/**
 * The server the fuzzer and the soak attack, in its own process: a service
 * with methods, attributes, callbacks and objects handed out by reference,
 * served on one TCP port for both wires (netref and RPyC). Prints
 * `{"port": n, "pid": n}` on stdout once listening.
 *
 * An unhandled rejection is reported on stderr as a line starting with
 * `fuzz fixture: unhandled rejection:` and does not end the process, so
 * that one run counts them all; anything else uncaught ends it, as it would
 * end any server. A stall of the event loop of 100 ms or more is reported
 * too. The server's own log lines are counted, not printed.
 *
 *     deno run --allow-net --v8-flags=--expose-gc fuzz/_fixture.ts [--fatal-rejections]
 *
 * @module
 */

import process from "node:process";
import { type Connection, exposed, serve } from "../mod.ts";
import { SLOW_MS, STALL_MARKER, UNHANDLED_MARKER } from "./_marker.ts";

let unhandled = 0;
// With --fatal-rejections, the first one ends the process, as in any server.
globalThis.addEventListener("unhandledrejection", (event) => {
  if (Deno.args.includes("--fatal-rejections")) return;
  event.preventDefault();
  unhandled++;
  const reason = event.reason;
  // A reason that is no Error is most often a value the peer sent.
  const text = reason instanceof Error
    ? `${reason.name}: ${reason.message}\n${reason.stack ?? ""}`
    : `(not an Error: ${
      typeof reason === "object" || typeof reason === "undefined" ? "an" : "a"
    } ${typeof reason}) ${String(reason)}`;
  console.error(`${UNHANDLED_MARKER} ${text.replaceAll("\n", "\n    ")}`);
});

// The event loop's worst delay, as the server saw it (the probe's figure
// adds the network and its own thread's scheduling), and the CPU time the
// process spent meanwhile: a delay the process spent working is a stall of
// its own; one it spent waiting for a CPU is the machine's.
let worstLagMs = 0;
let worstBusyMs = 0;
let tickDue = performance.now() + 10;
let cpuThen = cpuMs();
setInterval(() => {
  const now = performance.now();
  const cpuNow = cpuMs();
  const lag = now - tickDue;
  const busy = Math.min(lag, cpuNow - cpuThen - 10);
  worstLagMs = Math.max(worstLagMs, lag);
  worstBusyMs = Math.max(worstBusyMs, busy);
  tickDue = now + 10;
  cpuThen = cpuNow;
  // Said at once, so that the fuzzer knows who was sending.
  if (busy >= SLOW_MS) {
    console.error(
      `${STALL_MARKER} ${busy.toFixed(0)} ms (${lag.toFixed(0)} ms late)`,
    );
  }
}, 10);

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const connections = new Set<Connection>();
let logLines = 0;
const lastLogs: string[] = [];

function clamp(value: unknown, max: number): number {
  const n = Number(value);
  return Number.isFinite(n) ? Math.max(0, Math.min(max, Math.floor(n))) : 0;
}

/** An object handed out by reference. */
class Counter {
  @exposed
  value: number;

  constructor(value: number) {
    this.value = value;
  }

  @exposed
  increment(by: unknown = 1): number {
    if (typeof by !== "number") throw new TypeError("by must be a number");
    this.value += by;
    return this.value;
  }

  @exposed
  child(): Counter {
    return new Counter(this.value);
  }

  @exposed
  take(value: unknown): unknown {
    return value;
  }
}

/** What the fuzzer calls; one instance per connection. */
class FuzzService {
  #conn: Connection | null = null;

  onConnect(conn: Connection): void {
    this.#conn = conn;
    connections.add(conn);
  }

  onDisconnect(): void {
    if (this.#conn !== null) connections.delete(this.#conn);
  }

  @exposed
  version = "1.0";

  @exposed
  data = { a: { b: [1, 2, 3] }, s: "text" };

  @exposed
  counter: Counter = new Counter(0);

  @exposed
  echo(value: unknown): unknown {
    return value;
  }

  @exposed
  add(a: unknown, b: unknown): unknown {
    // deno-lint-ignore no-explicit-any
    return (a as any) + (b as any);
  }

  @exposed
  makeCounter(start: unknown = 0): Counter {
    return new Counter(clamp(start, 1e9));
  }

  /** Calls the peer's function back and returns what it returned. */
  @exposed
  async callMe(fn: unknown, ...args: unknown[]): Promise<unknown> {
    if (typeof fn !== "function") throw new TypeError("fn must be a function");
    return await fn(...args);
  }

  /** Calls the peer's function back later, not waiting for it (RPyC's async_ idiom). */
  @exposed
  later(fn: unknown, ms: unknown = 10): string {
    if (typeof fn !== "function") throw new TypeError("fn must be a function");
    setTimeout(() => fn("late"), clamp(ms, 200));
    return "scheduled";
  }

  @exposed
  async sleep(ms: unknown): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, clamp(ms, 200)));
    return "slept";
  }

  @exposed
  blob(size: unknown): Uint8Array {
    return new Uint8Array(clamp(size, 256 * 1024)).fill(7);
  }

  @exposed
  fail(message: unknown): never {
    throw new Error(`failed as asked: ${String(message)}`);
  }

  /** What a handler that logs its argument does. */
  @exposed
  show(value: unknown): string {
    return Deno.inspect(value);
  }

  @exposed
  json(value: unknown): string {
    return JSON.stringify(value) ?? "undefined";
  }

  @exposed
  keys(value: unknown): string[] {
    return typeof value === "object" && value !== null
      ? Object.keys(value)
      : [];
  }

  /** The server's state, for the fuzzer's control connection. */
  @exposed
  stats(): Record<string, unknown> {
    let exports = 0;
    let imports = 0;
    let inFlight = 0;
    let pendingCalls = 0;
    for (const conn of connections) {
      const stats = conn.stats;
      exports += stats.exports;
      imports += stats.imports;
      inFlight += stats.inFlight;
      pendingCalls += stats.pendingCalls;
    }
    const memory = Deno.memoryUsage();
    return {
      connections: server.connectionCount,
      served: connections.size,
      exports,
      imports,
      inFlight,
      pendingCalls,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      worstLagMs,
      worstBusyMs,
      unhandled,
      logLines,
      lastLogs: [...lastLogs],
    };
  }

  /** Starts measuring the event loop's worst delay afresh. */
  @exposed
  resetLag(): void {
    worstLagMs = 0;
    worstBusyMs = 0;
  }

  /** Collects garbage (when run with --expose-gc), for heap figures. */
  @exposed
  gc(): boolean {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    return gc !== undefined;
  }
}

const server = serve(FuzzService, {
  port: 0,
  timeout: 5_000,
  log: (line) => {
    logLines++;
    lastLogs.push(line.slice(0, 300));
    if (lastLogs.length > 5) lastLogs.shift();
  },
});
console.log(JSON.stringify({ port: server.addr.port, pid: Deno.pid }));
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown({ deadline: 200 }).finally(() => Deno.exit(0));
});
await server.finished;
