/**
 * The benchmark's child processes: how each system's server and client are
 * started (pinned with `taskset`, with room for 1,000 connections), how
 * commands reach them, and how they are stopped.
 *
 * @module
 */

import {
  type ClientCommand,
  LineReader,
  type MemoryReport,
  PYTHON_CLIENTS,
  PYTHON_SERVERS,
  type ServerCommand,
  type System,
} from "./_common.ts";

const ROOT = new URL("../", import.meta.url);
const bench = (name: string) => new URL(name, import.meta.url).pathname;
/** The bench's own config: its import map and lockfile, apart from the library's. */
const CONFIG = bench("deno.json");
const SERVERS = bench("_servers.ts");
const CLIENT = bench("_client.ts");
const RPYC_SERVER = bench("_rpyc_server.py");
const RPYC_CLIENT = bench("_rpyc_client.py");
/** Python RPyC runs with Debian's interpreter, where python3-rpyc is installed. */
export const PYTHON = "/usr/bin/python3";
/** Systems whose Deno processes `--profile` profiles: netref's, on either wire. */
const PROFILED: readonly System[] = [
  "netref",
  "rpycClientNetref",
  "netrefClientRpyc",
];
/** Time allowed for a child to start (compile, load, connect) and print its line. */
const START_MS = 60_000;
/** Time a child gets to exit on its own once its stdin is closed. */
const EXIT_MS = 3_000;
/** Open files a child may need: 1,000 connections and some slack. */
const FILE_LIMIT = 4096;

/** How children are started: pinning, file limit, profiling. */
export interface SpawnOptions {
  /** The CPU to pin to, or null to run unpinned. */
  cpu: number | null;
  /** Whether the file limit must be raised to {@linkcode FILE_LIMIT} first. */
  raiseFileLimit: boolean;
  /** A directory for `--cpu-prof` output of netref's processes, or null. */
  profileDir: string | null;
}

/** A running child process and its stdout lines. */
export class Child {
  readonly label: string;
  readonly process: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: LineReader;
  #stopped: Promise<void> | null = null;

