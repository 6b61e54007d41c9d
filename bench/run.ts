/**
 * `deno task bench`: netref side by side with the floor (a raw
 * length-prefixed TCP echo), Python RPyC, capnweb, birpc and gRPC, in the
 * same run, in these scenarios:
 *
 * 1. sequential small call, `await root.foo()`;
 * 2. a 1 KiB and a 1 MiB `Uint8Array` echoed back;
 * 3. a call whose handler calls a client callback once;
 * 4. 100 calls in flight on one connection;
 * 5. streams: small items one way through `for await`, and a 256 MiB byte
 *    stream (netref, the floor and gRPC server streaming);
 * 6. 1,000 client connections calling at once (and the server's memory);
 * 7. ref churn: 100,000 remote objects created and released;
 * 8. the server's memory while a client reads a stream one item a
 *    millisecond.
 *
 * The sequential call and 100 in flight also run with `openTelemetry()` on
 * both sides, with and without an SDK provider registered: what tracing
 * costs.
 *
 * On the RPyC wire, the calls also run with netref on one side of Python
 * RPyC: Python's client against netref's `serve()`, and `connectRpyc()`
 * against Python's `ThreadedServer`, each over RPyC on both sides.
 *
 * Servers and clients are separate processes pinned with `taskset`; the
 * sequential call runs with both on one CPU and on different CPUs, the rest
 * on different CPUs. Systems alternate round by round. The markdown goes to
 * stdout, progress to stderr, and everything as JSON into `bench/results/`.
 *
 * ```sh
 * deno task bench                              # the full run, about 5 minutes
 * deno task bench --quick                      # every scenario, small and short
 * deno task bench --scenario call,inflight --systems netref,echo
 * deno task bench --scenario inflight --profile /tmp/prof   # netref --cpu-prof
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  CALL_SYSTEMS,
  ECHO_PAYLOAD_BYTES,
  FLOOR_BATCH_ITEMS,
  HEADER_BYTES,
  isScenario,
  isSystem,
  type Loop,
  LOOPS,
  PYTHON_CLIENTS,
  PYTHON_SERVERS,
  type Scenario,
  SCENARIOS,
  type System,
  SYSTEMS,
} from "./_common.ts";
import {
  fileLimit,
  findRpyc,
  NEEDED_FILES,
  prepareDeno,
  stopAll,
} from "./_children.ts";
import { allowedCpus, cpuModel, hasTaskset, loadAverage } from "./_machine.ts";
import { loopPhase, type PhaseSettings, type Placement } from "./_phases.ts";
import { churnPhase, connsPhase, slowPhase } from "./_memory_phases.ts";
import {
  type Absences,
  type RunResults,
  tables,
  type Target,
  targets,
  targetTable,
} from "./_report.ts";

const RESULTS = new URL("results/", import.meta.url).pathname;
/** The bench's config, whose import map pins every library it compares. */
const DENO_JSON = new URL("./deno.json", import.meta.url).pathname;

/** Systems that can run each scenario. */
const APPLIES: Record<Scenario, readonly System[]> = {
  call: [...CALL_SYSTEMS, "otelNoop", "otel"],
  bytes1k: CALL_SYSTEMS,
  bytes1m: CALL_SYSTEMS,
  // The echo's is two round trips; gRPC unary calls cannot call back.
  callback: CALL_SYSTEMS.filter((system) => system !== "grpc"),
  inflight: [...CALL_SYSTEMS, "otelNoop", "otel"],
  // Streams: the floor, and gRPC's server streaming.
  items: ["netref", "echo", "grpc"],
  bytes256m: ["netref", "echo", "grpc"],
  conns: ["netref", "echo", "rpyc", "capnweb", "birpc", "grpc"],
  // Only these have remote objects.
  churn: ["netref", "rpyc", "capnweb"],
  slow: ["netref"],
};

/** Systems with Python RPyC on one side or both. */
const RPYC_SYSTEMS: readonly System[] = [
  ...new Set([...PYTHON_SERVERS, ...PYTHON_CLIENTS]),
];

