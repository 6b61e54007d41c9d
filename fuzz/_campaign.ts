/**
 * A fuzzing run: many connections at once send generated and mutated
 * frames of both wires to the fixture server in its own process, while a
 * probe calls it every 100 ms. Crashes (the process exits: it is restarted
 * and the run goes on) and unhandled rejections (lines on its stderr) are
 * recorded with the connections open at the time; at the end, the server's
 * leftover connections, sockets and exports are counted once every fuzzing
 * socket is closed, and each kind of failure is replayed alone to find the
 * connection and the frames that cause it.
 *
 * @module
 */

import { connect, type Connection } from "../client.ts";
import { makeBatch } from "./_batch.ts";
import { sendBatch } from "./_connection.ts";
import type { ProbeResult } from "./_probe_worker.ts";
import { Replayer, signature, STALL } from "./_replay.ts";
import { type Failure, type Finding, group, reproduce } from "./_findings.ts";

export type { Finding };
export { describeFinding } from "./_findings.ts";
import { type FixtureOptions, FixtureServer } from "./_server.ts";

/** Options of {@linkcode runCampaign}. */
export interface CampaignOptions {
  /** The seed: the same seed sends the same frames. */
  seed: number;
  /** Frames to send, at least. */
  frames: number;
  /** Connections open at once. @default {16} */
  concurrency?: number;
  /** Kinds of failure to replay alone and minimise; 0 for none. @default {4} */
  triage?: number;
  /** Where crashing inputs are saved; null: nowhere. */
  outDir?: string | null;
  /** Receives progress lines. */
  log?: (line: string) => void;
  /** How the server runs: its heap limit, whether rejections end it. */
  fixture?: FixtureOptions;
}

/** Server state, as its `stats()` method reports it. */
export interface ServerStats {
  connections: number;
  served: number;
  exports: number;
  imports: number;
  inFlight: number;
  pendingCalls: number;
  rss: number;
  heapUsed: number;
  external: number;
  worstLagMs: number;
  worstBusyMs: number;
  unhandled: number;
  logLines: number;
  lastLogs: string[];
}

/** Everything a run measured. */
export interface CampaignReport {
  seed: number;
  framesSent: number;
  connections: number;
  seconds: number;
  crashes: number;
  unhandled: number;
  findings: Finding[];
  /**
   * What the server still held after every fuzzing socket closed; null
   * where it could not be asked (it died at the end).
   */
  leftover: {
    connections: number | null;
    sockets: number | null;
    exports: number | null;
  };
  probe: ProbeResult;
  /**
   * The server's worst event-loop delay during the run, as it measured it
   * (of the last server started), and the most CPU time it spent in one
   * such delay; null if it could not be asked.
   */
  serverLag: { wallMs: number; busyMs: number } | null;
  memory: {
    before: { rss: number; heapUsed: number; external: number };
    after: { rss: number; heapUsed: number; external: number } | null;
  };
}

/** A run stops after this many crashes: each costs a restart, and one is enough to fail. */
const MAX_CRASHES = 200;

/** How long the server gets, after the last fuzzing socket closed, to let go. */
const SETTLE_MS = 10_000;

type Control = Connection<{
  stats(): ServerStats;
  gc(): boolean;
  resetLag(): void;
}>;

/**
 * Runs a fuzzing campaign.
 *
 * @param options Seed, size and where to report.
 * @returns What it measured.
 */
