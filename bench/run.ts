/**
 * `deno task bench`: sequential netref calls per second, side by side with
 * the floor, a raw length-prefixed TCP echo of a frame the size of a netref
 * request, in the same run.
 *
 * Servers and clients run in separate processes (`_servers.ts`,
 * `_client.ts`), pinned with `taskset` twice: all on one CPU, and server and
 * client on different CPUs, because a loopback round trip costs more across
 * CPUs (1.5x to 5x, depending on the machine). netref and echo rounds
 * alternate, so that noise hits both; the medians and their ratio are
 * printed as a markdown table and written as JSON into `bench/results/`.
 *
 * ```sh
 * deno task bench                                  # the full run, about 70 s
 * deno task bench --rounds 3 --round-ms 500 --scenario call   # a quick look
 * ```
 *
 * @module
 */

import { parseArgs } from "cli";
import {
  ECHO_PAYLOAD_BYTES,
  HEADER_BYTES,
  isScenario,
  LineReader,
  type RunReply,
  type RunRequest,
  type Scenario,
  SCENARIOS,
} from "./_common.ts";
import { allowedCpus, cpuModel, hasTaskset } from "./_machine.ts";

const ROOT = new URL("../", import.meta.url);
const SERVERS = new URL("_servers.ts", import.meta.url).pathname;
const CLIENT = new URL("_client.ts", import.meta.url).pathname;
const RESULTS = new URL("results/", import.meta.url).pathname;
/** Time allowed for a child to start (compile, connect) and print its line. */
const START_MS = 30_000;
/** Time allowed on top of a round's length for its reply to arrive. */
const REPLY_SLACK_MS = 15_000;
/** Time a child gets to exit on its own once its stdin is closed. */
const EXIT_MS = 2_000;
const SIDES = ["netref", "echo"] as const;
type Side = typeof SIDES[number];

/** Where the server and the client run: CPU numbers, or null unpinned. */
interface Placement {
  name: string;
  server: number | null;
  client: number | null;
}

/** The figures of one scenario under one placement. */
interface Result {
  scenario: Scenario;
  placement: string;
  serverCpu: number | null;
  clientCpu: number | null;
  /** Round trips per second of each round, in the order run. */
  netrefRounds: number[];
  echoRounds: number[];
  netrefMedian: number;
  echoMedian: number;
  /** netrefMedian / echoMedian. */
  ratio: number;
  /** Median of each round's netref / echo: less sensitive to drift. */
  pairedRatio: number;
  /** Microseconds netref adds to each round trip over the echo (medians). */
  overheadMicros: number;
}

/** A running child process and its stdout lines. */
interface Child {
  label: string;
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  lines: LineReader;
}

const children = new Set<Child>();
const encoder = new TextEncoder();

