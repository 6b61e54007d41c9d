/**
 * The per-call CPU budget of a `.cpuprofile`: self time per function,
 * grouped into the stages of a call (proxy, pending-call record, encode,
 * framing, writes, reads, decode, dispatch, promises, runtime), divided by
 * the calls the profiled process made.
 *
 * ```sh
 * deno run --allow-read bench/profile_stages.ts CALLS SERVER.cpuprofile CLIENT.cpuprofile
 * ```
 *
 * Prints one markdown column of µs per call for each profile given.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The stages, in the order of a call's path. */
export const STAGES = [
  "proxy trap, path, caller stack",
  "pending-call record",
  "session (request, onFrame, keepAlive)",
  "encode",
  "frame assembly",
  "write coalescing (writer)",
  "write op (syscall)",
  "read op (syscall)",
  "read and frame split",
  "decode",
  "dispatch, exposure, answer",
  "streams hooks",
  "promises, microtasks, event loop",
  "clock, timers, ref/unref",
  "garbage collector",
  "(program)",
  "runtime, other",
  "bench loop",
] as const;

/** A stage of the call path. */
export type Stage = typeof STAGES[number];

/**
 * The stage a function's self time belongs to.
 *
 * @param name The function name.
 * @param url Its script.
 * @returns The stage, or null for idle time.
 */
export function stageOf(name: string, url: string): Stage | null {
  const file = url.replace(/^.*\/(src|bench)\//, "$1/");
  if (name === "(idle)") return null;
  if (name === "(program)") return "(program)";
  if (name === "(garbage collector)") return "garbage collector";
  if (
    name === "op_write" || (name === "write" && url.includes("deno_net"))
  ) return "write op (syscall)";
  if (
    name === "op_read" || (name === "read" && url.includes("deno_net")) ||
    file.startsWith("src/transport/")
  ) return "read op (syscall)";
  if (file.startsWith("bench/")) return "bench loop";
  if (
    /^src\/core\/(proxy|proxy_state|proxy_names|send|caller_stack)\.ts/.test(
      file,
    )
  ) {
    return "proxy trap, path, caller stack";
  }
  if (/^src\/core\/(pending_call|id_slots)\.ts/.test(file)) {
    return "pending-call record";
  }
  if (
    /^src\/protocol\/(codec|bare)\.ts|^src\/core\/outbound\.ts|msgpackr.*pack\.js|internal\/buffer\.mjs/
      .test(file)
  ) return "encode";
  if (
    file === "src/protocol/frame.ts" && /encodeFrame|frameLength/.test(name)
  ) {
    return "frame assembly";
  }
  if (file === "src/core/writer.ts") return "write coalescing (writer)";
  if (
    /^src\/(core\/reader|protocol\/frame|core\/frame_deadline)\.ts/.test(file)
  ) {
    return "read and frame split";
  }
  if (/^src\/protocol\/(scan|build)\.ts|unpack\.js/.test(file)) return "decode";
  if (
    /^src\/core\/(dispatch|exposure|members|context|intercept|intercepted|params|awaiting)\.ts/
      .test(file)
  ) return "dispatch, exposure, answer";
  if (/^src\/core\/(session|inbound)\.ts/.test(file)) {
    return "session (request, onFrame, keepAlive)";
  }
  if (/^src\/core\/stream/.test(file)) return "streams hooks";
  if (
    /Promise|resolvePromise|setPromise|async_op|icrotask|__eventLoopTick/.test(
      name,
    )
  ) return "promises, microtasks, event loop";
  if (
    /op_now|^now$|ref|unref|Timer|Timeout/.test(name) ||
    url.includes("15_performance") || url.includes("timers")
  ) return "clock, timers, ref/unref";
  return "runtime, other";
}

/**
 * Self time per stage, in µs per call.
 *
 * @param profile A parsed `.cpuprofile`.
 * @param calls The calls the process made while it was profiled.
 * @returns µs per call by stage.
 */
export function stagesPerCall(
  profile: Profile,
  calls: number,
): Map<Stage, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const stages = new Map<Stage, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const { functionName, url } = byId.get(profile.samples[i])!.callFrame;
    const stage = stageOf(functionName || "(anonymous)", url);
    if (stage === null) continue;
    stages.set(stage, (stages.get(stage) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  for (const [stage, us] of stages) stages.set(stage, us / calls);
  return stages;
}

if (import.meta.main) {
  const [calls, ...files] = Deno.args;
  const columns: Map<Stage, number>[] = [];
  for (const file of files) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
    columns.push(stagesPerCall(profile, Number(calls)));
  }
  console.log(
    `| stage | ${files.map((_, i) => `profile ${i + 1}`).join(" | ")} |`,
  );
  console.log(`| --- | ${files.map(() => "---:").join(" | ")} |`);
  const totals = files.map(() => 0);
  for (const stage of STAGES) {
    const row = columns.map((column) => column.get(stage) ?? 0);
    row.forEach((us, i) => totals[i] += us);
    console.log(`| ${stage} | ${row.map((us) => us.toFixed(3)).join(" | ")} |`);
  }
  console.log(
    `| busy in the profile | ${
      totals.map((us) => us.toFixed(2)).join(" | ")
    } |`,
  );
}
