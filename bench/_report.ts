/**
 * The benchmark's markdown: figures side by side, netref's ratios to each
 * reference, memory with 1,000 connections, ref churn, and the targets.
 *
 * @module
 */

import {
  type Loop,
  LOOPS,
  type MemoryReport,
  PAYLOAD_BYTES,
  type System,
  SYSTEMS,
} from "./_common.ts";
import { type LoopResult, median, type SystemFigures } from "./_phases.ts";
import type { ChurnResult, ConnsResult } from "./_memory_phases.ts";

/** Why a system has no figures in this run: missing, failed, or not applicable. */
export type Absences = Partial<Record<System, string>>;

/** Everything a run measured. */
export interface RunResults {
  systems: System[];
  absent: Absences;
  loops: LoopResult[];
  conns: (ConnsResult | { system: System; error: string })[];
  churn: (ChurnResult | { system: System; error: string })[];
}

const REFERENCES: System[] = ["echo", "rpyc", "capnweb", "birpc", "grpc"];

function format(value: number, digits = 0): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function mb(bytes: number): string {
  return format(bytes / 1e6, 1);
}

/** A loop's figure in its unit: calls/s, or MB/s of payload for 1 MiB. */
function value(loop: Loop, callsPerSecond: number): number {
  return loop === "bytes1m"
    ? callsPerSecond * PAYLOAD_BYTES.bytes1m! / 1e6
    : callsPerSecond;
}

function unit(loop: Loop): string {
  return loop === "bytes1m" ? "MB/s" : "calls/s";
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
function ratio(result: LoopResult, reference: System): number | null {
  const ours = figuresOf(result, "netref");
  const theirs = figuresOf(result, reference);
  if (ours === undefined || theirs === undefined) return null;
  if ("error" in ours || "error" in theirs) return null;
  const n = Math.min(ours.rounds.length, theirs.rounds.length);
  if (n === 0) return null;
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(ours.rounds[i] / theirs.rounds[i]);
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
  if (results.loops.length > 0) {
    out.push(
      "### Calls (medians of alternating rounds)",
      "",
      "calls/s, except the 1 MiB row: MB/s of payload echoed (10^6 bytes, counted once per call). n/a: the scenario does not apply; the raw echo's callback row is two round trips.",
      "",
      `| scenario | CPUs (server, client) | unit | ${
        (Object.keys(SYSTEMS) as System[]).map((s) => SYSTEMS[s]).join(" | ")
      } |`,
      `| --- | --- | --- | ${
        (Object.keys(SYSTEMS) as System[]).map(() => "---:").join(" | ")
      } |`,
    );
    for (const result of results.loops) {
      out.push(
        `| ${loopLabel(result)} | ${placementLabel(result)} | ${
          unit(result.loop)
        } | ${
          (Object.keys(SYSTEMS) as System[]).map((s) =>
            cell(result, s, absent, systems)
          ).join(" | ")
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
    for (const result of results.loops) {
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
  if (results.loops.length > 0) {
    out.push(
      "",
      "### CPU time per call, µs (server + client, medians of rounds): what a call costs, whatever else runs on the machine",
      "",
      `| scenario | CPUs | ${
        (Object.keys(SYSTEMS) as System[]).map((s) => SYSTEMS[s]).join(" | ")
      } |`,
      `| --- | --- | ${
        (Object.keys(SYSTEMS) as System[]).map(() => "---:").join(" | ")
      } |`,
    );
    for (const result of results.loops) {
      out.push(
        `| ${loopLabel(result)} | ${placementLabel(result)} | ${
          (Object.keys(SYSTEMS) as System[]).map((s) => {
            const figures = figuresOf(result, s);
            if (figures === undefined || "error" in figures) return "–";
            return `${cpu(median(figures.serverCpuUs))} + ${
              cpu(median(figures.clientCpuUs))
            }`;
          }).join(" | ")
        } |`,
      );
    }
  }
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
  const absences = Object.entries(absent);
  if (absences.length > 0) {
    out.push(
      "",
      ...absences.map(([s, why]) => `- ${SYSTEMS[s as System]}: ${why}`),
    );
  }
  return out.join("\n");
}

function cpu(us: number): string {
  return us >= 100 ? format(us) : us >= 10 ? format(us, 1) : format(us, 2);
}

function heap(report: MemoryReport): string {
  return report.heapUsed === null ? "–" : format(report.heapUsed / 1e6, 2);
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
        measured: `${x.toFixed(2)}×`,
        met: x >= 0.85,
      });
    }
  }
  const inflight = loopResult(results, "inflight", null);
  const ours = inflight?.figures.netref;
  if (inflight !== undefined && ours !== undefined && !("error" in ours)) {
    const serverUs = median(ours.serverCpuUs);
    const clientUs = median(ours.clientCpuUs);
    out.push({
      target: "≥ 300,000 calls/s with 100 in flight on one connection",
      measured: `${format(ours.median)} calls/s (CPU per call: server ${
        cpu(serverUs)
      } µs, client ${cpu(clientUs)} µs; ${
        format(1e6 / Math.max(serverUs, clientUs))
      }/s if each had a CPU to itself)`,
      met: ours.median >= 300_000,
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