function spawn(label: string, cpu: number | null, args: string[]): Child {
  const deno = [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--allow-net=127.0.0.1",
    ...args,
  ];
  const [command, ...rest] = cpu === null
    ? deno
    : ["taskset", "-c", String(cpu), ...deno];
  const process = new Deno.Command(command, {
    args: rest,
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const child: Child = {
    label,
    process,
    stdin: process.stdin.getWriter(),
    lines: new LineReader(process.stdout),
  };
  children.add(child);
  return child;
}

async function readJson(child: Child, timeoutMs: number): Promise<unknown> {
  const line = await child.lines.next(timeoutMs);
  if (line === null) throw new Error(`${child.label} exited unexpectedly`);
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${child.label} printed ${JSON.stringify(line)}`);
  }
}

async function startServer(side: Side, cpu: number | null): Promise<number> {
  const child = spawn(`${side} server`, cpu, [SERVERS, side]);
  const { port } = await readJson(child, START_MS) as { port?: unknown };
  if (typeof port !== "number") {
    throw new Error(`${child.label} did not print its port`);
  }
  return port;
}

async function run(
  client: Child,
  scenario: Scenario,
  ms: number,
): Promise<number> {
  const request: RunRequest = { scenario, ms };
  await client.stdin.write(encoder.encode(JSON.stringify(request) + "\n"));
  const reply = await readJson(client, ms + REPLY_SLACK_MS) as RunReply;
  if (typeof reply.calls !== "number" || typeof reply.ms !== "number") {
    throw new Error(`${client.label} sent ${JSON.stringify(reply)}`);
  }
  return reply.calls / (reply.ms / 1000);
}

/** Ends a child: closes its stdin, then kills it if it lingers. */
async function stop(child: Child): Promise<void> {
  children.delete(child);
  try {
    await child.stdin.close();
  } catch {
    // Its stdin is already gone: so is the child, or it soon will be.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    child.process.status.then(() => true),
    new Promise<false>((resolve) =>
      timer = setTimeout(resolve, EXIT_MS, false)
    ),
  ]);
  clearTimeout(timer);
  if (!exited) {
    try {
      child.process.kill("SIGKILL");
    } catch {
      // It exited between the check and the kill.
    }
    await child.process.status;
  }
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stop));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

interface Settings {
  scenarios: Scenario[];
  rounds: number;
  roundMs: number;
  warmupMs: number;
}

/** Runs every scenario under one placement, netref and echo alternating. */
async function measure(
  placement: Placement,
  settings: Settings,
): Promise<Result[]> {
  const ports = {
    netref: await startServer("netref", placement.server),
    echo: await startServer("echo", placement.server),
  };
  const clients = {
    netref: spawn("netref client", placement.client, [
      CLIENT,
      "netref",
      String(ports.netref),
    ]),
    echo: spawn("echo client", placement.client, [
      CLIENT,
      "echo",
      String(ports.echo),
    ]),
  };
  const results: Result[] = [];
  for (const scenario of settings.scenarios) {
    const rounds = { netref: [] as number[], echo: [] as number[] };
    for (const side of SIDES) {
      await run(clients[side], scenario, settings.warmupMs);
    }
    for (let round = 0; round < settings.rounds; round++) {
      // Alternate which side goes first, so that a drift favours neither.
      const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
      for (const side of order) {
        rounds[side].push(
          await run(clients[side], scenario, settings.roundMs),
        );
      }
      console.error(
        `  ${placement.name}, ${scenario}, round ${
          round + 1
        }/${settings.rounds}: netref ${format(rounds.netref[round])}/s, echo ${
          format(rounds.echo[round])
        }/s`,
      );
    }
    const netrefMedian = median(rounds.netref);
    const echoMedian = median(rounds.echo);
    results.push({
      scenario,
      placement: placement.name,
      serverCpu: placement.server,
      clientCpu: placement.client,
      netrefRounds: rounds.netref.map(Math.round),
      echoRounds: rounds.echo.map(Math.round),
      netrefMedian: Math.round(netrefMedian),
      echoMedian: Math.round(echoMedian),
      ratio: Number((netrefMedian / echoMedian).toFixed(3)),
      pairedRatio: Number(
        median(rounds.netref.map((n, i) => n / rounds.echo[i])).toFixed(3),
      ),
      overheadMicros: Number(
        (1e6 / netrefMedian - 1e6 / echoMedian).toFixed(1),
      ),
    });
  }
  await stopAll();
  return results;
}

function format(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "5" },
      "round-ms": { type: "string", default: "1500" },
      "warmup-ms": { type: "string", default: "1000" },
      scenario: { type: "string", default: Object.keys(SCENARIOS).join(",") },
    },
  });
  const settings = {
    rounds: Number(values.rounds),
    roundMs: Number(values["round-ms"]),
    warmupMs: Number(values["warmup-ms"]),
    scenarios: values.scenario.split(","),
  };
  if (!Number.isInteger(settings.rounds) || settings.rounds < 1) {
    throw new RangeError(
      `Cannot run ${values.rounds} rounds: expected 1 or more`,
    );
  }
  for (const key of ["roundMs", "warmupMs"] as const) {
    if (!(settings[key] >= 10 && settings[key] <= 30_000)) {
      throw new RangeError(
        `Cannot use ${key} ${settings[key]}: expected 10 to 30000`,
      );
    }
  }
  for (const scenario of settings.scenarios) {
    if (!isScenario(scenario)) {
      throw new TypeError(
        `Cannot run scenario '${scenario}': expected one of ${
          Object.keys(SCENARIOS).join(", ")
        }`,
      );
    }
  }
  return settings as Settings;
}

function table(results: Result[]): string {
  const lines = [
    "| scenario | placement | netref calls/s | raw echo round trips/s | ratio | netref overhead (µs/call) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    lines.push(
      `| ${SCENARIOS[r.scenario]} | ${r.placement} | ${
        format(r.netrefMedian)
      } | ${format(r.echoMedian)} | ${r.ratio.toFixed(2)} | ${
        r.overheadMicros.toFixed(1)
      } |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const settings = parseSettings();
  const date = new Date();
  const cpus = await allowedCpus();
  const taskset = await hasTaskset();
  const placements: Placement[] = [];
  let pinning: string;
  if (!taskset || cpus.length === 0) {
    pinning = taskset
      ? "allowed CPUs unknown: processes run unpinned"
      : "taskset not found: processes run unpinned";
    placements.push({ name: "unpinned", server: null, client: null });
  } else if (cpus.length === 1) {
    pinning = `only CPU ${cpus[0]} is allowed: one placement`;
    const cpu = cpus[0];
    placements.push({ name: `same CPU (${cpu})`, server: cpu, client: cpu });
  } else {
    const [a, b] = cpus;
    pinning =
      `taskset: server on CPU ${a}, client on CPU ${a} or ${b} (placement shows server, client)`;
    placements.push(
      { name: `same CPU (${a}, ${a})`, server: a, client: a },
      { name: `different CPUs (${a}, ${b})`, server: a, client: b },
    );
  }
  const header = {
    date: date.toISOString(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    cpu: await cpuModel(),
    allowedCpus: cpus,
    logicalCpus: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    pinning,
    rounds: settings.rounds,
    roundMs: settings.roundMs,
    warmupMs: settings.warmupMs,
    echoFrameBytes: HEADER_BYTES + ECHO_PAYLOAD_BYTES,
  };
  console.log(
    [
      "# netref benchmark",
      "",
      `- date: ${header.date}`,
      `- deno: ${header.deno} (v8 ${header.v8}), ${header.os}`,
      `- cpu: ${header.cpu}, ${header.logicalCpus} logical CPUs, allowed: ${
        cpus.join(",") || "unknown"
      }`,
      `- ${pinning}`,
      `- ${settings.rounds} alternating rounds of ${settings.roundMs} ms per side after ${settings.warmupMs} ms of warm-up; medians; echo frame ${header.echoFrameBytes} bytes`,
      "",
    ].join("\n"),
  );
  const results: Result[] = [];
  for (const placement of placements) {
    results.push(...await measure(placement, settings));
  }
  console.log(table(results));
  await Deno.mkdir(RESULTS, { recursive: true });
  const name = `${header.date.slice(0, 19).replaceAll(":", "-")}Z.json`;
  await Deno.writeTextFile(
    RESULTS + name,
    JSON.stringify({ ...header, results }, null, 2) + "\n",
  );
  console.log(`\nJSON: bench/results/${name}`);
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
