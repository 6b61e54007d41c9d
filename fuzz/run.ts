/**
 * `deno task fuzz`: sends a million random and mutated frames of both wires
 * to a netref server in its own process, with a probe calling it every
 * 100 ms, and reports crashes, unhandled rejections, connections left open,
 * the probe's worst latency and the server's memory. Exits with 1 if any of
 * them is wrong.
 *
 *     deno task fuzz [--seed N] [--frames N] [--concurrency N] [--triage N] [--out DIR] [--fatal-rejections]
 *     deno task fuzz --replay FILE [--drain]
 *     deno task fuzz --seed N --connection K
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type CampaignReport,
  describeFinding,
  failedChecks,
  runCampaign,
} from "./_campaign.ts";
import { Replayer } from "./_replay.ts";
import { batchBytes, type CloseMode, makeBatch } from "./_batch.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string", default: "1" },
    frames: { type: "string", default: "1000000" },
    concurrency: { type: "string", default: "16" },
    triage: { type: "string", default: "6" },
    out: {
      type: "string",
      default: new URL("./crashes", import.meta.url).pathname,
    },
    replay: { type: "string" },
    connection: { type: "string" },
    drain: { type: "boolean", default: false },
    "fatal-rejections": { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});

function integer(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} ${text}: expected a whole number`);
    Deno.exit(2);
  }
  return n;
}

if (values.help) {
  console.log(
    "deno task fuzz [--seed N] [--frames N] [--concurrency N] [--triage N] [--out DIR] [--fatal-rejections]\n" +
      "  --fatal-rejections: an unhandled rejection ends the server, as in any server (a crash)\n" +
      "deno task fuzz --replay FILE [--drain]   (send FILE's bytes as one connection to a fresh server;\n" +
      "  --drain: close once the server has closed, or after 40 ms, instead of at once)\n" +
      "deno task fuzz --seed N --connection K   (send connection K of seed N's run to a fresh server)",
  );
  Deno.exit(0);
}

if (values.replay !== undefined || values.connection !== undefined) {
  await using replayer = new Replayer({
    fatalRejections: values["fatal-rejections"],
  });
  let bytes: Uint8Array;
  let close: CloseMode = values.drain ? "drain" : "now";
  if (values.replay !== undefined) {
    bytes = await Deno.readFile(values.replay);
  } else {
    // One connection of a run, made again from the seed and its index.
    const batch = makeBatch(
      integer("seed", values.seed),
      integer("connection", values.connection!),
    );
    for (const frame of batch.frames) console.log(frame.label);
    bytes = batchBytes(batch.frames);
    close = batch.close;
  }
  const outcome = await replayer.run(bytes, close);
  console.log(
    outcome.kind === "clean"
      ? "the server survived it: no crash, no unhandled rejection, no stall"
      : `${
        outcome.seen.map((seen) => `${seen.kind}: ${seen.line}`).join("\n")
      }\n\nThe server's stderr:\n${replayer.stderr}`,
  );
  Deno.exit(outcome.kind === "clean" ? 0 : 1);
}

const report = await runCampaign({
  seed: integer("seed", values.seed),
  frames: integer("frames", values.frames),
  concurrency: Math.max(1, integer("concurrency", values.concurrency)),
  triage: integer("triage", values.triage),
  outDir: values.out,
  fixture: { fatalRejections: values["fatal-rejections"] },
  log: (line) => console.log(line),
});
console.log(formatReport(report));
const failed = failedChecks(report);
console.log(failed.length === 0 ? "PASS" : `FAIL: ${failed.join("; ")}`);
Deno.exit(failed.length === 0 ? 0 : 1);

function formatReport(r: CampaignReport): string {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const lines = [
    "",
    `seed                  ${r.seed}`,
    `frames sent           ${r.framesSent} over ${r.connections} connections in ${
      r.seconds.toFixed(1)
    } s (${Math.round(r.framesSent / r.seconds)} frames/s)`,
    `crashes               ${r.crashes}`,
    `unhandled rejections  ${r.unhandled}`,
    `left open             ${r.leftover.connections ?? "?"} connections, ${
      r.leftover.sockets ?? "?"
    } sockets, ${r.leftover.exports ?? "?"} exports`,
    `probe                 ${r.probe.calls} calls, worst ${
      r.probe.worst.toFixed(1)
    } ms, p99 ${r.probe.p99.toFixed(1)} ms, median ${
      r.probe.median.toFixed(1)
    } ms, ${r.probe.failures} failed`,
    `server event loop     worst delay ${
      r.serverLag === null ? "?" : r.serverLag.wallMs.toFixed(1)
    } ms; worst spent working ${
      r.serverLag === null ? "?" : r.serverLag.busyMs.toFixed(1)
    } ms (the rest: waiting for a CPU)`,
    `server heap           ${mb(r.memory.before.heapUsed)} before, ${
      r.memory.after === null ? "?" : mb(r.memory.after.heapUsed)
    } after (external ${mb(r.memory.before.external)}, ${
      r.memory.after === null ? "?" : mb(r.memory.after.external)
    })`,
    `server RSS            ${mb(r.memory.before.rss)} before, ${
      r.memory.after === null ? "?" : mb(r.memory.after.rss)
    } after${r.crashes > 0 ? " (of the last server started)" : ""}`,
  ];
  for (const finding of r.findings) {
    lines.push("", describeFinding(r.seed, finding).trimEnd());
  }
  return lines.join("\n");
}