export async function runCampaign(
  options: CampaignOptions,
): Promise<CampaignReport> {
  const { seed, frames: target } = options;
  const concurrency = options.concurrency ?? 16;
  const fixture = options.fixture ?? {};
  const log = options.log ?? (() => {});
  const started = performance.now();

  const failures: Failure[] = [];
  const inflight = new Map<number, Promise<void>>();
  // When each connection opened, and when those that closed closed (the
  // last 10 s of them).
  const openedAt = new Map<number, number>();
  const recent: { index: number; opened: number; at: number }[] = [];
  let framesSent = 0;
  let plannedFrames = 0;
  let connections = 0;
  let crashes = 0;
  let unhandled = 0;

  // The connections that may have caused what just happened: those still
  // open, then those closed within the last `windowMs`, latest first (a
  // handler may call a callback 200 ms after its caller left, and a busy
  // server reads what was sent some time after). At most 1,024.
  const suspects = (windowMs: number) => {
    const now = performance.now();
    const found = new Set(inflight.keys());
    for (let i = recent.length - 1; i >= 0 && found.size < 1024; i--) {
      if (now - recent[i].at > windowMs) break;
      found.add(recent[i].index);
    }
    return [...found];
  };
  // A stall's suspects: the connections opened before it began (a busy
  // server reads what was sent some time after), latest first.
  const stallSuspects = (beganAt: number) => {
    const opened = [...inflight.keys()]
      .map((index) => ({ index, opened: openedAt.get(index)! }))
      .filter((c) => c.opened <= beganAt + 20);
    for (let i = recent.length - 1; i >= 0 && opened.length < 1024; i--) {
      if (recent[i].opened <= beganAt + 20) opened.push(recent[i]);
    }
    opened.sort((a, b) => b.opened - a.opened);
    return opened.slice(0, 1024).map((c) => c.index);
  };

  let crashSuspects: number[] = [];
  // Stalls count while frames are being sent, not while the server starts
  // or collects its garbage for the figures.
  let fuzzing = false;
  const watch = (server: FixtureServer) => {
    server.onUnhandled = (line) => {
      unhandled++;
      failures.push({
        kind: "unhandled",
        signature: signature(line),
        line,
        atFrame: framesSent,
        suspects: suspects(3_000),
      });
    };
    server.onStall = (ms, lateMs) => {
      if (!fuzzing) return;
      // The server says so as soon as its event loop is free again, so the
      // stall began about lateMs ago.
      failures.push({
        kind: "stall",
        signature: STALL,
        line: `the server's event loop was kept busy ${ms.toFixed(0)} ms`,
        atFrame: framesSent,
        suspects: stallSuspects(performance.now() - lateMs),
        stallMs: ms,
      });
    };
    // Running out of memory can take many seconds: look further back.
    server.exited.then(() => crashSuspects = suspects(30_000));
    return server;
  };

  let server = watch(await FixtureServer.start(fixture));
  let control = await openControl(server.port);
  const probe = new Worker(
    new URL("./_probe_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  const probeResult = new Promise<ProbeResult>((resolve) => {
    probe.onmessage = (event) => resolve(event.data as ProbeResult);
  });
  probe.postMessage({ port: server.port });

  await control.root.gc();
  // The probe's connection is part of the baseline: wait for it.
  const deadline = performance.now() + 10_000;
  let before = await control.root.stats();
  while (before.connections < 2 && performance.now() < deadline) {
    await delay(50);
    before = await control.root.stats();
  }
  const baseSockets = await server.openSockets();
  await control.root.resetLag();
  fuzzing = true;
  log(
    `seed ${seed}: sending ${target} frames over ${concurrency} connections at once to the server (pid ${server.pid}, port ${server.port})`,
  );

  let nextLog = 50_000;
  while (framesSent < target) {
    if (server.status !== null) {
      await Promise.all(inflight.values());
      await server.ended();
      crashes++;
      const line = server.deathReason();
      failures.push({
        kind: "crash",
        signature: signature(line),
        line,
        atFrame: framesSent,
        suspects: crashSuspects,
      });
      log(
        `crash at frame ${framesSent} of seed ${seed} (connections ${
          crashSuspects.slice(0, 16).join(", ")
        }${
          crashSuspects.length > 16 ? ", …" : ""
        } open or just closed): ${line}; restarting the server`,
      );
      await control.close().catch(() => {});
      server = watch(await FixtureServer.start(fixture));
      control = await openControl(server.port);
      probe.postMessage({ port: server.port });
      if (crashes >= MAX_CRASHES) {
        log(`${crashes} crashes: stopping the run here`);
        break;
      }
      continue;
    }
    while (
      inflight.size < concurrency && framesSent + plannedFrames < target
    ) {
      const index = connections++;
      const batch = makeBatch(seed, index);
      plannedFrames += batch.frames.length;
      const port = server.port;
      openedAt.set(index, performance.now());
      inflight.set(
        index,
        sendBatch(port, batch).then((sent) => {
          plannedFrames -= batch.frames.length;
          framesSent += sent.frames;
          inflight.delete(index);
          const now = performance.now();
          recent.push({ index, opened: openedAt.get(index)!, at: now });
          openedAt.delete(index);
          // Kept for 30 s, at most 100,000 of them, trimmed now and then.
          if (recent.length % 1024 === 0) {
            let drop = 0;
            while (
              drop < recent.length &&
              (recent.length - drop > 100_000 ||
                now - recent[drop].at > 30_000)
            ) drop++;
            recent.splice(0, drop);
          }
        }),
      );
    }
    if (inflight.size === 0) break;
    await Promise.race([...inflight.values(), server.exited]);
    if (framesSent >= nextLog) {
      nextLog += 50_000;
      log(
        `${framesSent} frames, ${connections} connections, ${crashes} crashes, ${unhandled} unhandled rejections, ${
          ((performance.now() - started) / 1000).toFixed(0)
        } s`,
      );
    }
  }
  await Promise.all(inflight.values());
  await delay(500);
  fuzzing = false;

  // Every fuzzing socket is closed: give the server time to let go of them
  // (and to run the callbacks handlers scheduled), then count what it holds.
  const end = await settle(control, server, before, baseSockets).catch(() =>
    null
  );
  if (server.status !== null) {
    await server.ended();
    crashes++;
    const line = server.deathReason();
    failures.push({
      kind: "crash",
      signature: signature(line),
      line,
      atFrame: framesSent,
      suspects: crashSuspects,
    });
    log(`crash after the last frame: ${line}`);
  }
  probe.postMessage({ stop: true });
  const probeStats = await probeResult;
  probe.terminate();
  await control.close().catch(() => {});
  await server.stop();

  const seconds = (performance.now() - started) / 1000;
  log(`sent ${framesSent} frames in ${seconds.toFixed(1)} s`);
  const findings = group(failures);
  const replays = Math.min(options.triage ?? 4, findings.length);
  if (replays > 0) {
    log(`replaying ${replays} kinds of failure alone to find their inputs`);
    await using replayer = new Replayer(fixture);
    for (const finding of findings.slice(0, replays)) {
      const t0 = performance.now();
      const before = replayer.runs;
      await reproduce(replayer, seed, finding, options.outDir ?? null);
      log(
        `${finding.signature}: ${
          finding.connection === undefined
            ? "not reproduced"
            : `reproduced by connection ${finding.connection}`
        } (${replayer.runs - before} replays, ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s)`,
      );
    }
  }

  return {
    seed,
    framesSent,
    connections,
    seconds,
    crashes,
    unhandled,
    findings,
    leftover: {
      connections: end === null
        ? null
        : Math.max(0, end.stats.connections - before.connections),
      sockets: end?.sockets ?? null,
      exports: end?.stats.exports ?? null,
    },
    probe: probeStats,
    serverLag: end === null
      ? null
      : { wallMs: end.stats.worstLagMs, busyMs: end.stats.worstBusyMs },
    memory: {
      before: {
        rss: before.rss,
        heapUsed: before.heapUsed,
        external: before.external,
      },
      after: end === null ? null : {
        rss: end.memory.rss,
        heapUsed: end.memory.heapUsed,
        external: end.memory.external,
      },
    },
  };
}

