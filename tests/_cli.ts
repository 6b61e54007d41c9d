/**
 * Running the `netref` CLI as real processes, for the CLI and compile tests:
 * one-shot runs with a time limit, and `serve` processes that are always
 * killed when disposed.
 *
 * @module
 */

/** The CLI entry point. */
export const CLI = new URL("../server.ts", import.meta.url).pathname;

/** A file under tests/fixtures/. */
export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/**
 * The permissions `deno task compile` grants the binary: the CLI runs with
 * exactly these in the tests, so a missing one fails here first.
 */
export const PERMISSIONS: readonly string[] = await (async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const task = config.tasks.compile;
  const command: string = typeof task === "string" ? task : task.command;
  return command.match(/--allow-[a-z-]+(=\S+)?/g) ?? [];
})();

/** What a finished process printed. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run the CLI, beyond its arguments. */
export interface CliOptions {
  /** Environment variables to add (for `--token-env`). */
  env?: Record<string, string>;
  /** Permissions to grant besides {@linkcode PERMISSIONS}. */
  permissions?: readonly string[];
  /** What to write to its stdin (else stdin is empty). */
  stdin?: string;
}

/**
 * Runs a command to its end, killed after `ms` milliseconds.
 *
 * @param command The program.
 * @param args Its arguments.
 * @param ms The time limit.
 * @param env Environment variables to add.
 * @param stdin What to write to its stdin, if anything.
 * @returns Its exit code and output.
 */
export async function runProgram(
  command: string,
  args: readonly string[],
  ms = 30_000,
  env?: Record<string, string>,
  stdin?: string,
): Promise<Output> {
  const child = new Deno.Command(command, {
    args: [...args],
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(ms),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Runs `netref` (server.ts under `deno run`) with `args`.
 *
 * @param args The CLI's arguments.
 * @returns Its exit code and output.
 */
export function runCli(...args: string[]): Promise<Output> {
  return runProgram(Deno.execPath(), ["run", ...PERMISSIONS, CLI, ...args]);
}

/**
 * Runs `netref` with `args`, extra environment variables and permissions.
 *
 * @param options The environment and permissions to add.
 * @param args The CLI's arguments.
 * @returns Its exit code and output.
 */
export function runCliWith(
  options: CliOptions,
  ...args: string[]
): Promise<Output> {
  return runProgram(
    Deno.execPath(),
    ["run", ...PERMISSIONS, ...options.permissions ?? [], CLI, ...args],
    30_000,
    options.env,
    options.stdin,
  );
}

/** A running `serve` process: its output so far, its address, and a kill on dispose. */
export class ServeProcess implements AsyncDisposable {
  stdout = "";
  stderr = "";
  /** `host:port` from its first line. */
  address = "";
  readonly #child: Deno.ChildProcess;
  readonly #pumps: Promise<void>[];
  #exited = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#pumps = [
      this.#pump(child.stdout, (t) => this.stdout += t),
      this.#pump(child.stderr, (t) => this.stderr += t),
    ];
    child.status.then(() => this.#exited = true);
  }

  /**
   * Starts `program args` and waits for the address line.
   *
   * @param program The executable (a `deno` or a compiled binary).
   * @param args Its arguments.
   * @param env Environment variables to add.
   * @returns The running process.
   */
  static async start(
    program: string,
    args: readonly string[],
    env?: Record<string, string>,
  ): Promise<ServeProcess> {
    const child = new Deno.Command(program, {
      args: [...args],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const served = new ServeProcess(child);
    try {
      const match = await served.waitFor("stdout", / on (\S+)/);
      served.address = match[1];
    } catch (error) {
      await served[Symbol.asyncDispose]();
      throw error;
    }
    return served;
  }

  /**
   * Starts `netref serve` (server.ts under `deno run`) and waits for its
   * address.
   *
   * @param args The arguments after `serve`.
   * @returns The running server.
   */
  static serve(...args: string[]): Promise<ServeProcess> {
    return ServeProcess.start(Deno.execPath(), [
      "run",
      ...PERMISSIONS,
      CLI,
      "serve",
      "--port",
      "0",
      ...args,
    ]);
  }

  /**
   * Starts `netref` (server.ts under `deno run`) with `args` as they are
   * (no `--port 0` added), and waits for its address line.
   *
   * @param args The CLI's arguments, such as `["registry", "--port", "0"]`.
   * @param options The environment and permissions to add.
   * @returns The running process.
   */
  static run(
    args: readonly string[],
    options: CliOptions = {},
  ): Promise<ServeProcess> {
    return ServeProcess.start(Deno.execPath(), [
      "run",
      ...PERMISSIONS,
      ...options.permissions ?? [],
      CLI,
      ...args,
    ], options.env);
  }

  /** The port it listens on. */
  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(":") + 1));
  }

  async #pump(
    stream: ReadableStream<Uint8Array>,
    add: (text: string) => void,
  ): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
    }
  }

  /**
   * Waits until the output matches `pattern`.
   *
   * @param stream Which output.
   * @param pattern What to wait for.
   * @param ms How long at most.
   * @returns The match.
   */
  async waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    ms = 15_000,
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (true) {
      const exited = this.#exited;
      if (exited) await Promise.all(this.#pumps); // All output is in.
      const match = this[stream].match(pattern);
      if (match !== null) return match;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `${
            exited ? "exited" : "timed out"
          } before ${stream} matched ${pattern}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Sends `signal` without waiting.
   *
   * @param signal The signal.
   */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /**
   * Sends `signal` and waits for the exit, at most 15 s.
   *
   * @param signal The signal.
   * @returns The exit code.
   */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    this.#child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.#child.status,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no exit within 15 s of ${signal}`)),
          15_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await Promise.all(this.#pumps);
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    await this.#child.status;
    await Promise.all(this.#pumps);
  }
}
