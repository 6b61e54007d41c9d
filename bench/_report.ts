/**
 * The benchmark's markdown: figures side by side, netref's ratios to each
 * reference, streams, what tracing costs, memory with 1,000 connections,
 * ref churn, a slow stream reader's server, and the targets.
 *
 * @module
 */

import {
  CALL_SYSTEMS,
  type Loop,
  LOOPS,
  type MemoryReport,
  PAYLOAD_BYTES,
  SLOW_ITEM_BYTES,
  STREAM_BYTES,
  STREAM_CHUNK_BYTES,
  type System,
  SYSTEMS,
} from "./_common.ts";
import { type LoopResult, median, type SystemFigures } from "./_phases.ts";
import {
  type ChurnResult,
  type ConnsResult,
  live,
  type SlowResult,
} from "./_memory_phases.ts";

/** Why a system has no figures in this run: missing, failed, or not applicable. */
export type Absences = Partial<Record<System, string>>;

/** Everything a run measured. */
export interface RunResults {
  systems: System[];
  absent: Absences;
  loops: LoopResult[];
  conns: (ConnsResult | { system: System; error: string })[];
  churn: (ChurnResult | { system: System; error: string })[];
  slow: (SlowResult | { system: System; error: string })[];
}

/** The columns of the calls tables: netref and its references. */
const COLUMNS = CALL_SYSTEMS;
const REFERENCES: System[] = [
  "echo",
  "minimal",
  "rpyc",
  "capnweb",
  "birpc",
  "grpc",
];
/**
 * The RPyC wire's ratios: netref in place of one side of RPyC, over RPyC on
 * both sides, and each ratio's name.
 */
const RPYC_WIRE: { system: System; name: string }[] = [
  {
    system: "rpycClientNetref",
    name: "RPyC client: netref server ÷ RPyC server",
  },
  {
    system: "netrefClientRpyc",
    name: "RPyC server: netref connectRpyc() ÷ RPyC client",
  },
];
/** The stream loops, which have their own table. */
const STREAM_LOOPS: readonly Loop[] = ["items", "bytes256m"];
/** The tracing rows: netref with `openTelemetry()`, without and with a provider. */
const TRACED: System[] = ["otelNoop", "otel"];
/** Their names in the tracing table's header. */
const TRACED_SHORT: Partial<Record<System, string>> = {
  otelNoop: "no provider",
  otel: "SDK",
};

