/**
 * Systems side by side over TCP in one pair of processes: one server process
 * (pinned to CPU 0) serves every system given, one client process (pinned to
 * `--client-cpu`) connects to each and runs the same loop on each in turn,
 * a round of `--round-ms` apiece. Rounds are short and the systems share
 * their processes, so a ratio compares figures taken within a second of each
 * other: steadier, on this machine, than the full bench's rounds of separate
 * processes, when what is wanted is one ratio.
 *
 * A system is `echo`, `minimal` or `netref`; `netref@DIR` is netref from
 * another checkout (its `bench/_netref.ts`), to compare a change with the
 * code before it.
 *
 * ```sh
 * deno run -A --config bench/deno.json bench/ab_tcp.ts echo minimal netref
 * deno run -A --config bench/deno.json bench/ab_tcp.ts --loop inflight netref@/tmp/before netref
 * ```
 *
 * Prints each system's median calls/s and the median of its per-round
 * ratios to the first system.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Loop } from "./_common.ts";
import type { BenchSystem } from "./_system.ts";
import { runLoop } from "./_system.ts";
import { median } from "./_phases.ts";

const USAGE =
  "usage: ab_tcp.ts [--loop call|inflight] [--rounds N] [--round-ms MS] [--client-cpu N] SYSTEM... (echo, minimal, netref or netref@DIR)";

/** Loads one system: this checkout's, or netref from the checkout `DIR`. */
async function load(spec: string): Promise<BenchSystem> {
  const [name, dir] = spec.split("@");
  if (name === "echo" && dir === undefined) {
    return (await import("./_echo.ts")).echoSystem;
  }
  if (name === "minimal" && dir === undefined) {
    return (await import("./_minimal.ts")).minimalRpc;
  }
  if (name === "netref") {
    if (dir === undefined) return (await import("./_netref.ts")).netref;
    const root = new URL(
      dir.endsWith("/") ? dir : dir + "/",
      `file://${Deno.cwd()}/`,
    );
    return (await import(new URL("bench/_netref.ts", root).href)).netref;
  }
  throw new TypeError(`Cannot load ${spec}: ${USAGE}`);
}

/** The server process: serves every system, prints their ports, then waits. */
async function serveAll(specs: string[]): Promise<void> {
  const ports: number[] = [];
  for (const spec of specs) ports.push((await (await load(spec)).serve()).port);
  console.log(JSON.stringify(ports));
  // Until the parent kills it.
  await new Promise(() => {});
}

/** The client process: the rounds, and the report. */
async function drive(
  specs: string[],
  ports: number[],
  loop: Loop,
  rounds: number,
  roundMs: number,
): Promise<void> {
  const clients = [];
  for (let i = 0; i < specs.length; i++) {
    clients.push(await (await load(specs[i])).connect(ports[i]));
  }
  for (const client of clients) await runLoop(client, loop, 500);
  const rates: number[][] = specs.map(() => []);
  for (let round = 0; round < rounds; round++) {
    // Each round starts with a different system, so that none always runs
    // right after the same one.
    for (let k = 0; k < specs.length; k++) {
      const i = (round + k) % specs.length;
      const { calls, ms } = await runLoop(clients[i], loop, roundMs);
      rates[i][round] = calls / ms * 1000;
    }
  }
  for (let i = 0; i < specs.length; i++) {
    const ratios = rates[i].map((rate, round) => rate / rates[0][round]);
    console.log(
      `${specs[i]}: median ${
        Math.round(median(rates[i])).toLocaleString("en-US")
      } calls/s; ÷ ${specs[0]}: median ${median(ratios).toFixed(3)} (${
        Math.min(...ratios).toFixed(2)
      }–${Math.max(...ratios).toFixed(2)})`,
    );
  }
  for (const client of clients) await client.close();
}

/** Runs `args` of this script as a child pinned to `cpu`. */
function child(cpu: string, args: string[], stdout: "piped" | "inherit") {
  return new Deno.Command("taskset", {
    args: [
      "-c",
      cpu,
      Deno.execPath(),
      "run",
      "-A",
      "--config",
      new URL("deno.json", import.meta.url).pathname,
      new URL(import.meta.url).pathname,
      ...args,
    ],
    stdout,
  }).spawn();
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      loop: { type: "string", default: "call" },
      rounds: { type: "string", default: "20" },
      "round-ms": { type: "string", default: "300" },
      "client-cpu": { type: "string", default: "1" },
      serve: { type: "boolean", default: false },
      ports: { type: "string" },
    },
  });
  const loop = values.loop as Loop;
  const rounds = Number(values.rounds);
  const roundMs = Number(values["round-ms"]);
  if (
    positionals.length === 0 || (loop !== "call" && loop !== "inflight") ||
    !(rounds > 0) || !(roundMs > 0)
  ) {
    console.error(USAGE);
    Deno.exit(2);
  }
  if (values.serve) {
    await serveAll(positionals);
  } else if (values.ports !== undefined) {
    await drive(positionals, JSON.parse(values.ports), loop, rounds, roundMs);
    Deno.exit(0);
  } else {
    const server = child("0", ["--serve", ...positionals], "piped");
    const lines = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("The server process ended before its ports");
      text += value;
    }
    const client = child(values["client-cpu"], [
      "--loop",
      loop,
      "--rounds",
      String(rounds),
      "--round-ms",
      String(roundMs),
      "--ports",
      text.trim(),
      ...positionals,
    ], "inherit");
    const { success } = await client.status;
    server.kill();
    await server.status;
    if (!success) Deno.exit(1);
  }
}
