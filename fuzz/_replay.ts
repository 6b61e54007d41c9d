/**
 * Replaying inputs one at a time against a server of their own, to tell
 * which of the connections open when something failed caused it, and to cut
 * that connection's frames down to the fewest that still fail.
 *
 * @module
 */

import { batchBytes, type CloseMode, type SentFrame } from "./_batch.ts";
import { sendBatch } from "./_connection.ts";
import { type FixtureOptions, FixtureServer } from "./_server.ts";
import { connect, type Connection } from "../client.ts";

/** How long after an input's connection ends a failure is still its own. */
const SETTLE_MS = 300;

/** The signature of every stall. */
export const STALL = "the server's event loop was kept busy 100 ms or more";

/** One connection to replay: its bytes and how it ends. */
export interface Input {
  bytes: Uint8Array;
  close: CloseMode;
}

/** One way the server failed, and the line that reported it. */
export interface Sighting {
  kind: "crash" | "unhandled" | "stall";
  line: string;
}

/** What a replay did to the server. */
export interface Outcome {
  /** clean, or how the server failed first (a crash before anything else). */
  kind: "clean" | Sighting["kind"];
  /** The line that reported that failure. */
  line: string;
  /** Every failure seen (several inputs may fail in several ways). */
  seen: Sighting[];
}

/**
 * A line's gist, so that failures of one kind group together: the error's
 * name and the first clause of its message (the rest, such as why a
 * connection closed, varies with the input), numbers, addresses and quoted
 * text replaced, the fixture's marker removed.
 */
export function signature(line: string): string {
  // V8 words it differently with the heap's size and state.
  if (/out of memory/i.test(line)) return "out of memory";
  const text = line
    .replace(/^fuzz fixture: unhandled rejection:\s*/, "")
    .replace(/^error: Uncaught (\(in promise\) )?/, "")
    .replace(/"[^"]*"|'[^']*'/g, "…")
    .replace(/\d+(\.\d+)*(:\d+)?/g, "N")
    .trim();
  if (text.startsWith("(not an Error")) return text.replace(/\).*/, ")");
  const clauses = text.split(": ");
  return clauses.slice(0, 2).join(": ").slice(0, 160);
}

/** Runs inputs alone against a server it restarts whenever one kills it. */
export class Replayer implements AsyncDisposable {
  #server: FixtureServer | null = null;
  #control: Connection<{ echo(n: number): number }> | null = null;
  #lines: string[] = [];
  #stalls: number[] = [];
  #fixture: FixtureOptions;
  /** How many inputs were replayed. */
  runs = 0;

  /**
   * @param fixture How the server runs; its heap is capped at 256 MiB, so
   *   that an input that runs it out of memory does so four times sooner
   *   than in the run (one input alone needs little).
   */
  constructor(fixture: FixtureOptions = {}) {
    this.#fixture = {
      ...fixture,
      heapMb: Math.min(fixture.heapMb ?? 256, 256),
    };
  }

  /**
   * Sends `bytes` as one connection and watches the server.
   *
   * @param bytes Everything the connection sends.
   * @param close Whether to close at once, or once the server closed
   *   (briefly): it changes what a handler's late callback finds.
   * @returns Whether and how the server failed.
   */
  run(bytes: Uint8Array, close: CloseMode = "now"): Promise<Outcome> {
    return this.runAll([{ bytes, close }]);
  }

  /**
   * Sends several inputs at once, each as a connection of its own, and
   * watches the server: to test a group of suspects in one go.
   *
   * @param inputs The connections' bytes and how each ends.
   * @returns Whether and how the server failed.
   */
  async runAll(inputs: readonly Input[]): Promise<Outcome> {
    this.runs++;
    if (this.#server === null || this.#server.status !== null) {
      await this.#control?.close().catch(() => {});
      await this.#server?.stop();
      this.#server = await FixtureServer.start(this.#fixture);
      this.#server.onUnhandled = (line) => this.#lines.push(line);
      this.#server.onStall = (ms) => this.#stalls.push(ms);
      this.#control = await connect("127.0.0.1", this.#server.port, {
        timeout: 60_000,
        log: () => {},
      });
    }
    const control = this.#control!;
    const server = this.#server;
    this.#lines = [];
    this.#stalls = [];
    await Promise.all(inputs.map(({ bytes, close }) =>
      sendBatch(server.port, {
        index: -1,
        wire: "netref",
        frames: [{ bytes, label: "replay" }],
        close,
        splits: [],
      })
    ));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      server.exited,
      new Promise((resolve) => timer = setTimeout(resolve, SETTLE_MS)),
    ]);
    clearTimeout(timer);
    // A server still busy with the input answers once it is done, and
    // reports its stall just before.
    if (server.status === null) {
      await control.root.echo(0).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seen: Sighting[] = [];
    if (server.status !== null) {
      await server.ended();
      seen.push({ kind: "crash", line: server.deathReason() });
    }
    for (const line of this.#lines) seen.push({ kind: "unhandled", line });
    if (this.#stalls.length > 0) {
      seen.push({
        kind: "stall",
        line: `the server's event loop was kept busy ${
          Math.max(...this.#stalls).toFixed(0)
        } ms`,
      });
    }
    return seen.length === 0
      ? { kind: "clean", line: "", seen }
      : { ...seen[0], seen };
  }

  /** The current server's stderr, for a report. */
  get stderr(): string {
    return this.#server?.stderrText ?? "";
  }

  /**
   * Cuts `frames` down to the fewest that still fail the same way: first
   * the shortest failing prefix, then each frame before the last that is
   * not needed.
   *
   * @param frames A connection's frames, all of which fail.
   * @param wanted The signature to keep.
   * @param close How the connection ends.
   * @param budget Most replays to spend.
   * @returns The frames kept.
   */
  async minimize(
    frames: readonly SentFrame[],
    wanted: string,
    close: CloseMode,
    budget = 24,
  ): Promise<SentFrame[]> {
    const fails = async (candidate: readonly SentFrame[]) => {
      if (budget-- <= 0) return false;
      const outcome = await this.run(batchBytes(candidate), close);
      return outcome.seen.some((s) =>
        s.kind === "stall" ? wanted === STALL : signature(s.line) === wanted
      );
    };
    let lo = 1;
    let hi = frames.length;
    while (lo < hi && budget > 0) {
      const mid = (lo + hi) >> 1;
      if (await fails(frames.slice(0, mid))) hi = mid;
      else lo = mid + 1;
    }
    let kept = frames.slice(0, hi);
    for (let i = kept.length - 2; i >= 1 && budget > 0; i--) {
      const without = [...kept.slice(0, i), ...kept.slice(i + 1)];
      if (await fails(without)) kept = without;
    }
    if (kept.length > 1 && budget > 0 && await fails(kept.slice(1))) {
      kept = kept.slice(1);
    }
    return kept;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#control?.close().catch(() => {});
    this.#control = null;
    await this.#server?.stop();
    this.#server = null;
  }
}
