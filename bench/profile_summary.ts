/**
 * Summarises a V8 `.cpuprofile` (as written by `deno run --cpu-prof`, or by
 * `deno task bench --profile DIR`): the functions with the most self time,
 * and the total time under each of a few functions of interest.
 *
 * ```sh
 * deno run --allow-read bench/profile_summary.ts /tmp/prof/CPU.*.cpuprofile
 * deno run --allow-read bench/profile_summary.ts --top 40 FILE
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  const src = url.indexOf("/src/");
  if (src >= 0 && url.startsWith("file://")) return url.slice(src + 1);
  const npm = url.indexOf("registry.npmjs.org/");
  if (npm >= 0) return "npm:" + url.slice(npm + "registry.npmjs.org/".length);
  const bench = url.indexOf("/bench/");
  if (bench >= 0) return url.slice(bench + 1);
  return url.replace(/^ext:/, "ext:");
}

function nameOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  return url === "" ? name : `${name} ${shortUrl(url)}:${lineNumber + 1}`;
}

/**
 * Self and total time per function.
 *
 * @param profile A parsed `.cpuprofile`.
 * @returns Rows sorted by self time, in microseconds, and the total.
 */
export function summarise(profile: Profile): {
  total: number;
  rows: { name: string; self: number; inclusive: number }[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    let id: number | undefined = profile.samples[i];
    const leaf = byId.get(id)!;
    self.set(nameOf(leaf), (self.get(nameOf(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    while (id !== undefined) {
      const name = nameOf(byId.get(id)!);
      if (!seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  const rows = [...self.keys(), ...inclusive.keys()]
    .filter((name, i, all) => all.indexOf(name) === i)
    .map((name) => ({
      name,
      self: self.get(name) ?? 0,
      inclusive: inclusive.get(name) ?? 0,
    }))
    .sort((a, b) => b.self - a.self);
  return { total, rows };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "25" },
      inclusive: { type: "boolean", default: false },
    },
  });
  const top = Number(values.top);
  for (const file of positionals) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
    const { total, rows } = summarise(profile);
    const idle = rows.find((r) => r.name === "(idle)")?.self ?? 0;
    console.log(
      `\n${file}: ${(total / 1e6).toFixed(2)} s sampled, ${
        ((total - idle) / 1e6).toFixed(2)
      } s busy`,
    );
    const sorted = values.inclusive
      ? [...rows].sort((a, b) => b.inclusive - a.inclusive)
      : rows;
    console.log("  self%  incl%  function");
    for (const row of sorted.slice(0, top)) {
      if (row.name === "(idle)" || row.name === "(root)") continue;
      const pct = (us: number) =>
        (100 * us / Math.max(1, total - idle)).toFixed(1).padStart(5);
      console.log(`  ${pct(row.self)}  ${pct(row.inclusive)}  ${row.name}`);
    }
  }
}
