/**
 * Connecting to a child process that serves netref on its stdin and stdout
 * (RPyC's `connect_subproc`).
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { DEFAULT_EXIT_TIMEOUT } from "../defaults.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { Connection } from "../core/types.ts";
import { childProcessStream } from "../transport/subprocess.ts";
import { connectOn, type ConnectOptions, resolveConnect } from "./connect.ts";

/** Options of {@linkcode connectSubprocess}. */
export interface SubprocessOptions extends ConnectOptions {
  /**
   * The child's working directory.
   *
   * @default {undefined} (this process's)
   */
  cwd?: string | URL;
  /**
   * Variables added to the child's environment.
   *
   * @default {undefined}
   */
  env?: Record<string, string>;
  /**
   * Whether the child starts from an empty environment (plus `env`).
   *
   * @default {false}
   */
  clearEnv?: boolean;
  /**
   * Where the child's stderr goes. With `"piped"`, read or cancel
   * `conn.process.stderr`, or the child blocks once the pipe is full.
   *
   * @default {"inherit"}
   */
  stderr?: "inherit" | "piped" | "null";
  /**
   * Once the connection has closed, milliseconds the child is given to exit
   * before it is sent SIGTERM (and, as long again later, SIGKILL).
   *
   * @default {2000}
   */
  exitTimeout?: number;
}

/**
 * A connection to a child process; closing it ends the child.
 *
 * @typeParam T The type of the child's service.
 */
export interface SubprocessConnection<T = unknown> extends Connection<T> {
  /** The child process: its `pid`, its `status`, and `stderr` if piped. */
  readonly process: Deno.ChildProcess;
  /**
   * Closes the connection, which closes the child's stdin, then waits for
   * the child to exit (signalling it after `exitTimeout`).
   */
  close(): Promise<void>;
  /**
   * Resolves once the connection is closed and the child has exited.
   */
  readonly closed: Promise<void>;
}

/**
 * Starts a child process that serves netref on its stdin and stdout (with
 * `serveStdio()`), and connects to it: RPyC's `connect_subproc`. Closing the
 * connection closes the child's stdin and waits for it to exit; the child
 * exiting closes the connection, and pending calls fail with a
 * {@linkcode ConnectionClosedError} that gives its exit code.
 *
 * @typeParam T The type of the child's service.
 * @param command The program, such as `Deno.execPath()`.
 * @param args Its arguments, such as `["run", "child.ts"]`.
 * @param options Environment, stderr, exit timeout, and connection options.
 * @returns The open connection, with the child as `process`.
 * @throws {Deno.errors.NotFound} If `command` is not found.
 * @throws {ConnectionClosedError} If the child exits before the handshake.
 * @throws {ProtocolError} If the child does not speak netref on stdout.
 *
 * @example
 * ```ts
 * import { connectSubprocess } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connectSubprocess<TestService>(Deno.execPath(), [
 *   "run",
 *   "child.ts",
 * ]);
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectSubprocess<T = unknown>(
  command: string | URL,
  args: readonly string[] = [],
  options: SubprocessOptions = {},
): Promise<SubprocessConnection<T>> {
  const {
    cwd,
    env,
    clearEnv,
    stderr = "inherit",
    exitTimeout = DEFAULT_EXIT_TIMEOUT,
    ...connectOptions
  } = options;
  const resolved = resolveConnect(connectOptions);
  if (
    typeof exitTimeout !== "number" || Number.isNaN(exitTimeout) ||
    exitTimeout < 0
  ) {
    throw new RangeError(
      `Cannot use exitTimeout ${exitTimeout}: expected a number >= 0`,
    );
  }
  const child = new Deno.Command(command, {
    args: [...args],
    cwd,
    env,
    clearEnv,
    stdin: "piped",
    stdout: "piped",
    stderr,
  }).spawn();
  const name = String(command).split("/").pop();
  const label = `subprocess ${name} (pid ${child.pid})`;
  const reaper = new Reaper(child, exitTimeout);
  const stream = childProcessStream(child, async () => {
    const status = await reaper.exited(1000);
    return new ConnectionClosedError(
      status === null
        ? `${label} closed its stdout`
        : `${label} exited with ${
          status.signal !== null
            ? `signal ${status.signal}`
            : `code ${status.code}`
        }`,
    );
  });
  let inner: Connection<T>;
  try {
    inner = await connectOn<T>(stream, resolved, label);
  } catch (error) {
    await reaper.reap();
    throw error;
  }
  return new ChildConnection(inner, child, reaper);
}

/** Waits for a child to exit, and makes it exit if it takes too long. */
class Reaper {
  #child: Deno.ChildProcess;
  #timeout: number;
  #status: Deno.CommandStatus | null = null;
  #reaping: Promise<void> | null = null;

  constructor(child: Deno.ChildProcess, timeout: number) {
    this.#child = child;
    this.#timeout = timeout;
    child.status.then((status) => this.#status = status);
  }

  /** The exit status, if the child exits within `ms`; else null. */
  async exited(ms: number): Promise<Deno.CommandStatus | null> {
    await withTimeout(this.#child.status, ms);
    return this.#status;
  }

  /** Waits for the child to exit, signalling it if it lingers. */
  reap(): Promise<void> {
    this.#reaping ??= (async () => {
      for (const signal of ["SIGTERM", "SIGKILL"] as const) {
        if (await this.exited(this.#timeout) !== null) return;
        try {
          this.#child.kill(signal);
        } catch {
          // Exited meanwhile.
        }
      }
      await this.#child.status;
    })();
    return this.#reaping;
  }
}

/** A connection whose closing also waits for its child process to exit. */
class ChildConnection<T> implements SubprocessConnection<T> {
  #inner: Connection<T>;
  #reaper: Reaper;
  #closed: Promise<void>;
  readonly process: Deno.ChildProcess;

  constructor(inner: Connection<T>, child: Deno.ChildProcess, reaper: Reaper) {
    this.#inner = inner;
    this.#reaper = reaper;
    this.process = child;
    this.#closed = inner.closed.then(() => reaper.reap());
  }

  get root(): Connection<T>["root"] {
    return this.#inner.root;
  }

  get peer(): Connection<T>["peer"] {
    return this.#inner.peer;
  }

  get remoteAddr(): Deno.Addr | null {
    return this.#inner.remoteAddr;
  }

  get closed(): Promise<void> {
    return this.#closed;
  }

  get isClosed(): boolean {
    return this.#inner.isClosed;
  }

  get stats(): Connection<T>["stats"] {
    return this.#inner.stats;
  }

  ping(options?: Parameters<Connection<T>["ping"]>[0]): Promise<number> {
    return this.#inner.ping(options);
  }

  async close(): Promise<void> {
    await this.#inner.close();
    await this.#reaper.reap();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.for("Deno.customInspect")](): string {
    return `SubprocessConnection(pid ${this.process.pid}, ${
      this.isClosed ? "closed" : "open"
    })`;
  }
}
