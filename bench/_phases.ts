/**
 * The timed loops of a benchmark run (every system, rounds alternating),
 * and what the other phases share: placements, settings, starting and
 * stopping a server and its client.
 *
 * @module
 */

import type { Loop, LoopReply, System } from "./_common.ts";
import {
  type Child,
  cpuOf,
  type SpawnOptions,
  startClient,
  startServer,
} from "./_children.ts";

/** Time allowed on top of a loop's length for its answer to arrive. */
const REPLY_SLACK_MS = 30_000;

/** Where the server and the client run: CPU numbers, or null unpinned. */
export interface Placement {
  name: string;
  server: number | null;
  client: number | null;
}

/** One system's figures in one loop. */
export interface SystemFigures {
  /** Calls per second of each round, in the order run. */
  rounds: number[];
  /** Their median. */
  median: number;
  /** The server's CPU microseconds per call, each round. */
  serverCpuUs: number[];
  /** The client's CPU microseconds per call, each round. */
  clientCpuUs: number[];
}

/** One round of one system: its rate and CPU cost per call. */
interface Round {
  perSecond: number;
  serverCpuUs: number;
  clientCpuUs: number;
}

/** One loop under one placement: each system's figures, or why there are none. */
export interface LoopResult {
  loop: Loop;
  placement: string;
  serverCpu: number | null;
  clientCpu: number | null;
  figures: Partial<Record<System, SystemFigures | { error: string }>>;
}

/** How one phase runs. */
export interface PhaseSettings {
  rounds: number;
  roundMs: number;
  warmupMs: number;
  raiseFileLimit: boolean;
  profileDir: string | null;
  log: (line: string) => void;
}

function spawnOptions(
  cpu: number | null,
  settings: PhaseSettings,
): SpawnOptions {
  return {
    cpu,
    raiseFileLimit: settings.raiseFileLimit,
    profileDir: settings.profileDir,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A server and a client of one system. */
export interface Pair {
  server: Child;
  client: Child;
}

export async function startPair(
  system: System,
  placement: Placement,
  settings: PhaseSettings,
): Promise<Pair> {
  const { child: server, port } = await startServer(
    system,
    spawnOptions(placement.server, settings),
  );
  try {
    const client = await startClient(
      system,
      port,
      spawnOptions(placement.client, settings),
    );
    return { server, client };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export async function stopPair(pair: Pair): Promise<void> {
  // The client first, so that the server sees its connections close.
  await pair.client.stop();
  await pair.server.stop();
}

export async function runLoop(
  pair: Pair,
  loop: Loop,
  ms: number,
): Promise<Round> {
  const serverBefore = await cpuOf(pair.server);
  const reply = await pair.client.ask(
    { op: "loop", loop, ms },
    ms + REPLY_SLACK_MS,
  ) as unknown as LoopReply;
  const serverMs = await cpuOf(pair.server) - serverBefore;
  if (
    typeof reply.calls !== "number" || typeof reply.ms !== "number" ||
    typeof reply.cpuMs !== "number"
  ) {
    throw new Error(`${pair.client.label} sent ${JSON.stringify(reply)}`);
  }
  return {
    perSecond: reply.calls / (reply.ms / 1000),
    serverCpuUs: serverMs * 1000 / reply.calls,
    clientCpuUs: reply.cpuMs * 1000 / reply.calls,
  };
}

/**
 * The median of `values`.
 *
 * @param values Numbers, at least one.
 * @returns Their median.
 */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs timed loops under one placement: every system's server and client
 * run at once; each round runs every system once, in an order that rotates
 * from round to round, so that drift and noise hit all alike.
 *
 * @param placement Where servers and clients run.
 * @param loops The loops, each with the systems that can run it.
 * @param settings Rounds, their length, warm-up.
 * @returns One result per loop.
 */
export async function loopPhase(
  placement: Placement,
  loops: { loop: Loop; systems: System[] }[],
  settings: PhaseSettings,
): Promise<LoopResult[]> {
  const needed = [...new Set(loops.flatMap((entry) => entry.systems))];
  const pairs = new Map<System, Pair>();
  const failed = new Map<System, string>();
  await Promise.all(needed.map(async (system) => {
    try {
      pairs.set(system, await startPair(system, placement, settings));
    } catch (error) {
      failed.set(system, `did not start: ${message(error)}`);
      settings.log(`  ${system}: did not start: ${message(error)}`);
    }
  }));
  const results: LoopResult[] = [];
  try {
    for (const { loop, systems } of loops) {
      const rounds = new Map<System, Round[]>();
      const errors = new Map<System, string>(
        systems.filter((s) => failed.has(s)).map((s) => [s, failed.get(s)!]),
      );
      const live = () => systems.filter((s) => pairs.has(s) && !errors.has(s));
      for (const system of live()) {
        rounds.set(system, []);
        try {
          await runLoop(pairs.get(system)!, loop, settings.warmupMs);
        } catch (error) {
          errors.set(system, message(error));
        }
      }
      for (let round = 0; round < settings.rounds; round++) {
        const order = live();
        const shift = round % Math.max(1, order.length);
        const rotated = [...order.slice(shift), ...order.slice(0, shift)];
        for (const system of rotated) {
          try {
            rounds.get(system)!.push(
              await runLoop(pairs.get(system)!, loop, settings.roundMs),
            );
          } catch (error) {
            errors.set(system, message(error));
          }
        }
        settings.log(
          `  ${placement.name}, ${loop}, round ${
            round + 1
          }/${settings.rounds}: ${
            rotated.filter((s) => !errors.has(s)).map((s) =>
              `${s} ${
                Math.round(rounds.get(s)!.at(-1)!.perSecond).toLocaleString(
                  "en-US",
                )
              }/s`
            ).join(", ")
          }`,
        );
      }
      const figures: LoopResult["figures"] = {};
      for (const system of systems) {
        const error = errors.get(system);
        const values = rounds.get(system);
        if (error !== undefined) {
          figures[system] = { error };
          settings.log(`  ${placement.name}, ${loop}, ${system}: ${error}`);
        } else if (values !== undefined && values.length > 0) {
          const round2 = (x: number) => Math.round(x * 100) / 100;
          figures[system] = {
            rounds: values.map((r) => Math.round(r.perSecond)),
            median: Math.round(median(values.map((r) => r.perSecond))),
            serverCpuUs: values.map((r) => round2(r.serverCpuUs)),
            clientCpuUs: values.map((r) => round2(r.clientCpuUs)),
          };
        }
      }
      results.push({
        loop,
        placement: placement.name,
        serverCpu: placement.server,
        clientCpu: placement.client,
        figures,
      });
    }
  } finally {
    await Promise.all([...pairs.values()].map(stopPair));
  }
  return results;
}
