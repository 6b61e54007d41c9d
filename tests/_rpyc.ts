/**
 * Helpers for the RPyC tests: real Python processes (`/usr/bin/python3`
 * with Debian's python3-rpyc 5.3, or RPyC 6 from `RPYC6_PYTHONPATH`), run
 * once or talked to line by line, and the Python server fixture serving the
 * classic TestService.
 *
 * @module
 */

import assert from "node:assert/strict";

export const PYTHON = "/usr/bin/python3";

/** A Python RPyC install the tests run as the peer. */
export interface RpycPeer {
  /** Its name in test names, such as "RPyC 6". */
  name: string;
  /** Its major version: its wire format. */
  major: 5 | 6;
  /** The environment that makes `python3` import it. */
  env: Record<string, string>;
}

/** Debian's python3-rpyc (5.3), always present. */
export const RPYC5: RpycPeer = { name: "RPyC 5", major: 5, env: {} };

const rpyc6Path = Deno.env.get("RPYC6_PYTHONPATH");

/** RPyC 6 from `RPYC6_PYTHONPATH` (CI has only Debian's 5.3), or null. */
export const RPYC6: RpycPeer | null = rpyc6Path === undefined
  ? null
  : { name: "RPyC 6", major: 6, env: { PYTHONPATH: rpyc6Path } };

/** The Python peers present: RPyC 5, and RPyC 6 when it is set up. */
export const RPYC_PEERS: readonly RpycPeer[] = RPYC6 === null
  ? [RPYC5]
  : [RPYC5, RPYC6];

let skipNoticePrinted = false;

/** Prints, once per test file, that the RPyC 6 variants are skipped. */
export function noticeRpyc6Skipped(): void {
  if (RPYC6 !== null || skipNoticePrinted) return;
  skipNoticePrinted = true;
  // Debian ships RPyC 5.3 only, so CI skips these rather than failing.
  console.log(
    "skipping the RPyC 6 variants of the Python tests: RPYC6_PYTHONPATH is unset (point it at an RPyC 6 install, such as a checkout of its source)",
  );
}

/** The peer every Python process of the running test imports. */
let currentPeer: RpycPeer = RPYC5;

/**
 * Registers a test once per Python peer present ({@linkcode RPYC_PEERS}):
 * as `name` for RPyC 5, and as `name (RPyC 6)` when RPyC 6 is set up.
 * While it runs, {@linkcode runPython}, {@linkcode PythonProcess} and
 * {@linkcode startPythonServer} start that peer's Python (tests in a file
 * run one at a time).
 */
export function pythonTest(
  name: string,
  fn: (peer: RpycPeer, t: Deno.TestContext) => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  noticeRpyc6Skipped();
  for (const peer of RPYC_PEERS) {
    Deno.test({
      name: peer === RPYC5 ? name : `${name} (${peer.name})`,
      ignore: options.ignore,
      async fn(t) {
        currentPeer = peer;
        try {
          await fn(peer, t);
        } finally {
          currentPeer = RPYC5;
        }
      },
    });
  }
}

const root = new URL("../", import.meta.url).pathname;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What a finished Python process printed. */
export interface PythonResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runPython} and {@linkcode PythonProcess}. */
export interface PythonOptions {
  /** Arguments after the script. */
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Killed after this many milliseconds. @default {15000} */
  timeout?: number;
}

/**
 * Runs a Python script to its end; fails the test if it outlives `timeout`.
 */
export async function runPython(
  script: string,
  options: PythonOptions = {},
): Promise<PythonResult> {
  const child = new Deno.Command(PYTHON, {
    args: ["-u", "-c", script, ...(options.args ?? [])],
    cwd: root,
    env: { ...currentPeer.env, ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeout ?? 15_000);
  const output = await child.output();
  clearTimeout(timer);
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  assert.ok(
    !timedOut,
    `python3 timed out:\n${result.stdout}\n${result.stderr}`,
  );
  return result;
}

/** Runs a Python script and asserts it exits 0; returns its stdout lines. */
export async function pythonLines(
  script: string,
  options: PythonOptions = {},
): Promise<string[]> {
  const result = await runPython(script, options);
  assert.equal(
    result.code,
    0,
    `python3 failed:\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout.trimEnd().split("\n");
}

/** A Python process the test talks to line by line (stdin and stdout). */
export class PythonProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<string>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stderr: Promise<string>;
  #buffer = "";

  /** Starts `python3 -u <file or -c script> args...`. */
  constructor(
    script: { file: string } | { code: string },
    options: PythonOptions = {},
  ) {
    const head = "file" in script ? [script.file] : ["-c", script.code];
    this.#child = new Deno.Command(PYTHON, {
      args: ["-u", ...head, ...(options.args ?? [])],
      cwd: root,
      env: { ...currentPeer.env, ...options.env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    this.#writer = this.#child.stdin.getWriter();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /** The next line printed, waiting at most `ms` milliseconds. */
  async line(ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.#buffer.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        this.#reader.read(),
        new Promise<"timeout">((resolve) =>
          timer = setTimeout(
            () => resolve("timeout"),
            Math.max(0, deadline - Date.now()),
          )
        ),
      ]).finally(() => clearTimeout(timer));
      if (next === "timeout") {
        throw new Error(`python3 printed no line within ${ms} ms`);
      }
      if (next.done) {
        throw new Error(
          `python3 ended before printing a line:\n${this.#buffer}\n${await this
            .#stderrSoon()}`,
        );
      }
      this.#buffer += next.value;
    }
    const end = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return line;
  }

  /** Writes one line to the process's stdin. */
  async send(line: string): Promise<void> {
    await this.#writer.write(encoder.encode(line + "\n"));
  }

  async #stderrSoon(): Promise<string> {
    this.#child.kill("SIGKILL");
    return await this.#stderr;
  }

  /** Closes stdin and waits for the exit (killing it after `ms`). */
  async close(ms = 5000): Promise<{ code: number; stderr: string }> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, ms);
    const status = await this.#child.status;
    clearTimeout(timer);
    await this.#reader.cancel().catch(() => {});
    return { code: status.code, stderr: await this.#stderr };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close().then(() => {});
  }
}

/** The Python ThreadedServer serving the classic TestService. */
export interface PythonServer extends AsyncDisposable {
  port: number;
  process: PythonProcess;
}

/** Options of {@linkcode startPythonServer}. */
export interface PythonServerOptions {
  /** The RPyC to run. @default {the running test's peer} */
  peer?: RpycPeer;
  /** A OneShotServer (one connection) instead of a ThreadedServer. */
  oneshot?: boolean;
  /** Writes RPyC's log records, DEBUG and up, to stderr. */
  log?: boolean;
}

/** Starts tests/fixtures/rpyc_test_service.py on a free port. */
export async function startPythonServer(
  options: PythonServerOptions = {},
): Promise<PythonServer> {
  const args = ["0"];
  if (options.oneshot) args.push("--oneshot");
  if (options.log) args.push("--log");
  const process = new PythonProcess(
    { file: "tests/fixtures/rpyc_test_service.py" },
    { args, env: (options.peer ?? currentPeer).env },
  );
  const line = await process.line();
  const port = Number(line.match(/^listening on (\d+)$/)?.[1]);
  assert.ok(port > 0, `unexpected first line from the Python server: ${line}`);
  return {
    port,
    process,
    [Symbol.asyncDispose]: () => process.close().then(() => {}),
  };
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
