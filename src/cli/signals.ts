/**
 * Running until SIGINT or SIGTERM, for `serve` and `registry`: the first
 * signal starts a graceful stop, a second one cuts it short.
 *
 * @module
 */

/** Options of {@linkcode runUntilSignal}. */
export interface RunUntilSignalOptions {
  /** Resolves once the stop has completed (or the program ended otherwise). */
  finished: Promise<unknown>;
  /**
   * Starts the graceful stop; called once, at the first signal. A rejection
   * is logged.
   */
  stop(signal: Deno.Signal): Promise<void>;
  /** Receives one line when a second signal cuts the stop short. */
  log(line: string): void;
}

const SIGNALS: readonly [Deno.Signal, number][] = [
  ["SIGINT", 2],
  ["SIGTERM", 15],
];

/**
 * Waits for `finished`, stopping gracefully at the first SIGINT or SIGTERM
 * and giving up at the second.
 *
 * @param options What finishes, how to stop, and a log.
 * @returns 0 once `finished` resolved, or 128 + the signal's number if a
 *   second signal came first (130 for SIGINT, 143 for SIGTERM).
 *
 * @example
 * ```ts ignore
 * import { runUntilSignal } from "./signals.ts";
 * const code = await runUntilSignal({
 *   finished: server.finished,
 *   stop: () => server.shutdown(),
 *   log: console.error,
 * });
 * ```
 */
export async function runUntilSignal(
  options: RunUntilSignalOptions,
): Promise<number> {
  let stopping = false;
  let forced: (code: number) => void = () => {};
  const cutShort = new Promise<number>((resolve) => forced = resolve);
  const listeners: [Deno.Signal, () => void][] = [];
  for (const [signal, number] of SIGNALS) {
    const listener = () => {
      if (stopping) {
        options.log(`${signal} again: closing every connection now`);
        forced(128 + number);
        return;
      }
      stopping = true;
      options.stop(signal).catch((error) =>
        options.log(`shutdown failed: ${error}`)
      );
    };
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch {
      // SIGTERM cannot be listened for on Windows; SIGINT still works.
    }
  }
  try {
    return await Promise.race([options.finished.then(() => 0), cutShort]);
  } finally {
    for (const [signal, listener] of listeners) {
      Deno.removeSignalListener(signal, listener);
    }
  }
}
