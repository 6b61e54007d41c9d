/**
 * netref values as JSON, for the shell: call arguments in, results out.
 *
 * JSON has no bigint, bytes, Date, Map, Set, NaN, -0, typed array or remote
 * object, so those
 * are tagged as one-key objects, the same way in both directions:
 *
 * | value            | JSON                                         |
 * | ---------------- | -------------------------------------------- |
 * | `12n`            | `{"$bigint": "12"}`                          |
 * | `Uint8Array`     | `{"$bytes": "AQID"}` (base64)                |
 * | `Date`           | `{"$date": "2024-01-01T00:00:00.000Z"}`      |
 * | `Map`            | `{"$map": [[key, value], ...]}`              |
 * | `Set`            | `{"$set": [value, ...]}`                     |
 * | `NaN`, `±Infinity`, `-0` | `{"$number": "NaN"}`               |
 * | other binary     | `{"$typed": ["Float64Array", "AAAAAAAA+D8="]}`: the type (any typed array, `ArrayBuffer`, `DataView`) and its bytes in base64 |
 * | a netref         | `{"$netref": "object"}` or `"function"` (out only) |
 * | an error         | `{"$error": {"name", "message", "code"?}}` (out only) |
 * | `undefined`      | `null`                                       |
 *
 * A plain object that happens to have one key named like a tag is wrapped
 * as `{"$object": {...}}`, so every output reads back as what was sent.
 *
 * @module
 */

import { isNetref } from "../core/proxy.ts";

const TAGS = new Set([
  "$bigint",
  "$bytes",
  "$date",
  "$map",
  "$set",
  "$number",
  "$typed",
  "$netref",
  "$error",
  "$object",
]);

/** A JSON value. */
export type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | { [key: string]: Json };

/**
 * Converts a value received from a peer into JSON, tagging what JSON lacks.
 *
 * @param value A received value.
 * @returns Its JSON form.
 *
 * @example
 * ```ts
 * import { toJson } from "./json.ts";
 * console.assert(JSON.stringify(toJson(12n)) === '{"$bigint":"12"}');
 * ```
 */
export function toJson(value: unknown): Json {
  switch (typeof value) {
    case "undefined":
      return null;
    case "boolean":
    case "string":
      return value;
    case "number":
      if (Object.is(value, -0)) return { $number: "-0" };
      return Number.isFinite(value) ? value : { $number: String(value) };
    case "bigint":
      return { $bigint: value.toString() };
    case "function": // Functions only arrive as netrefs.
      return { $netref: "function" };
    case "symbol":
      return String(value);
  }
  if (value === null) return null;
  if (isNetref(value)) return { $netref: "object" };
  if (value instanceof Uint8Array) return { $bytes: encodeBase64(value) };
  const binary = binaryName(value as object);
  if (binary !== null) {
    const view = value as ArrayBufferView;
    const bytes = value instanceof ArrayBuffer
      ? new Uint8Array(value)
      : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    return { $typed: [binary, encodeBase64(bytes)] };
  }
  if (value instanceof Date) {
    return {
      $date: Number.isNaN(value.getTime()) ? null : value.toISOString(),
    };
  }
  if (value instanceof Map) {
    return { $map: [...value].map(([k, v]) => [toJson(k), toJson(v)]) };
  }
  if (value instanceof Set) return { $set: [...value].map(toJson) };
  if (value instanceof Error) {
    const error: { [key: string]: Json } = {
      name: value.name,
      message: value.message,
    };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) error.code = toJson(code);
    return { $error: error };
  }
  if (Array.isArray(value)) return value.map(toJson);
  const object: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value as object)) {
    object[key] = toJson(item);
  }
  const keys = Object.keys(object);
  return keys.length === 1 && TAGS.has(keys[0]) ? { $object: object } : object;
}

/**
 * Converts parsed JSON into the value to send, reading the tags of
 * {@linkcode toJson}.
 *
 * @param json A parsed JSON value.
 * @returns The value.
 * @throws {TypeError} On a malformed tag, or `$netref`/`$error`, which
 *   cannot be sent from the shell.
 *
 * @example
 * ```ts
 * import { fromJson } from "./json.ts";
 * console.assert(fromJson({ $bigint: "12" }) === 12n);
 * ```
 */
export function fromJson(json: Json): unknown {
  if (json === null || typeof json !== "object") return json;
  if (Array.isArray(json)) return json.map(fromJson);
  const keys = Object.keys(json);
  if (keys.length === 1 && TAGS.has(keys[0])) {
    const tag = keys[0];
    const inner = json[tag];
    const bad = (expected: string) =>
      new TypeError(
        `Cannot read ${tag}: expected ${expected}, got ${
          JSON.stringify(inner)
        }`,
      );
    switch (tag) {
      case "$bigint":
        if (typeof inner !== "string" || !/^-?\d+$/.test(inner)) {
          throw bad("a string of digits");
        }
        return BigInt(inner);
      case "$bytes":
        if (typeof inner !== "string") throw bad("a base64 string");
        try {
          return decodeBase64(inner);
        } catch {
          throw bad("a base64 string");
        }
      case "$date": {
        const date = typeof inner === "string" ? new Date(inner) : null;
        if (date === null || Number.isNaN(date.getTime())) {
          throw bad("an ISO date string");
        }
        return date;
      }
      case "$map":
        if (
          !Array.isArray(inner) ||
          !inner.every((e) => Array.isArray(e) && e.length === 2)
        ) throw bad("an array of [key, value] pairs");
        return new Map(
          inner.map((e) => {
            const [k, v] = e as [Json, Json];
            return [fromJson(k), fromJson(v)];
          }),
        );
      case "$set":
        if (!Array.isArray(inner)) throw bad("an array");
        return new Set(inner.map(fromJson));
      case "$number":
        if (
          inner !== "NaN" && inner !== "Infinity" && inner !== "-Infinity" &&
          inner !== "-0"
        ) {
          throw bad('"NaN", "Infinity", "-Infinity" or "-0"');
        }
        return Number(inner);
      case "$typed":
        return readTyped(inner, bad);
      case "$object":
        if (
          inner === null || typeof inner !== "object" || Array.isArray(inner)
        ) {
          throw bad("an object");
        }
        return mapObject(inner);
      default:
        throw new TypeError(
          `Cannot send ${tag} from the shell: it only appears in results`,
        );
    }
  }
  return mapObject(json);
}