  constructor(label: string, command: string[]) {
    this.label = label;
    const [program, ...args] = command;
    this.process = new Deno.Command(program, {
      args,
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    this.#lines = new LineReader(this.process.stdout);
    running.add(this);
  }

  /**
   * The next JSON line the child prints.
   *
   * @param timeoutMs Longest wait.
   * @returns The parsed line.
   * @throws {Error} If the child exits, prints something else, or reports an error.
   */
  async read(timeoutMs: number): Promise<Record<string, unknown>> {
    const line = await this.#lines.next(timeoutMs);
    if (line === null) throw new Error(`${this.label} exited unexpectedly`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${this.label} printed ${JSON.stringify(line)}`);
    }
    if (typeof value !== "object" || value === null) {
      throw new Error(`${this.label} printed ${line}`);
    }
    const record = value as Record<string, unknown>;
    if (typeof record.error === "string") {
      throw new Error(`${this.label}: ${record.error}`);
    }
    return record;
  }

  /**
   * Sends one command and waits for its answer.
   *
   * @param command The command, sent as one JSON line.
   * @param timeoutMs Longest wait for the answer.
   * @returns The answer.
   */
  async ask(
    command: ClientCommand | ServerCommand,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    await this.#stdin.write(
      new TextEncoder().encode(JSON.stringify(command) + "\n"),
    );
    return await this.read(timeoutMs);
  }

  /** Ends the child: closes its stdin, then kills it if it lingers. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    running.delete(this);
    try {
      await this.#stdin.close();
    } catch {
      // Its stdin is already gone: so is the child, or it soon will be.
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.process.status.then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(resolve, EXIT_MS, false)
      ),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // It exited between the check and the kill.
      }
      await this.process.status;
    }
  }
}

const running = new Set<Child>();

/**
 * Stops every child still running.
 *
 * @example
 * ```ts ignore
 * import { stopAll } from "./_children.ts";
 * await stopAll();
 * ```
 */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

function wrap(command: string[], options: SpawnOptions): string[] {
  let wrapped = command;
  if (options.cpu !== null) {
    wrapped = ["taskset", "-c", String(options.cpu), ...wrapped];
  }
  if (options.raiseFileLimit) {
    // exec keeps the pid: the child is still the process we talk to.
    wrapped = [
      "sh",
      "-c",
      `ulimit -n ${FILE_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`,
      "sh",
      ...wrapped,
    ];
  }
  return wrapped;
}

function denoArgs(
  system: System,
  role: "server" | "client",
  options: SpawnOptions,
): string[] {
  const args = [
    Deno.execPath(),
    "run",
    "--config",
    CONFIG,
    "--no-prompt",
    "--allow-net=127.0.0.1",
    // grpc-js reads its GRPC_* variables, capnweb's adapter its encoding.
    "--allow-env",
    "--v8-flags=--expose-gc",
  ];
  if (options.profileDir !== null && PROFILED.includes(system)) {
    args.push(
      "--cpu-prof",
      "--cpu-prof-interval=250",
      `--cpu-prof-dir=${options.profileDir}/${system}-${role}`,
    );
  }
  return args;
}

/**
 * Starts a system's server and reads its port.
 *
 * @param system Which system.
 * @param options Pinning, file limit, profiling.
 * @returns The child and the port it listens on.
 */
export async function startServer(
  system: System,
  options: SpawnOptions,
): Promise<{ child: Child; port: number }> {
  const command = PYTHON_SERVERS.includes(system)
    ? [PYTHON, RPYC_SERVER]
    : [...denoArgs(system, "server", options), SERVERS, system];
  const child = new Child(`${system} server`, wrap(command, options));
  try {
    const { port } = await child.read(START_MS);
    if (typeof port !== "number") {
      throw new Error(`${child.label} did not print its port`);
    }
    return { child, port };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * The Python client's arguments naming the server's methods where they
 * differ from Python's: netref's `BenchService` calls back from `callBack`
 * (Python reaches exposed members by their TypeScript names).
 */
function pythonNames(system: System): string[] {
  return system === "rpycClientNetref" ? ["--call-back", "callBack"] : [];
}

/**
 * Starts a system's client, connected once to `port`.
 *
 * @param system Which system.
 * @param port The server's port.
 * @param options Pinning, file limit, profiling.
 * @returns The child, once it reports it is connected.
 */
export async function startClient(
  system: System,
  port: number,
  options: SpawnOptions,
): Promise<Child> {
  const command = PYTHON_CLIENTS.includes(system)
    ? [PYTHON, RPYC_CLIENT, String(port), ...pythonNames(system)]
    : [...denoArgs(system, "client", options), CLIENT, system, String(port)];
  const child = new Child(`${system} client`, wrap(command, options));
  try {
    await child.read(START_MS);
    return child;
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/**
 * Asks a server for its memory and references.
 *
 * @param server The server's child.
 * @returns Its report.
 */
export async function memoryOf(server: Child): Promise<MemoryReport> {
  return await server.ask({ op: "memory" }, 30_000) as unknown as MemoryReport;
}

/**
 * Downloads and caches what the Deno children import (the npm packages in
 * the imports map), once, before any child starts: on a fresh clone they
 * would otherwise all download at once, and the first loops would time the
 * download.
 *
 * @throws {Error} If `deno cache` fails.
 */
export async function prepareDeno(): Promise<void> {
  const files = [
    SERVERS,
    CLIENT,
    ...[
      "_netref.ts",
      "_netref_otel.ts",
      "_netref_rpyc.ts",
      "_echo.ts",
      "_minimal.ts",
      "_capnweb.ts",
      "_birpc.ts",
      "_grpc.ts",
    ].map(bench),
  ];
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", "--config", CONFIG, ...files],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error("deno cache failed for the bench's modules");
}

/**
 * Asks a server how much CPU time it has used so far.
 *
 * @param server The server's child.
 * @returns CPU milliseconds, user and system.
 */
export async function cpuOf(server: Child): Promise<number> {
  const { cpuMs } = await server.ask({ op: "cpu" }, 30_000);
  if (typeof cpuMs !== "number") {
    throw new Error(`${server.label} did not report its CPU time`);
  }
  return cpuMs;
}

/**
 * Whether Python RPyC can run here.
 *
 * @returns Its version, or why not.
 */
export async function findRpyc(): Promise<
  { version: string } | { missing: string }
> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(PYTHON, {
      args: ["-c", "import rpyc; print(rpyc.__version__)"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (success) return { version: text.decode(stdout).trim() };
    const lines = text.decode(stderr).trim().split("\n");
    return {
      missing: `${PYTHON} cannot import rpyc (${
        lines.at(-1)
      }); install Debian's python3-rpyc`,
    };
  } catch (error) {
    return { missing: `${PYTHON} cannot run: ${String(error)}` };
  }
}

/**
 * The soft limit on open files that children inherit.
 *
 * @returns The limit, or Infinity if unlimited or unknown.
 */
export async function fileLimit(): Promise<number> {
  try {
    const { stdout } = await new Deno.Command("sh", {
      args: ["-c", "ulimit -n"],
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout).trim();
    return text === "unlimited" ? Infinity : Number(text) || Infinity;
  } catch {
    return Infinity;
  }
}

/** Open files needed by 1,000 connections. */
export const NEEDED_FILES = FILE_LIMIT;
