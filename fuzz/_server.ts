/**
 * The fixture server's process, watched: started with a capped heap, its
 * stderr scanned for unhandled rejections and the reason it died, its open
 * sockets counted from `/proc`, and stopped or restarted on demand.
 *
 * @module
 */

import { STALL_MARKER, UNHANDLED_MARKER } from "./_marker.ts";

const FIXTURE = new URL("./_fixture.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Lines on stderr that report an unhandled rejection. */
const UNHANDLED = new RegExp(
  `^(${escape(UNHANDLED_MARKER)}|error: Uncaught \\(in promise\\))`,
);
/** Lines on stderr that say why the process died. */
const FATAL = /^(error: |FATAL ERROR|Fatal|.*out of memory|#\s*Fatal)/;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * With NETREF_FUZZ_CPU_PROF=<dir>, the server writes a CPU profile there
 * when it stops: where a run's time went, server side.
 */
function profileFlags(): string[] {
  const dir = Deno.env.get("NETREF_FUZZ_CPU_PROF");
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** The stderr text kept per process, at most. */
const STDERR_KEEP = 256 * 1024;

/** How the fixture server runs. */
export interface FixtureOptions {
  /**
   * The V8 old-space limit in MiB: a memory bomb ends the process quickly
   * instead of eating the machine.
   * @default {512}
   */
  heapMb?: number;
  /**
   * Whether an unhandled rejection ends the process, as in any server
   * without a handler for them, instead of being reported and survived.
   * @default {false}
   */
  fatalRejections?: boolean;
}

/** A child's stderr, kept (the last 256 KiB) and handed out line by line. */
class StderrWatch {
  text = "";
  onLine: (line: string) => void = () => {};
  readonly done: Promise<void>;
  #partial = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write: (chunk) => {
          this.text += chunk;
          if (this.text.length > STDERR_KEEP) {
            this.text = this.text.slice(-STDERR_KEEP / 2);
          }
          const lines = (this.#partial + chunk).split("\n");
          this.#partial = lines.pop()!;
          for (const line of lines) this.onLine(line);
        },
        close: () => {
          if (this.#partial !== "") this.onLine(this.#partial);
        },
      }),
    ).catch(() => {});
  }
}

/** A fixture server process. */
export class FixtureServer {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  readonly pid: number;
  /** Resolves when the process exits, for whatever reason. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Set once the process has exited. */
  status: Deno.CommandStatus | null = null;
  /** Called with each line reporting an unhandled rejection. */
  onUnhandled: (line: string) => void = () => {};
  /**
   * Called for each stall of the server's event loop: the milliseconds it
   * spent working, and how late its timer was.
   */
  onStall: (busyMs: number, lateMs: number) => void = () => {};
  #stderr: StderrWatch;
  #stdoutDone: Promise<void>;

  private constructor(
    child: Deno.ChildProcess,
    ready: { port: number; pid: number },
    stderr: StderrWatch,
    stdoutDone: Promise<void>,
  ) {
    this.#stdoutDone = stdoutDone;
    this.child = child;
    this.port = ready.port;
    this.pid = ready.pid;
    this.#stderr = stderr;
    stderr.onLine = (line) => {
      if (UNHANDLED.test(line)) this.onUnhandled(line);
      else if (line.startsWith(STALL_MARKER)) {
        // "<marker> <busy> ms (<late> ms late)"
        const [busy, late] = line.slice(STALL_MARKER.length).match(
          /[\d.]+/g,
        ) ?? [];
        this.onStall(Number(busy), Number(late ?? busy));
      }
    };
    this.exited = child.status.then((status) => {
      this.status = status;
      return status;
    });
  }

  /** Resolves once the process has exited and all it wrote to stderr is read. */
  async ended(): Promise<Deno.CommandStatus> {
    const status = await this.exited;
    await this.#stderr.done;
    return status;
  }

  /** The last 256 KiB of stderr. */
  get stderrText(): string {
    return this.#stderr.text;
  }

  /**
   * Starts the fixture and waits for its address.
   *
   * @param options Its heap limit, and how it takes unhandled rejections.
   */
  static async start(options: FixtureOptions = {}): Promise<FixtureServer> {
    const { heapMb = 512, fatalRejections = false } = options;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--config",
        CONFIG,
        "--allow-net",
        "--allow-read",
        `--v8-flags=--expose-gc,--max-old-space-size=${heapMb}`,
        ...profileFlags(),
        FIXTURE,
        ...(fatalRejections ? ["--fatal-rejections"] : []),
      ],
      // Plain text on stderr, for the lines looked for there.
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new StderrWatch(child.stderr);
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Gone already.
      }
    }, 30_000);
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) {
        clearTimeout(timer);
        await child.status;
        await stderr.done;
        throw new Error(`the fuzz fixture did not start:\n${stderr.text}`);
      }
      out += value;
    }
    clearTimeout(timer);
    // Keep draining stdout so that the child never blocks on it.
    const stdoutDone = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
    return new FixtureServer(
      child,
      JSON.parse(out.slice(0, out.indexOf("\n"))),
      stderr,
      stdoutDone,
    );
  }

  /**
   * Sockets the process holds open (its listener included), from
   * `/proc/<pid>/fd`, listed by `ls` (Deno reads /proc only with
   * --allow-all); null where that cannot be done.
   */
  async openSockets(): Promise<number | null> {
    try {
      const { code, stdout } = await new Deno.Command("ls", {
        args: ["-l", `/proc/${this.pid}/fd`],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (code !== 0) return null;
      return new TextDecoder().decode(stdout).split("socket:").length - 1;
    } catch {
      return null;
    }
  }

  /** Why the process died: the first fatal line of its stderr, else its status. */
  deathReason(): string {
    const lines = this.stderrText.split("\n");
    const fatal = lines.find((line) => FATAL.test(line));
    if (fatal !== undefined) return fatal.trim();
    const status = this.status;
    return status === null
      ? "still running"
      : `exited with code ${status.code}${
        status.signal ? `, signal ${status.signal}` : ""
      }`;
  }

  /** Stops it (SIGTERM, then SIGKILL after 2 s) and waits for it. */
  async stop(): Promise<Deno.CommandStatus> {
    if (this.status === null) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
    }
    const killer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
    }, 2000);
    const status = await this.exited;
    clearTimeout(killer);
    await this.#stderr.done;
    await this.#stdoutDone;
    return status;
  }
}
