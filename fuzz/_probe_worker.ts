/**
 * The probe: a well-behaved netref client, in a worker of its own so that
 * the fuzzer's busy main thread does not add to what it measures, calling
 * the server every 100 ms and recording each round trip.
 *
 * Messages in: `{ port }` to (re)connect, `{ stop: true }` to finish.
 * Message out, after stop: {@linkcode ProbeResult}.
 *
 * @module
 */

import { connect } from "../client.ts";
import type { Connection } from "../client.ts";

/** What the probe measured. */
export interface ProbeResult {
  /** Calls that succeeded. */
  calls: number;
  /** Calls that failed (the server gone, or a timeout). */
  failures: number;
  /** The slowest successful round trip, in milliseconds. */
  worst: number;
  /** The median round trip. */
  median: number;
  /** The 99th percentile round trip. */
  p99: number;
}

/** Longest a probe call may take before it counts as a failure. */
const CALL_TIMEOUT_MS = 5_000;

const self = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

let conn: Connection<{ echo(n: number): number }> | null = null;
let port = 0;
let stopped = false;
let intervalMs = 100;
const latencies: number[] = [];
let failures = 0;
let loop: Promise<void> | null = null;

self.onmessage = (event: MessageEvent) => {
  const data = event.data as {
    port?: number;
    stop?: boolean;
    intervalMs?: number;
  };
  if (data.intervalMs !== undefined) intervalMs = data.intervalMs;
  if (data.port !== undefined) {
    port = data.port;
    conn?.close().catch(() => {});
    conn = null;
    loop ??= run();
  }
  if (data.stop) {
    stopped = true;
    (loop ?? Promise.resolve()).then(async () => {
      await conn?.close().catch(() => {});
      const sorted = latencies.toSorted((a, b) => a - b);
      const at = (q: number) =>
        sorted.length === 0
          ? 0
          : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      const result: ProbeResult = {
        calls: latencies.length,
        failures,
        worst: sorted.length === 0 ? 0 : sorted[sorted.length - 1],
        median: at(0.5),
        p99: at(0.99),
      };
      self.postMessage(result);
    });
  }
};

function record(ms: number): void {
  latencies.push(ms);
}

async function run(): Promise<void> {
  let n = 0;
  while (!stopped) {
    const started = performance.now();
    let t0 = 0;
    try {
      if (conn === null || conn.isClosed) {
        conn = await connect("127.0.0.1", port, {
          timeout: CALL_TIMEOUT_MS,
          log: () => {},
        });
      }
      t0 = performance.now();
      await conn.root.echo(n++);
      record(performance.now() - t0);
    } catch (error) {
      failures++;
      // A call the server never answered is a stall, and counts as one.
      if ((error as Error).name === "TimeoutError") {
        record(performance.now() - t0);
      }
      conn?.close().catch(() => {});
      conn = null;
    }
    const wait = intervalMs - (performance.now() - started);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
