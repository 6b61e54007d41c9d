/**
 * Helpers for the RPyC tests: real Python processes (`/usr/bin/python3`
 * with Debian's python3-rpyc), run once or talked to line by line, and the
 * Python ThreadedServer fixture serving the classic TestService.
 *
 * @module
 */

import assert from "node:assert/strict";

export const PYTHON = "/usr/bin/python3";
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
    env: options.env,
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
      env: options.env,
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

/**
 * Starts tests/fixtures/rpyc_test_service.py on a free port.
 *
 * @param env Extra environment (such as a PYTHONPATH for another RPyC).
 */
export async function startPythonServer(
  env?: Record<string, string>,
): Promise<PythonServer> {
  const process = new PythonProcess(
    { file: "tests/fixtures/rpyc_test_service.py" },
    { args: ["0"], env },
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
