/**
 * Failures, from what the run saw to what it can show: grouped by kind,
 * their suspects replayed to find the connection that causes each kind, its
 * frames cut down, saved and described.
 *
 * @module
 */

import {
  batchBytes,
  type CloseMode,
  makeBatch,
  type SentFrame,
} from "./_batch.ts";
import { type Outcome, type Replayer, signature } from "./_replay.ts";

/** One kind of failure, as the run saw it and as triage reproduced it. */
export interface Finding {
  kind: "crash" | "unhandled" | "stall";
  /** What the failures of this kind have in common. */
  signature: string;
  /** The first report of it, as printed by the server. */
  line: string;
  /** How many times it happened. */
  count: number;
  /** Frames sent when it first happened. */
  firstAtFrame: number;
  /** Connections open then. */
  suspects: number[];
  /** Whether its suspects were replayed alone. */
  replayed?: boolean;
  /** The connection that reproduced it alone, if one did. */
  connection?: number;
  /** The fewest frames of that connection that still reproduce it. */
  frames?: SentFrame[];
  /** How that connection ended. */
  close?: CloseMode;
  /** Where those frames were saved. */
  file?: string;
}

/** One failure as it happened. */
export type Failure = Omit<Finding, "count" | "firstAtFrame"> & {
  atFrame: number;
  stallMs?: number;
};

/**
 * Groups failures by kind and signature: the worst stall's suspects kept,
 * crashes first, then stalls, then rejections, the most frequent first.
 */
export function group(failures: Failure[]): Finding[] {
  const bySignature = new Map<string, Finding>();
  const worstStall = new Map<Finding, number>();
  for (const failure of failures) {
    const key = `${failure.kind} ${failure.signature}`;
    const known = bySignature.get(key);
    if (known !== undefined) {
      known.count++;
      // Of the stalls, the longest is the one worth replaying.
      if ((failure.stallMs ?? 0) > (worstStall.get(known) ?? Infinity)) {
        worstStall.set(known, failure.stallMs!);
        known.line = failure.line;
        known.suspects = failure.suspects;
      }
      continue;
    }
    const finding: Finding = {
      kind: failure.kind,
      signature: failure.signature,
      line: failure.line,
      count: 1,
      firstAtFrame: failure.atFrame,
      suspects: failure.suspects,
    };
    bySignature.set(key, finding);
    if (failure.stallMs !== undefined) {
      worstStall.set(finding, failure.stallMs);
    }
  }
  // Every stall is one kind: it comes before the many kinds of rejection.
  const rank = { crash: 0, stall: 1, unhandled: 2 };
  return [...bySignature.values()].sort((a, b) =>
    rank[a.kind] - rank[b.kind] || b.count - a.count
  );
}

/** Suspects replayed at once, as one group; a failing group is halved. */
const GROUP = 32;

/**
 * Finds which of a finding's suspects fails alone, the likeliest first:
 * groups of them are replayed at once, a group that fails is halved until
 * one connection is left, which is then cut down to its fewest frames.
 */
export async function reproduce(
  replayer: Replayer,
  seed: number,
  finding: Finding,
  outDir: string | null,
): Promise<void> {
  finding.replayed = true;
  const fails = async (indices: readonly number[]) => {
    const batches = indices.map((index) => makeBatch(seed, index));
    const outcome = await replayer.runAll(
      batches.map((b) => ({ bytes: batchBytes(b.frames), close: b.close })),
    );
    return matches(outcome, finding);
  };
  let culprit: number | undefined;
  for (
    let i = 0;
    i < finding.suspects.length && culprit === undefined;
    i += GROUP
  ) {
    let candidates = finding.suspects.slice(i, i + GROUP);
    if (!await fails(candidates)) continue;
    while (candidates.length > 1) {
      const half = candidates.slice(0, candidates.length >> 1);
      const rest = candidates.slice(candidates.length >> 1);
      if (await fails(half)) candidates = half;
      else if (await fails(rest)) candidates = rest;
      else break; // It takes more than one of them: try each alone.
    }
    for (const index of candidates.slice(0, 8)) {
      // A stall may be the machine's: it must happen twice.
      if (
        await fails([index]) &&
        (finding.kind !== "stall" || await fails([index]))
      ) {
        culprit = index;
        break;
      }
    }
  }
  if (culprit === undefined) return;
  const batch = makeBatch(seed, culprit);
  finding.connection = culprit;
  finding.close = batch.close;
  finding.frames = await replayer.minimize(
    batch.frames,
    finding.signature,
    batch.close,
  );
  if (outDir !== null) {
    await Deno.mkdir(outDir, { recursive: true });
    const name = `${finding.kind}-seed${seed}-conn${culprit}-${batch.close}`;
    const file = `${outDir.replace(/\/$/, "")}/${name}.bin`;
    await Deno.writeFile(file, batchBytes(finding.frames));
    await Deno.writeTextFile(
      `${outDir.replace(/\/$/, "")}/${name}.txt`,
      describeFinding(seed, finding),
    );
    finding.file = file;
  }
}

function matches(outcome: Outcome, finding: Finding): boolean {
  return outcome.seen.some((seen) =>
    seen.kind === finding.kind &&
    (seen.kind === "stall" || signature(seen.line) === finding.signature)
  );
}

/** A finding as text: what failed, how to replay it, and its frames in hex. */
export function describeFinding(seed: number, finding: Finding): string {
  const lines = [
    `${finding.kind}: ${finding.line}`,
    `seen ${finding.count} times, first at frame ${finding.firstAtFrame} (seed ${seed})`,
  ];
  if (finding.connection === undefined) {
    const some = finding.suspects.slice(0, 64);
    lines.push(
      `${
        finding.replayed ? "not reproduced alone by" : "not replayed; suspects:"
      } connections ${some.join(", ")}${
        finding.suspects.length > some.length ? ", …" : ""
      } (one of them: deno task fuzz --seed ${seed} --connection K)`,
    );
    return lines.join("\n") + "\n";
  }
  lines.push(
    `reproduced by connection ${finding.connection} of seed ${seed}; its fewest failing frames:`,
  );
  for (const frame of finding.frames ?? []) {
    lines.push(`  ${frame.label}`);
    lines.push(`    ${hex(frame.bytes)}`);
  }
  if (finding.file !== undefined) {
    lines.push(
      `saved as ${finding.file}; replay: deno task fuzz --replay ${finding.file}`,
    );
  }
  return lines.join("\n") + "\n";
}

function hex(bytes: Uint8Array): string {
  const shown = Array.from(
    bytes.subarray(0, 256),
    (b) => b.toString(16).padStart(2, "0"),
  ).join(" ");
  return bytes.length > 256 ? `${shown} … (${bytes.length} bytes)` : shown;
}
