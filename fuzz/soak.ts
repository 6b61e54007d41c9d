/**
 * `deno task soak`: a million calls with refs and callbacks against the
 * fixture server in its own process. Objects come back by reference and are
 * released, callbacks are passed and called, values echo; every 100,000
 * calls it prints the server's RSS and heap and both sides' export counts,
 * and at the end, after the server collects its garbage, checks that no
 * export is left on either side. Exits with 1 if one is.
 *
 *     deno task soak [--calls N] [--concurrency N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect } from "../client.ts";
import type { ServerStats } from "./_campaign.ts";
import { FixtureServer } from "./_server.ts";

interface Counter {
  value: number;
  increment(by: number): number;
}

interface Service {
  echo(value: unknown): unknown;
  makeCounter(start: number): Counter;
  callMe(fn: (n: number) => number, n: number): number;
  stats(): ServerStats;
  gc(): boolean;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    calls: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: "32" },
  },
});
const total = Number(values.calls);
const concurrency = Math.max(1, Number(values.concurrency));
const REPORT_EVERY = 100_000;

const server = await FixtureServer.start();
let ok = false;
try {
  ok = await soak(server.port);
} finally {
  await server.stop();
}
Deno.exit(ok ? 0 : 1);

/** Runs the calls against the server on `port`; true if nothing is left. */
async function soak(port: number): Promise<boolean> {
  const conn = await connect<Service>("127.0.0.1", port);
  const root = conn.root;
  let calls = 0;
  let nextReport = REPORT_EVERY;
  const started = performance.now();

  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const report = async (label: string): Promise<ServerStats> => {
    const stats = await root.stats();
    console.log(
      `${label.padEnd(14)} server RSS ${mb(stats.rss).padStart(9)}, heap ${
        mb(stats.heapUsed).padStart(8)
      }, server exports ${String(stats.exports).padStart(5)}, client exports ${
        String(conn.stats.exports).padStart(5)
      }, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return stats;
  };

  // One round: an object by reference, used and released; a callback passed
  // and called back; a value echoed. Five remote calls (the callback's own
  // call back included).
  const round = async (i: number): Promise<void> => {
    const counter = await root.makeCounter(i);
    await counter.increment(1);
    counter[Symbol.dispose]();
    const doubled = await root.callMe((n: number) => n * 2, i);
    if (doubled !== i * 2) throw new Error(`callMe(${i}) gave ${doubled}`);
    await root.echo({ i, list: [i, "x"] });
    calls += 5;
  };

  await report("start");
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; calls < total; i += concurrency) {
        await round(i);
        if (calls >= nextReport) {
          nextReport += REPORT_EVERY;
          await report(`${calls} calls`);
        }
      }
    }),
  );

  // Let releases travel and the server collect the callbacks it no longer
  // holds (its proxies for them are released when collected), then count.
  let end = await report("end");
  const deadline = performance.now() + 10_000;
  while (
    (end.exports > 0 || conn.stats.exports > 0) &&
    performance.now() < deadline
  ) {
    await root.gc();
    await new Promise((resolve) => setTimeout(resolve, 200));
    end = await root.stats();
  }
  const left = await report("after GC");
  const clientExports = conn.stats.exports;
  await conn.close();
  const ok = left.exports === 0 && clientExports === 0 && left.unhandled === 0;
  console.log(
    ok
      ? `PASS: ${calls} calls, 0 exports left on either side`
      : `FAIL: ${left.exports} server exports, ${clientExports} client exports, ${left.unhandled} unhandled rejections left`,
  );
  return ok;
}