/** What {@linkcode failedChecks} holds a run to. */
export interface Limits {
  /** The probe's worst round trip allowed, in ms; null: not checked. */
  probeMs: number | null;
  /** The most the server may work without returning to its event loop, in ms; null: not checked. */
  busyMs: number | null;
}

/**
 * Why a run failed, one reason a line; empty when it passed.
 *
 * @param report A run's report.
 * @param limits The latency limits (by default, the probe's 100 ms).
 */
export function failedChecks(
  report: CampaignReport,
  limits: Limits = { probeMs: 100, busyMs: null },
): string[] {
  const reasons: string[] = [];
  if (report.crashes > 0) reasons.push(`${report.crashes} crashes`);
  if (report.unhandled > 0) {
    reasons.push(`${report.unhandled} unhandled rejections`);
  }
  if ((report.leftover.connections ?? 0) > 0) {
    reasons.push(`${report.leftover.connections} connections left open`);
  }
  if ((report.leftover.sockets ?? 0) > 0) {
    reasons.push(`${report.leftover.sockets} sockets left open`);
  }
  if ((report.leftover.exports ?? 0) > 0) {
    reasons.push(`${report.leftover.exports} exports left`);
  }
  if (limits.probeMs !== null && report.probe.worst >= limits.probeMs) {
    reasons.push(
      `the probe's worst round trip was ${
        report.probe.worst.toFixed(1)
      } ms (limit ${limits.probeMs})`,
    );
  }
  const busy = report.serverLag?.busyMs ?? 0;
  if (limits.busyMs !== null && busy >= limits.busyMs) {
    reasons.push(
      `the server worked ${
        busy.toFixed(1)
      } ms without returning to its event loop (limit ${limits.busyMs})`,
    );
  }
  if (report.probe.calls === 0) reasons.push("the probe never got an answer");
  return reasons;
}

/**
 * Waits (up to 10 s) until the server holds no more connections, sockets or
 * exports than before the run, then measures it after a garbage collection.
 */
async function settle(
  control: Control,
  server: FixtureServer,
  before: ServerStats,
  baseSockets: number | null,
): Promise<
  { stats: ServerStats; sockets: number | null; memory: ServerStats }
> {
  const settleBy = performance.now() + SETTLE_MS;
  let stats = await control.root.stats();
  let sockets = await server.openSockets();
  const extraSockets = () =>
    sockets === null || baseSockets === null ? 0 : sockets - baseSockets;
  while (
    performance.now() < settleBy &&
    (stats.connections > before.connections || stats.exports > 0 ||
      extraSockets() > 0)
  ) {
    await delay(100);
    stats = await control.root.stats();
    sockets = await server.openSockets();
  }
  await control.root.gc();
  const memory = await control.root.stats();
  return {
    stats,
    sockets: sockets === null || baseSockets === null
      ? null
      : Math.max(0, extraSockets()),
    memory,
  };
}

async function openControl(port: number): Promise<Control> {
  // Its log would only repeat what the report says when the server dies.
  return await connect("127.0.0.1", port, {
    timeout: 30_000,
    log: () => {},
  }) as Control;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