interface Settings {
  scenarios: Scenario[];
  systems: System[];
  rounds: number;
  roundMs: number;
  warmupMs: number;
  connections: number;
  objects: number;
  slowMs: number;
  profileDir: string | null;
  /** A saved run to print again instead of running. */
  report: string | null;
}

function list<T extends string>(
  text: string,
  check: (value: unknown) => value is T,
  what: string,
  all: Record<T, unknown>,
): T[] {
  const values = text.split(",").map((v) => v.trim()).filter((v) => v !== "");
  for (const value of values) {
    if (!check(value)) {
      throw new TypeError(
        `Cannot run ${what} '${value}': expected one of ${
          Object.keys(all).join(", ")
        }`,
      );
    }
  }
  return values as T[];
}

function integer(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot use --${name} ${text}: expected ${min} to ${max}`,
    );
  }
  return value;
}

function parseSettings(args: string[]): Settings {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: "string", default: Object.keys(SCENARIOS).join(",") },
      systems: { type: "string", default: Object.keys(SYSTEMS).join(",") },
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      "round-ms": { type: "string" },
      "warmup-ms": { type: "string" },
      connections: { type: "string" },
      objects: { type: "string" },
      "slow-ms": { type: "string" },
      profile: { type: "string" },
      report: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      [
        "usage: deno task bench [options]",
        "  --scenario LIST    some of: " + Object.keys(SCENARIOS).join(","),
        "  --systems LIST     some of: " + Object.keys(SYSTEMS).join(","),
        "  --quick            1 round of 300 ms, 200 connections, 10,000 objects, 1 s slow read",
        "  --rounds N         alternating rounds per loop (default 5)",
        "  --round-ms MS      length of a round (default 800)",
        "  --warmup-ms MS     warm-up per system and loop (default 500)",
        "  --connections N    connections of the conns scenario (default 1000)",
        "  --objects N        objects of the churn scenario (default 100000)",
        "  --slow-ms MS       how long the slow scenario reads (default 3000)",
        "  --profile DIR      run netref's processes (on either wire) with --cpu-prof into DIR",
        "  --report FILE      print the markdown of a saved run (bench/results/*.json) again",
      ].join("\n"),
    );
    Deno.exit(0);
  }
  const quick = values.quick;
  return {
    scenarios: list(values.scenario, isScenario, "scenario", SCENARIOS),
    systems: list(values.systems, isSystem, "system", SYSTEMS),
    rounds: integer(values.rounds ?? (quick ? "1" : "5"), "rounds", 1, 100),
    roundMs: integer(
      values["round-ms"] ?? (quick ? "300" : "800"),
      "round-ms",
      10,
      30_000,
    ),
    warmupMs: integer(
      values["warmup-ms"] ?? (quick ? "200" : "500"),
      "warmup-ms",
      10,
      30_000,
    ),
    connections: integer(
      values.connections ?? (quick ? "200" : "1000"),
      "connections",
      2,
      3000,
    ),
    objects: integer(
      values.objects ?? (quick ? "10000" : "100000"),
      "objects",
      100,
      10_000_000,
    ),
    slowMs: integer(
      values["slow-ms"] ?? (quick ? "1000" : "3000"),
      "slow-ms",
      100,
      60_000,
    ),
    profileDir: values.profile ?? null,
    report: values.report ?? null,
  };
}

async function placements(): Promise<
  { pinning: string; same: Placement; cross: Placement | null }
> {
  const cpus = await allowedCpus();
  if (!(await hasTaskset()) || cpus.length === 0) {
    return {
      pinning: cpus.length === 0
        ? "allowed CPUs unknown: processes run unpinned"
        : "taskset not found: processes run unpinned",
      same: { name: "unpinned", server: null, client: null },
      cross: null,
    };
  }
  const [a, b] = cpus;
  if (b === undefined) {
    return {
      pinning: `only CPU ${a} is allowed: everything runs on it`,
      same: { name: `same CPU (${a}, ${a})`, server: a, client: a },
      cross: null,
    };
  }
  return {
    pinning:
      `taskset: servers on CPU ${a}; clients on CPU ${a} (same CPU) or ${b} (different CPUs)`,
    same: { name: `same CPU (${a}, ${a})`, server: a, client: a },
    cross: { name: `different CPUs (${a}, ${b})`, server: a, client: b },
  };
}

async function libraryVersions(): Promise<Record<string, string>> {
  try {
    const config = JSON.parse(await Deno.readTextFile(DENO_JSON));
    const imports = config.imports as Record<string, string>;
    const out: Record<string, string> = {};
    for (
      const name of [
        "msgpackr/",
        "capnweb",
        "birpc",
        "@grpc/grpc-js",
        "@opentelemetry/sdk-trace-base",
        "@opentelemetry/sdk-metrics",
      ]
    ) {
      if (imports[name] !== undefined) out[name] = imports[name];
    }
    return out;
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const settings = parseSettings(Deno.args);
  if (settings.report !== null) return await reportSaved(settings.report);
  const started = performance.now();
  const date = new Date();
  const log = (line: string) => console.error(line);
  const absent: Absences = {};
  let systems = settings.systems;
  let rpycVersion: string | null = null;
  // Python RPyC is one side or both of these: without it, none can run.
  const python = systems.filter((s) => RPYC_SYSTEMS.includes(s));
  if (python.length > 0) {
    const found = await findRpyc();
    if ("missing" in found) {
      for (const system of python) absent[system] = `missing: ${found.missing}`;
      systems = systems.filter((s) => !python.includes(s));
      log(`RPyC: missing: ${found.missing}; not run: ${python.join(", ")}`);
    } else {
      rpycVersion = found.version;
    }
  }
  if (systems.some((s) => s !== "rpyc")) await prepareDeno();
  const limit = await fileLimit();
  const { pinning, same, cross } = await placements();
  const phase: PhaseSettings = {
    rounds: settings.rounds,
    roundMs: settings.roundMs,
    warmupMs: settings.warmupMs,
    raiseFileLimit: limit < NEEDED_FILES,
    profileDir: settings.profileDir,
    log,
  };
  if (settings.profileDir !== null) {
    await Deno.mkdir(settings.profileDir, { recursive: true });
  }
  const header = {
    date: date.toISOString(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    cpu: await cpuModel(),
    logicalCpus: navigator.hardwareConcurrency,
    loadAverageBefore: await loadAverage(),
    pinning,
    fileLimit: limit,
    rpyc: rpycVersion,
    libraries: await libraryVersions(),
    settings,
  };
  const results: RunResults = {
    systems,
    absent,
    loops: [],
    conns: [],
    churn: [],
    slow: [],
  };
  const wanted = (scenario: Scenario) =>
    settings.scenarios.includes(scenario)
      ? APPLIES[scenario].filter((s) => systems.includes(s))
      : [];
  const loops = (Object.keys(LOOPS) as Loop[])
    .map((loop) => ({ loop, systems: wanted(loop) }))
    .filter((entry) => entry.systems.length > 0);
  const crossLoops = cross === null ? [] : loops;
  const sameLoops = cross === null
    ? loops
    : loops.filter((l) => l.loop === "call");
  const busy = cross ?? same;
  if (sameLoops.length > 0) {
    log(`Loops, ${same.name}`);
    results.loops.push(...await loopPhase(same, sameLoops, phase));
  }
  if (crossLoops.length > 0) {
    log(`Loops, ${cross!.name}`);
    results.loops.push(...await loopPhase(cross!, crossLoops, phase));
  }
  results.loops.sort((a, b) =>
    Object.keys(LOOPS).indexOf(a.loop) - Object.keys(LOOPS).indexOf(b.loop)
  );
  for (const system of wanted("conns")) {
    log(`${settings.connections} connections, ${system}, ${busy.name}`);
    try {
      results.conns.push(
        await connsPhase(system, settings.connections, busy, phase),
      );
    } catch (error) {
      results.conns.push({ system, error: String(error) });
      log(`  ${system}: ${String(error)}`);
    }
  }
  for (const system of wanted("churn")) {
    log(`Ref churn, ${system}, ${busy.name}`);
    try {
      results.churn.push(
        await churnPhase(system, settings.objects, busy, phase),
      );
    } catch (error) {
      results.churn.push({ system, error: String(error) });
      log(`  ${system}: ${String(error)}`);
    }
  }
  for (const system of wanted("slow")) {
    log(`Slow stream reader, ${system}, ${busy.name}`);
    try {
      results.slow.push(
        await slowPhase(system, settings.slowMs, busy, phase),
      );
    } catch (error) {
      results.slow.push({ system, error: String(error) });
      log(`  ${system}: ${String(error)}`);
    }
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  const record: RunRecord = {
    ...header,
    seconds,
    loadAverageAfter: await loadAverage(),
    ...results,
    targets: [],
  };
  record.targets = targets(record);
  console.log(markdown(record));
  await Deno.mkdir(RESULTS, { recursive: true });
  const name = `${header.date.slice(0, 19).replaceAll(":", "-")}Z.json`;
  await Deno.writeTextFile(
    RESULTS + name,
    JSON.stringify(record, null, 2) + "\n",
  );
  console.log(`\nJSON: bench/results/${name}`);
}

/** What a run saves in `bench/results/`: its setting, figures and targets. */
interface RunRecord extends RunResults {
  date: string;
  deno: string;
  v8: string;
  os: string;
  cpu: string;
  logicalCpus: number;
  loadAverageBefore: string;
  pinning: string;
  rpyc: string | null;
  libraries: Record<string, string>;
  settings: Settings;
  seconds: number;
  loadAverageAfter: string;
  targets: Target[];
}

/** The markdown of a run: its setting, its tables and its targets. */
function markdown(record: RunRecord): string {
  const { settings, libraries } = record;
  return [
    "## netref benchmark",
    "",
    `- date: ${record.date}; took ${record.seconds} s`,
    `- deno ${record.deno} (V8 ${record.v8}), ${record.os}; ${record.cpu}, ${record.logicalCpus} logical CPUs; load average ${record.loadAverageBefore} before, ${record.loadAverageAfter} after`,
    `- ${record.pinning}`,
    `- ${settings.rounds} alternating rounds of ${settings.roundMs} ms per system after ${settings.warmupMs} ms of warm-up; medians`,
    `- references: raw echo (frames of ${HEADER_BYTES}+${ECHO_PAYLOAD_BYTES} bytes, or the payload's size; the callback row is two round trips), RPyC ${
      record.rpyc ??
        (record.absent.rpyc !== undefined ? "(missing)" : "(not run)")
    } (its ThreadedServer and client, /usr/bin/python3), ${
      Object.entries(libraries).filter(([k]) =>
        k !== "msgpackr/" && !k.startsWith("@opentelemetry/")
      ).map(([, v]) => v).join(", ")
    }; capnweb and birpc on our length-prefixed TCP framing with msgpackr; the minimal RPC (bench/_minimal.ts): msgpackr messages, a promise per call, nothing else; the streams' floor: frames of ${FLOOR_BATCH_ITEMS} msgpack integers, or raw bytes`,
    `- tracing rows: ${
      Object.entries(libraries).filter(([k]) => k.startsWith("@opentelemetry/"))
        .map(([, v]) => v).join(", ")
    }, with a span exporter that drops and a metric reader never read`,
    "",
    tables(record),
    "",
    targetTable(record.targets),
  ].join("\n");
}

/**
 * `--report FILE`: the markdown of a saved run again, its targets judged by
 * this version of the report (when a target changes, the figures of record
 * need not be measured again).
 */
async function reportSaved(file: string): Promise<void> {
  const record = JSON.parse(await Deno.readTextFile(file)) as RunRecord;
  record.targets = targets(record);
  console.log(markdown(record));
  console.log(`\nJSON: ${file}`);
}

if (import.meta.main) {
  const interrupt = () => {
    stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", interrupt);
  try {
    await main();
  } catch (error) {
    console.error(error);
    Deno.exitCode = 1;
  } finally {
    await stopAll();
    Deno.removeSignalListener("SIGINT", interrupt);
  }
}