function format(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function mb(bytes: number): string {
  return format(bytes / 1e6, 1);
}

/**
 * A loop's figure in its unit: calls/s; MB/s of payload for 1 MiB; items/s;
 * MB/s for the byte stream, whose calls are chunks.
 */
function value(loop: Loop, callsPerSecond: number): number {
  if (loop === "bytes1m") return callsPerSecond * PAYLOAD_BYTES.bytes1m! / 1e6;
  if (loop === "bytes256m") return callsPerSecond * STREAM_CHUNK_BYTES / 1e6;
  return callsPerSecond;
}

function unit(loop: Loop): string {
  return loop === "bytes1m" || loop === "bytes256m"
    ? "MB/s"
    : loop === "items"
    ? "items/s"
    : "calls/s";
}

function figuresOf(
  result: LoopResult,
  system: System,
): SystemFigures | { error: string } | undefined {
  return result.figures[system];
}

function cell(
  result: LoopResult,
  system: System,
  absent: Absences,
  systems: System[],
): string {
  if (!systems.includes(system)) return "not run";
  const figures = figuresOf(result, system);
  if (figures === undefined) {
    return absent[system] !== undefined ? "missing" : "n/a";
  }
  if ("error" in figures) return "failed";
  return format(value(result.loop, figures.median));
}

/**
 * netref's figure over a reference's: the median of the per-round ratios.
 * Both ran in the same round, close in time, so a drift of the machine
 * (other processes, frequency) weighs less than in the ratio of medians.
 */
function ratio(
  result: LoopResult,
  reference: System,
  system: System = "netref",
): number | null {
  return roundRatio(result, system, reference, (f, i) => f.rounds[i]);
}

/**
 * netref's CPU per call (server + client) over a reference's: the median of
 * the per-round ratios, as {@linkcode ratio}.
 */
function cpuRatio(
  result: LoopResult,
  reference: System,
  system: System = "netref",
): number | null {
  return roundRatio(
    result,
    system,
    reference,
    (f, i) => f.serverCpuUs[i] + f.clientCpuUs[i],
  );
}

/** The median over rounds of `figure` of `system` over that of `reference`. */
function roundRatio(
  result: LoopResult,
  system: System,
  reference: System,
  figure: (figures: SystemFigures, round: number) => number,
): number | null {
  const ours = figuresOf(result, system);
  const theirs = figuresOf(result, reference);
  if (ours === undefined || theirs === undefined) return null;
  if ("error" in ours || "error" in theirs) return null;
  const n = Math.min(ours.rounds.length, theirs.rounds.length);
  if (n === 0) return null;
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(figure(ours, i) / figure(theirs, i));
  return median(ratios);
}

function loopLabel(result: LoopResult): string {
  return `${LOOPS[result.loop]}`;
}

function placementLabel(result: LoopResult): string {
  return result.serverCpu === null
    ? "unpinned"
    : `${result.serverCpu}, ${result.clientCpu}`;
}

/**
 * The markdown tables of a run.
 *
 * @param results What the run measured.
 * @returns Markdown.
 */
export function tables(results: RunResults): string {
  const { systems, absent } = results;
  const out: string[] = [];
  const callLoops = results.loops.filter((r) =>
    !STREAM_LOOPS.includes(r.loop) && COLUMNS.some((s) => s in r.figures)
  );
  if (callLoops.length > 0) {
    out.push(
      "### Calls (medians of alternating rounds)",
      "",
      "calls/s, except the 1 MiB row: MB/s of payload echoed (10^6 bytes, counted once per call). n/a: the scenario does not apply; the raw echo's callback row is two round trips.",
      "",
      `| scenario | CPUs (server, client) | unit | ${
        COLUMNS.map((s) => SYSTEMS[s]).join(" | ")
      } |`,
      `| --- | --- | --- | ${COLUMNS.map(() => "---:").join(" | ")} |`,
    );
    for (const result of callLoops) {
      out.push(
        `| ${loopLabel(result)} | ${placementLabel(result)} | ${
          unit(result.loop)
        } | ${
          COLUMNS.map((s) => cell(result, s, absent, systems)).join(" | ")
        } |`,
      );
    }
    out.push(
      "",
      "### netref ÷ each reference (median of per-round ratios; above 1: netref is faster)",
      "",
      `| scenario | CPUs | ${
        REFERENCES.map((s) => `÷ ${SYSTEMS[s]}`).join(" | ")
      } |`,
      `| --- | --- | ${REFERENCES.map(() => "---:").join(" | ")} |`,
    );
    for (const result of callLoops) {
      out.push(
        `| ${loopLabel(result)} | ${placementLabel(result)} | ${
          REFERENCES.map((s) => {
            const r = ratio(result, s);
            return r === null ? "–" : `${r.toFixed(2)}×`;
          }).join(" | ")
        } |`,
      );
    }
  }
  out.push(...rpycWireTable(callLoops));
  if (callLoops.length > 0) {
    out.push(
      "",
      "### CPU time per call, µs (server + client, medians of rounds): what a call costs, whatever else runs on the machine",
      "",
      `| scenario | CPUs | ${COLUMNS.map((s) => SYSTEMS[s]).join(" | ")} |`,
      `| --- | --- | ${COLUMNS.map(() => "---:").join(" | ")} |`,
    );
    for (const result of callLoops) {
      out.push(
        `| ${loopLabel(result)} | ${placementLabel(result)} | ${
          COLUMNS.map((s) => cpuCell(result, s)).join(" | ")
        } |`,
      );
    }
  }
  out.push(...streamTable(results), ...tracingTable(results));
  if (results.conns.length > 0) {
    const n = results.conns.find((c) => "connections" in c);
    out.push(
      "",
      `### ${
        n !== undefined && "connections" in n ? format(n.connections) : "Many"
      } client connections (server memory: its own report, after a full GC)`,
      "",
      "| system | open in (ms) | server RSS, 1 conn (MB) | all idle (MB) | extra (MB) | per conn (KiB) | calls/s, all calling | CPU µs/call (server + client) | RSS, all calling (MB) |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const c of results.conns) {
      if ("error" in c) {
        out.push(`| ${SYSTEMS[c.system]} | failed: ${c.error} ||||||||`);
        continue;
      }
      const extra = c.idle.rss - c.one.rss;
      out.push(
        `| ${SYSTEMS[c.system]} | ${format(c.openMs)} | ${mb(c.one.rss)} | ${
          mb(c.idle.rss)
        } | ${mb(extra)} | ${format(extra / 1024 / (c.connections - 1), 1)} | ${
          format(c.callsPerSecond)
        } | ${cpu(c.serverCpuUs)} + ${cpu(c.clientCpuUs)} | ${
          mb(c.busy.rss)
        } |`,
      );
    }
  }
  if (results.churn.length > 0) {
    out.push(
      "",
      "### Ref churn (100 creations in flight; server figures after a full GC)",
      "",
      "Before: after a warm-up churn of a tenth as many objects. After: once the server's exports stop falling. RPyC's counts include the root and the four method netrefs the client holds; capnweb's, the main stub.",
      "",
      "| system | objects | objects/s | server exports before → after | client proxies before → after | server heap before → after (MB) | server RSS before → after (MB) |",
      "| --- | ---: | ---: | --- | --- | --- | --- |",
    );
    for (const c of results.churn) {
      if ("error" in c) {
        out.push(`| ${SYSTEMS[c.system]} | failed: ${c.error} ||||||`);
        continue;
      }
      out.push(
        `| ${SYSTEMS[c.system]} | ${format(c.objects)} | ${
          format(c.objects / (c.ms / 1000))
        } | ${c.before.exports} → ${c.after.exports} | ${
          c.clientImportsBefore ?? "?"
        } → ${c.clientImports ?? "?"} | ${heap(c.before)} → ${
          heap(c.after)
        } | ${mb(c.before.rss)} → ${mb(c.after.rss)} |`,
      );
    }
  }
  out.push(...slowTable(results));
  const absences = Object.entries(absent);
  if (absences.length > 0) {
    out.push(
      "",
      ...absences.map(([s, why]) => `- ${SYSTEMS[s as System]}: ${why}`),
    );
  }
  return out.join("\n");
}

/** Server + client CPU µs per call (or item, or chunk), medians of rounds. */
function cpuCell(result: LoopResult, system: System): string {
  const figures = figuresOf(result, system);
  if (figures === undefined || "error" in figures) return "–";
  return `${cpu(median(figures.serverCpuUs))} + ${
    cpu(median(figures.clientCpuUs))
  }`;
}

function ratioCell(
  result: LoopResult,
  reference: System,
  system: System = "netref",
): string {
  const r = ratio(result, reference, system);
  return r === null ? "–" : `${r.toFixed(2)}×`;
}

/**
 * netref on one side of the RPyC wire over RPyC on both: Python's client
 * against netref's server, and `connectRpyc()` against Python's server,
 * each over Python's client against Python's server.
 */
function rpycWireTable(callLoops: LoopResult[]): string[] {
  const rows = callLoops.filter((r) =>
    RPYC_WIRE.some(({ system }) => r.figures[system] !== undefined)
  );
  if (rows.length === 0) return [];
  return [
    "",
    "### On the RPyC wire: netref in place of one side ÷ RPyC 5.3 on both (median of per-round ratios; above 1: faster with netref's side)",
    "",
    "RPyC client: Python's client (the same loops as RPyC 5.3's) against netref's `serve()`, which answers RPyC on its port. RPyC server: `connectRpyc()` against Python's `ThreadedServer`.",
    "",
    `| scenario | CPUs | ${RPYC_WIRE.map(({ name }) => name).join(" | ")} |`,
    `| --- | --- | ${RPYC_WIRE.map(() => "---:").join(" | ")} |`,
    ...rows.map((r) =>
      `| ${loopLabel(r)} | ${placementLabel(r)} | ${
        RPYC_WIRE.map(({ system }) => ratioCell(r, "rpyc", system)).join(" | ")
      } |`
    ),
  ];
}

const STREAM_SYSTEMS: System[] = ["netref", "echo", "grpc"];

/** The streams: rates, netref's ratios, CPU per item or chunk. */
function streamTable(results: RunResults): string[] {
  const rows = results.loops.filter((r) => STREAM_LOOPS.includes(r.loop));
  if (rows.length === 0) return [];
  const { systems, absent } = results;
  return [
    "",
    "### Streams, one way on one connection (medians of alternating rounds)",
    "",
    `Small items: \`for await\` over an \`async *count(n)\` handler (0, 1, 2, ...); the floor: frames of msgpack integers decoded by the client; gRPC: server streaming, one 4-byte message per item. Byte stream: ${
      STREAM_BYTES / 1024 / 1024
    } MiB in chunks of ${
      STREAM_CHUNK_BYTES / 1024
    } KiB (netref: a \`ReadableStream<Uint8Array>\` returned by the handler; the floor: raw bytes; gRPC: server streaming, one message per chunk). CPU time is per item, or per ${
      STREAM_CHUNK_BYTES / 1024
    } KiB chunk.`,
    "",
    `| stream | CPUs | unit | ${
      STREAM_SYSTEMS.map((s) => SYSTEMS[s]).join(" | ")
    } | ÷ raw echo | ÷ gRPC | CPU µs, ${
      STREAM_SYSTEMS.map((s) => SYSTEMS[s]).join(" | CPU µs, ")
    } |`,
    `| --- | --- | --- | ${
      STREAM_SYSTEMS.map(() => "---:").join(" | ")
    } | ---: | ---: | ${STREAM_SYSTEMS.map(() => "---:").join(" | ")} |`,
    ...rows.map((r) =>
      `| ${loopLabel(r)} | ${placementLabel(r)} | ${unit(r.loop)} | ${
        STREAM_SYSTEMS.map((s) => cell(r, s, absent, systems)).join(" | ")
      } | ${ratioCell(r, "echo")} | ${ratioCell(r, "grpc")} | ${
        STREAM_SYSTEMS.map((s) => cpuCell(r, s)).join(" | ")
      } |`
    ),
  ];
}

/** What tracing costs: netref with `openTelemetry()`, without and with a provider. */
function tracingTable(results: RunResults): string[] {
  const rows = results.loops.filter((r) =>
    TRACED.some((s) => r.figures[s] !== undefined)
  );
  if (rows.length === 0) return [];
  const { systems, absent } = results;
  return [
    "",
    "### What tracing costs: `openTelemetry()` on both sides (medians of alternating rounds)",
    "",
    "netref: plain, no interceptors. No provider: `openTelemetry()` on both sides with nothing registered (it gives no interceptor). SDK: `openTelemetry()` on both sides with `BasicTracerProvider` with a `BatchSpanProcessor` into an exporter that drops the spans, a `MeterProvider` whose reader is never read, `AsyncLocalStorageContextManager`; two spans and their metrics per call. Ratios: each over plain netref, per round.",
    "",
    `| scenario | CPUs | netref | ${
      TRACED.map((s) => `${TRACED_SHORT[s]} | ÷ netref`).join(" | ")
    } | CPU µs/call (server + client): netref | ${
      TRACED.map((s) => TRACED_SHORT[s]).join(" | ")
    } |`,
    `| --- | --- | ---: | ${
      TRACED.map(() => "---: | ---:").join(" | ")
    } | ---: | ${TRACED.map(() => "---:").join(" | ")} |`,
    ...rows.map((r) =>
      `| ${loopLabel(r)} | ${placementLabel(r)} | ${
        cell(r, "netref", absent, systems)
      } | ${
        TRACED.map((s) =>
          `${cell(r, s, absent, systems)} | ${ratioCell(r, "netref", s)}`
        ).join(" | ")
      } | ${cpuCell(r, "netref")} | ${
        TRACED.map((s) => cpuCell(r, s)).join(" | ")
      } |`
    ),
  ];
}

/** Peak growth of the server's live heap and ArrayBuffers during the read. */
function slowGrowth(s: SlowResult): number {
  return s.peakLive - live(s.before);
}

/** The server's memory while a client reads one item a millisecond. */
function slowTable(results: RunResults): string[] {
  if (results.slow.length === 0) return [];
  return [
    "",
    `### A stream read one item a millisecond (server memory)`,
    "",
    `The handler could yield ${
      format(results.slow.find((s) => "could" in s)?.could ?? 0)
    } fresh blocks of ${
      SLOW_ITEM_BYTES / 1024
    } KiB (1 GiB); the client reads one, waits 1 ms, and so on, then stops the stream. Live memory: \`heapUsed + external\` (the JavaScript heap and ArrayBuffers) after a full GC, before the read, every 100 ms during it (peak), and after it.`,
    "",
    "| system | read for (ms) | items read | items produced | live before → peak (MB) | peak growth (MB) | RSS before → peak (MB) | live after (MB) |",
    "| --- | ---: | ---: | ---: | --- | ---: | --- | ---: |",
    ...results.slow.map((s) =>
      "error" in s
        ? `| ${SYSTEMS[s.system]} | failed: ${s.error} |||||||`
        : `| ${SYSTEMS[s.system]} | ${format(s.ms)} | ${format(s.read)} | ${
          format(s.produced)
        } | ${mb(live(s.before))} → ${mb(s.peakLive)} | ${
          mb(slowGrowth(s))
        } | ${mb(s.before.rss)} → ${mb(s.peakRss)} | ${mb(live(s.after))} |`
    ),
  ];
}

function cpu(us: number): string {
  if (us >= 100) return format(us);
  if (us >= 10) return format(us, 1);
  if (us >= 0.1 || us === 0) return format(us, 2);
  return us.toPrecision(2);
}

function heap(report: MemoryReport): string {
  return report.heapUsed === null ? "–" : format(report.heapUsed / 1e6, 2);
}

/** What the minimal RPC reached on the same measure, if it ran. */
function floor(x: number | null): string {
  return x === null ? "" : ` (the minimal RPC: ${x.toFixed(2)}×)`;
}

/** One target of the issue, checked against this run. */
export interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function loopResult(
  results: RunResults,
  loop: Loop,
  sameCpu: boolean | null,
): LoopResult | undefined {
  return results.loops.find((r) =>
    r.loop === loop &&
    (sameCpu === null || (r.serverCpu === r.clientCpu) === sameCpu)
  );
}

/**
 * The issue's targets, as met or not by this run.
 *
 * @param results What the run measured.
 * @returns One entry per target that the run measured.
 */
export function targets(results: RunResults): Target[] {
  const out: Target[] = [];
  for (const sameCpu of [true, false]) {
    const r = loopResult(results, "call", sameCpu);
    const x = r === undefined ? null : ratio(r, "echo");
    if (x !== null) {
      out.push({
        target: `sequential small call ≥ 0.85× the raw echo, ${
          sameCpu ? "same CPU" : "different CPUs"
        }`,
        measured: `${x.toFixed(2)}×${floor(ratio(r!, "echo", "minimal"))}`,
        met: x >= 0.85,
      });
    }
    const cost = r === undefined ? null : cpuRatio(r, "echo");
    if (cost !== null) {
      out.push({
        target:
          `CPU per sequential call (server + client) ≤ 1.15× the raw echo's, ${
            sameCpu ? "same CPU" : "different CPUs"
          }`,
        measured: `${cost.toFixed(2)}×${
          floor(cpuRatio(r!, "echo", "minimal"))
        }`,
        met: cost <= 1.15,
      });
    }
  }
  const inflight = loopResult(results, "inflight", null);
  const ours = inflight?.figures.netref;
  if (inflight !== undefined && ours !== undefined && !("error" in ours)) {
    const serverUs = median(ours.serverCpuUs);
    const clientUs = median(ours.clientCpuUs);
    out.push({
      target: "≥ 500,000 calls/s with 100 in flight on one connection",
      measured: `${format(ours.median)} calls/s (CPU per call: server ${
        cpu(serverUs)
      } µs, client ${cpu(clientUs)} µs; ${
        format(1e6 / Math.max(serverUs, clientUs))
      }/s if each had a CPU to itself)`,
      met: ours.median >= 500_000,
    });
    for (const reference of ["capnweb", "birpc"] as const) {
      const x = ratio(inflight, reference);
      if (x !== null) {
        out.push({
          target: `100 in flight ≥ 1.5× ${reference}`,
          measured: `${x.toFixed(2)}×`,
          met: x >= 1.5,
        });
      }
    }
  }
  const big = loopResult(results, "bytes1m", null)?.figures.netref;
  if (big !== undefined && !("error" in big)) {
    const gbs = value("bytes1m", big.median) / 1000;
    out.push({
      target: "1 MiB payload echoed at ≥ 1 GB/s",
      measured: `${gbs.toFixed(2)} GB/s`,
      met: gbs >= 1,
    });
  }
  const items = loopResult(results, "items", null);
  const itemsOurs = items?.figures.netref;
  if (
    items !== undefined && itemsOurs !== undefined && !("error" in itemsOurs)
  ) {
    out.push({
      target: "≥ 1,000,000 small items/s one way on one connection",
      measured: `${format(itemsOurs.median)} items/s`,
      met: itemsOurs.median >= 1_000_000,
    });
    const x = ratio(items, "grpc");
    if (x !== null) {
      out.push({
        target: "small items ≥ 2× gRPC server streaming",
        measured: `${x.toFixed(2)}×`,
        met: x >= 2,
      });
    }
  }
  const stream = loopResult(results, "bytes256m", null);
  const streamOurs = stream?.figures.netref;
  if (
    stream !== undefined && streamOurs !== undefined && !("error" in streamOurs)
  ) {
    const gbs = value("bytes256m", streamOurs.median) / 1000;
    out.push({
      target: "256 MiB byte stream at ≥ 1 GB/s",
      measured: `${gbs.toFixed(2)} GB/s`,
      met: gbs >= 1,
    });
    const x = ratio(stream, "grpc");
    if (x !== null) {
      out.push({
        target: "byte stream ≥ 2× gRPC server streaming",
        measured: `${x.toFixed(2)}×`,
        met: x >= 2,
      });
    }
  }
  for (const r of results.loops) {
    const x = ratio(r, "netref", "otelNoop");
    if (x === null) continue;
    out.push({
      target: `${LOOPS[r.loop]} (${
        placementLabel(r)
      }): \`openTelemetry()\` with no provider within 10% of plain netref`,
      measured: `${x.toFixed(2)}×`,
      met: x >= 0.9,
    });
  }
  const conns = results.conns.find((c) => c.system === "netref");
  if (conns !== undefined && !("error" in conns)) {
    const extra = (conns.idle.rss - conns.one.rss) / 1e6;
    out.push({
      target: `${
        format(conns.connections)
      } idle connections cost the server < 100 MB`,
      measured: `${extra.toFixed(1)} MB`,
      met: conns.connections >= 1000 ? extra < 100 : null,
    });
  }
  const churn = results.churn.find((c) => c.system === "netref");
  if (churn !== undefined && !("error" in churn)) {
    out.push({
      target: "ref churn leaves zero exports",
      measured:
        `${churn.after.exports} exports, ${churn.clientImports} client proxies`,
      met: churn.after.exports === 0 && churn.clientImports === 0,
    });
    const growth = (churn.after.heapUsed ?? 0) - (churn.before.heapUsed ?? 0);
    out.push({
      target: "ref churn: no growth in memory (server heap after GC, ≤ 1 MB)",
      measured: `${growth >= 0 ? "+" : ""}${
        (growth / 1e6).toFixed(2)
      } MB heap, ${
        ((churn.after.rss - churn.before.rss) / 1e6).toFixed(1)
      } MB RSS`,
      met: churn.before.collected ? growth <= 1e6 : null,
    });
  }
  const slow = results.slow.find((s) => s.system === "netref");
  if (slow !== undefined && !("error" in slow)) {
    const growth = slowGrowth(slow) / 1e6;
    out.push({
      target:
        "a stream read one item a millisecond: the server's live heap + ArrayBuffers grow < 32 MB (producer could yield 1 GB)",
      measured: `+${growth.toFixed(1)} MB at peak (after GC); ${
        format(slow.produced)
      } items produced for ${format(slow.read)} read`,
      met: slow.before.collected ? growth < 32 : null,
    });
  }
  return out;
}

/**
 * The targets as a markdown table.
 *
 * @param list The targets.
 * @returns Markdown.
 */
export function targetTable(list: Target[]): string {
  if (list.length === 0) return "";
  return [
    "### Targets",
    "",
    "| target | this run | met |",
    "| --- | ---: | :---: |",
    ...list.map((t) =>
      `| ${t.target} | ${t.measured} | ${
        t.met === null ? "?" : t.met ? "yes" : "**no**"
      } |`
    ),
  ].join("\n");
}
