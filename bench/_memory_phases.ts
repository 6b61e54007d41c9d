/**
 * The memory phases of a benchmark run, one system at a time in fresh
 * processes: 1,000 connections, ref churn, and a stream read slowly.
 *
 * @module
 */

import {
  type ChurnReply,
  type LoopReply,
  type MemoryReport,
  SLOW_ITEMS,
  type SlowReply,
  type System,
} from "./_common.ts";
import { type Child, cpuOf, memoryOf } from "./_children.ts";
import {
  type PhaseSettings,
  type Placement,
  runLoop,
  startPair,
  stopPair,
} from "./_phases.ts";

/** Time allowed for opening the connections or churning the objects. */
const LONG_MS = 300_000;

/** One system with 1,000 connections. */
export interface ConnsResult {
  system: System;
  connections: number;
  /** Milliseconds the client took to open them. */
  openMs: number;
  /** Server memory with the client's one warmed-up connection. */
  one: MemoryReport;
  /** With every connection open and idle. */
  idle: MemoryReport;
  /** Calls per second with every connection calling `foo()` at once. */
  callsPerSecond: number;
  /** Server and client CPU microseconds per call meanwhile. */
  serverCpuUs: number;
  clientCpuUs: number;
  /** Right after that load, every connection still open. */
  busy: MemoryReport;
}

/** One system's ref churn. */
export interface ChurnResult {
  system: System;
  objects: number;
  /** Milliseconds to create and release them (client's clock). */
  ms: number;
  /** Server memory and exports before the churn (after a warm-up churn). */
  before: MemoryReport;
  /** After it, once the exports stopped falling. */
  after: MemoryReport;
  /** Milliseconds between the churn's end and `after`. */
  settleMs: number;
  clientImportsBefore: number | null;
  clientImports: number | null;
}

/**
 * Measures one system with many connections: the server's memory with one
 * warmed-up connection, with `connections` open and idle, and after they
 * all call at once for `loadMs`.
 *
 * @param system Which system.
 * @param connections How many connections to open in all.
 * @param placement Where the server and the client run.
 * @param settings Warm-up and round length (the load lasts two rounds).
 * @returns The figures.
 */
