/**
 * Values of flags: whole numbers, sizes (`4MiB`) and durations (`10s`).
 *
 * @module
 */

/**
 * Parses a whole number flag value.
 *
 * @param text The value, or undefined if the flag was not given.
 * @param flag The flag, for the message.
 * @param min The smallest value allowed.
 * @param max The largest value allowed.
 * @returns The number, or undefined if not given.
 * @throws {RangeError} If it is not an integer from `min` to `max`.
 *
 * @example
 * ```ts
 * import { parseInteger } from "./units.ts";
 * console.assert(parseInteger("8080", "--port", 0, 65535) === 8080);
 * ```
 */
export function parseInteger(
  text: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${flag} must be an integer from ${min} to ${max}, got '${text}'`,
    );
  }
  return value;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/**
 * Parses a size in bytes: `65536`, `64KiB`, `16MiB`, `1GiB`.
 *
 * @param text The value, or undefined if the flag was not given.
 * @param flag The flag, for the message.
 * @param min The smallest size allowed, in bytes.
 * @param max The largest size allowed, in bytes.
 * @returns The size in bytes, or undefined if not given.
 * @throws {RangeError} If it is malformed or out of range.
 *
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * console.assert(parseSize("4MiB", "--max-frame-bytes", 64, 2 ** 32) === 4194304);
 * ```
 */
export function parseSize(
  text: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  const match = text.match(/^(\d+)(B|KiB|MiB|GiB)?$/);
  const value = match === null
    ? NaN
    : Number(match[1]) * SIZE_UNITS[match[2] ?? ""];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${flag} must be a size from ${min} to ${max} bytes (such as 65536 or 4MiB), got '${text}'`,
    );
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The longest timer a runtime supports: about 24.8 days. */
const MAX_DURATION = 2 ** 31 - 1;

/**
 * Parses a duration in milliseconds: `500`, `500ms`, `10s`, `5m`, `1h`.
 *
 * @param text The value, or undefined if the flag was not given.
 * @param flag The flag, for the message.
 * @param min The shortest duration allowed, in milliseconds.
 * @returns The duration in milliseconds, or undefined if not given.
 * @throws {RangeError} If it is malformed or out of range.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./units.ts";
 * console.assert(parseDuration("10s", "--timeout", 0) === 10000);
 * ```
 */
export function parseDuration(
  text: string | undefined,
  flag: string,
  min: number,
): number | undefined {
  if (text === undefined) return undefined;
  const match = text.match(/^(\d+)(ms|s|m|h)?$/);
  const value = match === null
    ? NaN
    : Number(match[1]) * DURATION_UNITS[match[2] ?? ""];
  if (!Number.isSafeInteger(value) || value < min || value > MAX_DURATION) {
    throw new RangeError(
      `${flag} must be a duration from ${min} ms to ${MAX_DURATION} ms (such as 500, 10s or 5m), got '${text}'`,
    );
  }
  return value;
}
