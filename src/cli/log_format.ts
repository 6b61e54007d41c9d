/**
 * How `netref serve` writes its reports: as lines of text (the default), or
 * with `--log json` as one JSON object per line, for log collectors.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { type LogEvent, logEvent, type LogHook } from "../log.ts";

/** The formats `--log` takes. */
export const LOG_FORMATS = ["text", "json"] as const;

/** One of {@linkcode LOG_FORMATS}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** Where `serve`'s reports go, in the chosen format. */
export interface ServeLog {
  /** Reports an event: a connection opened, closed or failed. */
  event: LogHook;
  /** Reports a line of text (startup, shutdown, registry). */
  line(text: string): void;
}

/**
 * The JSON line of an event: its time, level, name, peer, reason and
 * message; an error as its message.
 *
 * @param event The event.
 * @param time When it happened.
 * @returns One line of JSON, no newline.
 */
export function jsonLine(event: LogEvent, time: Date = new Date()): string {
  const record: Record<string, unknown> = {
    time: time.toISOString(),
    level: event.level,
    event: event.event,
  };
  for (const [key, value] of Object.entries(event)) {
    if (key === "level" || key === "event" || value === undefined) continue;
    record[key] = key === "error" ? errorMessage(value) : value;
  }
  return JSON.stringify(record);
}

/**
 * The reports of `serve` in `format`, written by `write` one line at a time.
 *
 * @param format `text` or `json`.
 * @param write Writes one line (stderr).
 * @returns The sink.
 *
 * @example
 * ```ts
 * import { serveLog } from "./log_format.ts";
 * const lines: string[] = [];
 * serveLog("json", (line) => lines.push(line)).line("stopped");
 * console.assert(JSON.parse(lines[0]).message === "stopped");
 * ```
 */
export function serveLog(
  format: LogFormat,
  write: (line: string) => void,
): ServeLog {
  if (format === "text") {
    return { event: (event) => write(event.message), line: write };
  }
  const event = (e: LogEvent) => write(jsonLine(e));
  return {
    event,
    line: (text) => event(logEvent("info", "serve", text)),
  };
}