export async function connsPhase(
  system: System,
  connections: number,
  placement: Placement,
  settings: PhaseSettings,
): Promise<ConnsResult> {
  const pair = await startPair(system, placement, settings);
  try {
    await runLoop(pair, "call", settings.warmupMs);
    const one = await memoryOf(pair.server);
    const opened = await pair.client.ask(
      { op: "open", total: connections },
      LONG_MS,
    );
    // Let the server finish every handshake it has started.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idle = await memoryOf(pair.server);
    const loadMs = 2 * settings.roundMs;
    const serverBefore = await cpuOf(pair.server);
    const load = await pair.client.ask(
      { op: "load", ms: loadMs },
      loadMs + LONG_MS,
    ) as unknown as LoopReply;
    const serverMs = await cpuOf(pair.server) - serverBefore;
    const busy = await memoryOf(pair.server);
    await pair.client.ask({ op: "shrink" }, LONG_MS);
    settings.log(
      `  ${system}: ${connections} connections opened in ${
        Math.round(opened.ms as number)
      } ms; server RSS ${mb(one.rss)} -> ${mb(idle.rss)} MB idle, ${
        mb(busy.rss)
      } MB busy; ${
        Math.round(load.calls / (load.ms / 1000)).toLocaleString("en-US")
      } calls/s`,
    );
    return {
      system,
      connections: opened.open as number,
      openMs: Math.round(opened.ms as number),
      one,
      idle,
      callsPerSecond: Math.round(load.calls / (load.ms / 1000)),
      serverCpuUs: Math.round(serverMs * 1000 / load.calls * 100) / 100,
      clientCpuUs: Math.round(load.cpuMs * 1000 / load.calls * 100) / 100,
      busy,
    };
  } finally {
    await stopPair(pair);
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Polls the server until its exports stop falling (or reach `floor`). */
async function settledMemory(
  server: Child,
  floor: number,
): Promise<{ report: MemoryReport; ms: number }> {
  const start = performance.now();
  let report = await memoryOf(server);
  while (performance.now() - start < 10_000) {
    if ((report.exports ?? 0) <= floor) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = await memoryOf(server);
    const stuck = next.exports === report.exports &&
      performance.now() - start > 3_000;
    report = next;
    if (stuck) break;
  }
  return { report, ms: Math.round(performance.now() - start) };
}

/**
 * Creates and releases `objects` remote objects (100 at a time), after a
 * warm-up churn of a tenth as many, and compares the server's exports and
 * memory before and after.
 *
 * @param system Which system.
 * @param objects How many objects.
 * @param placement Where the server and the client run.
 * @param settings Spawn settings.
 * @returns The figures.
 */
export async function churnPhase(
  system: System,
  objects: number,
  placement: Placement,
  settings: PhaseSettings,
): Promise<ChurnResult> {
  const pair = await startPair(system, placement, settings);
  const window = 100;
  try {
    const initial = await memoryOf(pair.server);
    await pair.client.ask(
      {
        op: "churn",
        count: Math.max(window, Math.round(objects / 10)),
        window,
      },
      LONG_MS,
    );
    const { report: before } = await settledMemory(
      pair.server,
      initial.exports ?? 0,
    );
    const reply = await pair.client.ask(
      { op: "churn", count: objects, window },
      LONG_MS,
    ) as unknown as ChurnReply;
    const { report: after, ms: settleMs } = await settledMemory(
      pair.server,
      before.exports ?? 0,
    );
    settings.log(
      `  ${system}: ${reply.objects} objects in ${
        Math.round(reply.ms)
      } ms; exports ${before.exports} -> ${after.exports}; heap ${
        before.heapUsed === null ? "?" : mb(before.heapUsed)
      } -> ${after.heapUsed === null ? "?" : mb(after.heapUsed)} MB; RSS ${
        mb(before.rss)
      } -> ${mb(after.rss)} MB`,
    );
    return {
      system,
      objects: reply.objects,
      ms: Math.round(reply.ms),
      before,
      after,
      settleMs,
      clientImportsBefore: reply.clientImportsBefore,
      clientImports: reply.clientImports,
    };
  } finally {
    await stopPair(pair);
  }
}

/** The server's memory while a client reads a stream slowly. */
export interface SlowResult {
  system: System;
  /** Items of `SLOW_ITEM_BYTES` the producer could yield. */
  could: number;
  /** Items the client read, one a millisecond. */
  read: number;
  /** Items the producer yielded. */
  produced: number;
  /** Milliseconds the client read for. */
  ms: number;
  /** Server memory before, after a full GC. */
  before: MemoryReport;
  /** The largest live memory (heap + ArrayBuffers, after a full GC) of the samples taken while the client read. */
  peakLive: number;
  /** The largest RSS of those samples. */
  peakRss: number;
  /** Samples taken. */
  samples: number;
  /** After the stream stopped, after a full GC. */
  after: MemoryReport;
}

/** How often the server's memory is sampled while the client reads. */
const SAMPLE_MS = 100;

/** Live bytes of a report: the JavaScript heap and ArrayBuffers. */
export function live(report: MemoryReport): number {
  return (report.heapUsed ?? 0) + (report.external ?? 0);
}

/**
 * Measures the server's memory while its client reads a stream that could
 * bring a gigabyte, one item a millisecond, for `ms`: the credit window
 * must hold the producer back. Every sample is taken after a full GC, so
 * that it counts what the server holds, not garbage V8 has yet to collect.
 *
 * @param system Which system.
 * @param ms How long the client reads.
 * @param placement Where the server and the client run.
 * @param settings Spawn settings and warm-up.
 * @returns The figures.
 */
export async function slowPhase(
  system: System,
  ms: number,
  placement: Placement,
  settings: PhaseSettings,
): Promise<SlowResult> {
  const pair = await startPair(system, placement, settings);
  try {
    await runLoop(pair, "call", settings.warmupMs);
    const before = await memoryOf(pair.server);
    let done = false;
    const reading = pair.client.ask({ op: "slow", ms }, ms + LONG_MS)
      .finally(() => done = true);
    let peakLive = live(before);
    let peakRss = before.rss;
    let samples = 0;
    while (!done) {
      const sample = await memoryOf(pair.server);
      samples++;
      peakLive = Math.max(peakLive, live(sample));
      peakRss = Math.max(peakRss, sample.rss);
      await Promise.race([
        reading.catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, SAMPLE_MS)),
      ]);
    }
    const reply = await reading as unknown as SlowReply;
    const after = await memoryOf(pair.server);
    settings.log(
      `  ${system}: read ${reply.read} of ${reply.produced} items produced in ${
        Math.round(reply.ms)
      } ms; server heap + ArrayBuffers ${mb(live(before))} -> peak ${
        mb(peakLive)
      } MB (${samples} samples after GC); RSS ${mb(before.rss)} -> peak ${
        mb(peakRss)
      } MB`,
    );
    return {
      system,
      could: SLOW_ITEMS,
      read: reply.read,
      produced: reply.produced,
      ms: Math.round(reply.ms),
      before,
      peakLive,
      peakRss,
      samples,
      after,
    };
  } finally {
    await stopPair(pair);
  }
}