function mapObject(json: { [key: string]: Json }): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(json)) object[key] = fromJson(item);
  return object;
}

/**
 * Parses one call argument typed in the shell.
 *
 * @param text The argument: JSON, with the tags of {@linkcode toJson}.
 * @param index Its position (from 1), for the message.
 * @returns The value to send.
 * @throws {TypeError} If it is not JSON or a tag is malformed.
 *
 * @example
 * ```ts
 * import { parseJsonArg } from "./json.ts";
 * console.assert(parseJsonArg('"hi"', 1) === "hi");
 * ```
 */
export function parseJsonArg(text: string, index: number): unknown {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TypeError(
      `Cannot parse argument ${index} as JSON: ${text}${
        /^[A-Za-z_]/.test(text) && !/^(true|false|null)$/.test(text)
          ? ` (a string needs JSON quotes: '"${text}"')`
          : ""
      }`,
    );
  }
  try {
    return fromJson(json);
  } catch (error) {
    throw new TypeError(
      `Cannot use argument ${index}: ${(error as Error).message}`,
    );
  }
}

/**
 * Parses the arguments of a call given all at once, as one JSON array
 * (`--data`, or stdin with `--data @`).
 *
 * @param text The JSON text: an array, with the tags of {@linkcode toJson}.
 * @param source Where it came from, for the message: `--data` or `stdin`.
 * @returns The values to send.
 * @throws {TypeError} If it is not JSON, not an array, or a tag is malformed.
 *
 * @example
 * ```ts
 * import { parseJsonArgs } from "./json.ts";
 * console.assert(parseJsonArgs("[1, 2]", "--data").length === 2);
 * ```
 */
export function parseJsonArgs(text: string, source: string): unknown[] {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `Cannot parse the arguments from ${source} as JSON: ${
        (error as Error).message
      }`,
    );
  }
  if (!Array.isArray(json)) {
    throw new TypeError(
      `Cannot use the arguments from ${source}: expected a JSON array of them, as [1, "two"], got ${
        json === null ? "null" : typeof json
      }`,
    );
  }
  return json.map((item, i) => {
    try {
      return fromJson(item);
    } catch (error) {
      throw new TypeError(
        `Cannot use argument ${i + 1} from ${source}: ${
          (error as Error).message
        }`,
      );
    }
  });
}

/**
 * Formats a received value as the JSON text `netref call` prints.
 *
 * @param value A received value.
 * @param compact One line instead of indented.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { formatJson } from "./json.ts";
 * console.assert(formatJson(new Set([1]), true) === '{"$set":[1]}');
 * ```
 */
export function formatJson(value: unknown, compact: boolean): string {
  return JSON.stringify(toJson(value), null, compact ? undefined : 2);
}

/** The binary types `$typed` carries, by name. */
const BINARY: Record<string, (buffer: ArrayBuffer) => unknown> = {
  Int8Array: (b) => new Int8Array(b),
  Uint8ClampedArray: (b) => new Uint8ClampedArray(b),
  Int16Array: (b) => new Int16Array(b),
  Uint16Array: (b) => new Uint16Array(b),
  Int32Array: (b) => new Int32Array(b),
  Uint32Array: (b) => new Uint32Array(b),
  Float32Array: (b) => new Float32Array(b),
  Float64Array: (b) => new Float64Array(b),
  BigInt64Array: (b) => new BigInt64Array(b),
  BigUint64Array: (b) => new BigUint64Array(b),
  ArrayBuffer: (b) => b,
  DataView: (b) => new DataView(b),
};
const Float16 = (globalThis as Record<string, unknown>).Float16Array as
  | (new (buffer: ArrayBuffer) => unknown)
  | undefined;
if (Float16 !== undefined) BINARY.Float16Array = (b) => new Float16(b);

/** The name of a binary value `$typed` carries, or null. */
function binaryName(value: object): string | null {
  const name = Object.prototype.toString.call(value).slice(8, -1);
  return Object.hasOwn(BINARY, name) && name !== "Uint8Array" ? name : null;
}

function readTyped(inner: Json, bad: (expected: string) => TypeError): unknown {
  const expected = "[type, base64 bytes]";
  if (
    !Array.isArray(inner) || inner.length !== 2 ||
    typeof inner[0] !== "string" || typeof inner[1] !== "string" ||
    !Object.hasOwn(BINARY, inner[0])
  ) throw bad(expected);
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(inner[1]);
  } catch {
    throw bad(expected);
  }
  try {
    return BINARY[inner[0]](bytes.buffer as ArrayBuffer);
  } catch {
    throw bad(`${expected}, whole elements`);
  }
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
