/**
 * Standard input and output, the serving side: a process serving netref on
 * its own stdin/stdout. The parent's side is in `subprocess.ts`.
 *
 * @module
 */

import { Console } from "node:console";
import process from "node:process";
import type { ByteStream } from "./types.ts";

/**
 * This process's stdin and stdout as one stream. Closing it closes both, so
 * the peer sees the end of the stream.
 *
 * @param onClose Called once, when the stream is closed.
 * @returns The stream.
 *
 * @example
 * ```ts ignore
 * import { stdioStream } from "./stdio.ts";
 * const stream = stdioStream();
 * ```
 */
export function stdioStream(onClose?: () => void): ByteStream {
  let closed = false;
  return {
    read: (buffer) => Deno.stdin.read(buffer),
    write: (data) => Deno.stdout.write(data),
    close() {
      if (closed) return;
      closed = true;
      for (const file of [Deno.stdin, Deno.stdout]) {
        try {
          file.close();
        } catch {
          // Closed already.
        }
      }
      onClose?.();
    },
  };
}

/** Console methods that print to stdout. */
const STDOUT_METHODS = [
  "log",
  "info",
  "debug",
  "dir",
  "dirxml",
  "table",
  "group",
  "groupCollapsed",
  "groupEnd",
  "count",
  "countReset",
  "time",
  "timeLog",
  "timeEnd",
] as const;

/**
 * Sends everything `console` would print on stdout to stderr instead: on a
 * process serving over stdio, stdout carries the protocol, and one stray
 * `console.log` would corrupt it.
 *
 * @returns A function that puts `console` back as it was.
 *
 * @example
 * ```ts ignore
 * import { consoleToStderr } from "./stdio.ts";
 * const restore = consoleToStderr();
 * console.log("this goes to stderr");
 * restore();
 * ```
 */
export function consoleToStderr(): () => void {
  const methods = console as unknown as Record<string, unknown>;
  const saved = STDOUT_METHODS.map((name) => [name, methods[name]] as const);
  const stderrConsole = new Console({
    stdout: process.stderr,
    stderr: process.stderr,
  });
  const replacements = stderrConsole as unknown as Record<
    string,
    (...args: unknown[]) => void
  >;
  for (const name of STDOUT_METHODS) {
    methods[name] = replacements[name].bind(stderrConsole);
  }
  return () => {
    for (const [name, method] of saved) methods[name] = method;
  };
}
