/**
 * Outgoing messages: values lowered for the codec (references exported, Maps,
 * Sets, errors and blobs marked), then encoded into a frame within the
 * peer's limit. What a failed message exported is taken back.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import {
  BinaryType,
  BLOB_MIN_BYTES,
  MAX_VALUE_NODES,
  RefKind,
} from "../protocol/constants.ts";
import { checkOutgoing } from "../protocol/scan.ts";
import {
  encodeValue,
  NEGATIVE_ZERO,
  WireBigInt,
  WireBinary,
  WireBlob,
  WireDate,
  WireError,
  WireMap,
  WireRef,
  WireReturn,
  WireSet,
} from "../protocol/codec.ts";
import {
  type BlobFrame,
  frameLength,
  type OutgoingFrame,
} from "../protocol/frame.ts";
import type { RemoteErrorInit } from "../errors.ts";
import { type ProxyHost, proxyState } from "./proxy_state.ts";
import type { ExportTable, ForwardSource } from "./refs.ts";
import { isStreamable } from "./stream_producer.ts";
import type { StreamTable } from "./streams.ts";

/** Deepest nesting of a value sent by copy; deeper is most likely a cycle. */
const MAX_DEPTH = 64;

/** bigints in this range are msgpack integers; others a {@linkcode WireBigInt}. */
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Binary values other than `Uint8Array`, by their exact prototype. */
const BINARY_TYPES = new Map<object, number>([
  [Int8Array.prototype, BinaryType.INT8],
  [Uint8ClampedArray.prototype, BinaryType.UINT8_CLAMPED],
  [Int16Array.prototype, BinaryType.INT16],
  [Uint16Array.prototype, BinaryType.UINT16],
  [Int32Array.prototype, BinaryType.INT32],
  [Uint32Array.prototype, BinaryType.UINT32],
  [Float32Array.prototype, BinaryType.FLOAT32],
  [Float64Array.prototype, BinaryType.FLOAT64],
  [BigInt64Array.prototype, BinaryType.BIGINT64],
  [BigUint64Array.prototype, BinaryType.BIGUINT64],
  [ArrayBuffer.prototype, BinaryType.ARRAY_BUFFER],
  [DataView.prototype, BinaryType.DATA_VIEW],
]);
const Float16 = (globalThis as { Float16Array?: { prototype: object } })
  .Float16Array;
if (Float16 !== undefined) {
  BINARY_TYPES.set(Float16.prototype, BinaryType.FLOAT16);
}

/**
 * Built-in objects that neither copy faithfully nor make sense by reference,
 * by their exact prototype: sending one is a TypeError that names it.
 */
const REFUSED = new Map<object, string>([
  [RegExp.prototype, "a RegExp does not travel: send its source and flags"],
  [Promise.prototype, "a Promise does not travel: await it first"],
  [WeakMap.prototype, "a WeakMap does not travel: its entries are unlistable"],
  [WeakSet.prototype, "a WeakSet does not travel: its items are unlistable"],
  [WeakRef.prototype, "a WeakRef does not travel: send what it holds"],
  [Number.prototype, "a boxed Number does not travel: send the number"],
  [String.prototype, "a boxed String does not travel: send the string"],
  [Boolean.prototype, "a boxed Boolean does not travel: send the boolean"],
  [BigInt.prototype, "a boxed BigInt does not travel: send the bigint"],
  [Symbol.prototype, "symbols do not travel"],
]);

// Browsers define SharedArrayBuffer only in cross-origin isolated pages.
if (typeof SharedArrayBuffer === "function") {
  REFUSED.set(
    SharedArrayBuffer.prototype,
    "a SharedArrayBuffer does not travel: copy it into an ArrayBuffer",
  );
}

/**
 * A value that cannot travel, thrown from deep inside lowering; the entry
 * point ({@linkcode MessageEncoder.lowerValue}, `lowerArgs`, `lowerError`)
 * finds its path and throws the TypeError the caller sees.
 */
class Refused extends TypeError {
  constructor(readonly value: unknown, readonly reason: string) {
    super(reason);
  }
}

function member(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key)
    ? `.${key}`
    : `[${JSON.stringify(key)}]`;
}

/**
 * Where `target` first sits in `value`, walked in the order lowering walks
 * it; only run once a value was refused, so the hot path carries no path.
 */
function pathTo(
  value: unknown,
  target: unknown,
  path: string,
  depth: number,
): string | null {
  if (Object.is(value, target)) return path;
  if (typeof value !== "object" || value === null || depth > MAX_DEPTH) {
    return null;
  }
  if (proxyState(value) !== undefined) return null;
  const proto = Object.getPrototypeOf(value);
  let found: string | null = null;
  if (proto === Array.prototype) {
    const array = value as unknown[];
    for (let i = 0; i < array.length && found === null; i++) {
      found = pathTo(array[i], target, `${path}[${i}]`, depth + 1);
    }
  } else if (proto === Object.prototype || proto === null) {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      found ??= pathTo(object[key], target, path + member(key), depth + 1);
    }
  } else if (proto === Map.prototype) {
    let i = 0;
    for (const [k, v] of value as Map<unknown, unknown>) {
      found ??= pathTo(k, target, `${path}.keys()[${i}]`, depth + 1) ??
        pathTo(v, target, `${path}.values()[${i}]`, depth + 1);
      i++;
    }
  } else if (proto === Set.prototype) {
    let i = 0;
    for (const item of value as Set<unknown>) {
      found ??= pathTo(item, target, `${path}.values()[${i++}]`, depth + 1);
    }
  } else if (value instanceof Error) {
    found = pathTo(
      (value as { code?: unknown }).code,
      target,
      `${path}.code`,
      depth + 1,
    ) ??
      pathTo(value.cause, target, `${path}.cause`, depth + 1);
  }
  return found;
}

/** The TypeError for a refused value, naming its path from `root`. */
function named(error: unknown, root: unknown, label: string): unknown {
  if (!(error instanceof Refused)) return error;
  const path = pathTo(root, error.value, label, 0) ?? label;
  return new TypeError(`Cannot send ${path}: ${error.reason}`);
}

/**
 * Lowers and encodes one connection's outgoing messages. Use: `begin()`,
 * lower the values while building the message, `finish(message)`; on any
 * failure, `abort()`.
 */
export class MessageEncoder {
  readonly #exports: ExportTable;
  readonly #host: ProxyHost;
  readonly #includeStack: boolean;
  readonly #exportLog: number[] = [];
  /** Large byte arrays of the message being lowered, sent after its value. */
  #blobs: Uint8Array[] = [];
  #blobBytes = 0;
  /** Whether the peer reads blob frames (it announced "blobs"). */
  peerBlobs = false;
  /** The largest frame the peer accepts. */
  peerMaxFrame: number = DEFAULT_MAX_FRAME_BYTES;
  /** Where iterables sent as streams are opened; null: they go by reference. */
  streams: StreamTable | null = null;

  /**
   * Makes the encoder of a connection.
   *
   * @param exports The connection's export table.
   * @param host The connection, to recognise its own netrefs coming back.
   * @param includeStack Whether errors carry their stack trace.
   */
  constructor(exports: ExportTable, host: ProxyHost, includeStack: boolean) {
    this.#exports = exports;
    this.#host = host;
    this.#includeStack = includeStack;
  }

  /** Starts a message. */
  begin(): void {
    this.#exportLog.length = 0;
    this.streams?.begin();
    // A message with blobs hands its array on (`finish`): one is made per
    // message that had blobs, not per message.
    if (this.#blobs.length > 0) this.#blobs = [];
    this.#blobBytes = 0;
  }

  /**
   * Encodes a message whose values `lower` produced, within the peer's frame
   * limit: a plain payload, or a blob frame when blobs were collected.
   *
   * @param message The message, its values lowered.
   * @returns The frame to write.
   * @throws {RangeError} Over the peer's maxFrameBytes, or holding more
   *   items than a receiver accepts.
   */
  finish(message: unknown[]): OutgoingFrame {
    const bytes = encodeValue(message);
    // n bytes hold at most n items: only a large message can be over.
    if (bytes.length > MAX_VALUE_NODES) {
      checkOutgoing(bytes, this.#blobs.length === 0 ? null : this.#blobBytes);
    }
    const blobs = this.#blobs;
    if (blobs.length === 0) {
      if (bytes.length > this.peerMaxFrame) {
        throw new RangeError(
          `Cannot send message: ${bytes.length} bytes exceeds the peer's maxFrameBytes ${this.peerMaxFrame}`,
        );
      }
      return bytes;
    }
    this.#blobs = [];
    this.#blobBytes = 0;
    const head = new Uint8Array(4 + bytes.length);
    new DataView(head.buffer).setUint32(0, bytes.length);
    head.set(bytes, 4);
    const frame: BlobFrame = { head, blobs };
    const length = frameLength(frame);
    if (length > this.peerMaxFrame) {
      throw new RangeError(
        `Cannot send message: ${length} bytes exceeds the peer's maxFrameBytes ${this.peerMaxFrame}`,
      );
    }
    return frame;
  }

  /** Takes back what lowering since `begin()` exported, after a failure. */
  abort(): void {
    for (const id of this.#exportLog) this.#exports.release(id, 1);
    this.#exportLog.length = 0;
    this.streams?.abort();
    this.#blobs = [];
    this.#blobBytes = 0;
  }

  #export(value: object, kind: number, source?: ForwardSource): WireRef {
    const id = this.#exports.export(value, source);
    this.#exportLog.push(id);
    return new WireRef(id, kind);
  }

  /**
   * Lowers call arguments.
   *
   * @param args The arguments.
   * @returns Them, lowered.
   */
  lowerArgs(args: unknown[]): unknown[] {
    const out = new Array(args.length);
    let i = 0;
    try {
      for (; i < args.length; i++) out[i] = this.lower(args[i], 1);
    } catch (error) {
      throw named(error, args[i], `args[${i}]`);
    }
    return out;
  }

  /**
   * Lowers one value: a result, or the value of a SET.
   *
   * @param value The value.
   * @param label What to call it in an error: `result`, `value`.
   * @returns It, lowered.
   * @throws {TypeError} Naming the path of a part that cannot travel.
   * @throws {RangeError} For nesting over the limit.
   */
  lowerValue(value: unknown, label: string): unknown {
    try {
      return this.lower(value);
    } catch (error) {
      throw named(error, value, label);
    }
  }

  /**
   * Replaces what cannot travel by copy with references, and containers
   * msgpack cannot tell apart with their `Wire*` markers.
   *
   * @param value Any value.
   * @param depth How deep it sits in the message.
   * @returns The value to encode.
   * @throws {TypeError} For a symbol or a pending netref.
   * @throws {RangeError} For nesting over the limit.
   */
  lower(value: unknown, depth = 0): unknown {
    switch (typeof value) {
      case "object":
        if (value === null) return null;
        break;
      case "function":
        break;
      case "number":
        // msgpack has no integer -0: it goes as a float.
        return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
      case "bigint":
        return value < INT64_MIN || value > UINT64_MAX
          ? new WireBigInt(value)
          : value;
      case "symbol":
        throw new Refused(value, `symbols do not travel (${String(value)})`);
      default:
        return value;
    }
    if (depth > MAX_DEPTH) {
      throw new RangeError(
        `Cannot send value: it nests deeper than ${MAX_DEPTH} levels (is it cyclic?)`,
      );
    }
    const state = proxyState(value);
    if (state !== undefined) {
      if (state.mode !== 0) {
        throw new TypeError(
          "Cannot send a netref member or call result that is still pending: await it first",
        );
      }
      if (state.host === this.#host) return new WireReturn(state.target);
      // Another connection's netref: the proxy itself is exported, and what
      // the peer does with it is relayed to the proxy's connection.
      return this.#export(
        value as object,
        state.callable ? RefKind.FUNCTION : RefKind.OBJECT,
        state.host,
      );
    }
    if (typeof value === "function") {
      return this.#export(value, RefKind.FUNCTION);
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === Array.prototype) {
      const array = value as unknown[];
      const out = new Array(array.length);
      for (let i = 0; i < array.length; i++) {
        out[i] = this.lower(array[i], depth + 1);
      }
      return out;
    }
    if (proto === Object.prototype || proto === null) {
      const object = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(object)) {
        const lowered = this.lower(object[key], depth + 1);
        if (key === "__proto__") {
          // An own property named so, as the receiver rebuilds it.
          Object.defineProperty(out, key, {
            value: lowered,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else {
          out[key] = lowered;
        }
      }
      return out;
    }
    if (value instanceof Uint8Array) return this.#lowerBytes(value);
    if (proto === Date.prototype) {
      return new WireDate((value as Date).getTime());
    }
    if (proto === Map.prototype) {
      const entries: unknown[] = [];
      for (const [k, v] of value as Map<unknown, unknown>) {
        entries.push(this.lower(k, depth + 1), this.lower(v, depth + 1));
      }
      return new WireMap(entries);
    }
    if (proto === Set.prototype) {
      const items: unknown[] = [];
      for (const item of value as Set<unknown>) {
        items.push(this.lower(item, depth + 1));
      }
      return new WireSet(items);
    }
    if (value instanceof Error) return this.#lowerError(value, depth);
    const binaryType = BINARY_TYPES.get(proto);
    if (binaryType !== undefined) {
      const view = value as ArrayBufferView;
      return new WireBinary(
        binaryType,
        this.#lowerBytes(
          binaryType === BinaryType.ARRAY_BUFFER
            ? new Uint8Array(value as ArrayBuffer)
            : new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        ),
      );
    }
    const refusal = REFUSED.get(proto);
    if (refusal !== undefined) throw new Refused(value, refusal);
    // Async iterables and iterators (not collections) travel as streams.
    if (this.streams !== null && isStreamable(value as object)) {
      return this.streams.open(value as object);
    }
    return this.#export(value as object, RefKind.OBJECT);
  }

  #lowerBytes(bytes: Uint8Array): Uint8Array | WireBlob {
    if (bytes.length < BLOB_MIN_BYTES || !this.peerBlobs) return bytes;
    // Sent after the msgpack value, uncopied by the codec.
    const blob = new WireBlob(this.#blobBytes, bytes.length);
    this.#blobs.push(bytes);
    this.#blobBytes += bytes.length;
    return blob;
  }

  /**
   * Reduces an error (or anything thrown) to the fields that travel.
   *
   * @param error What was thrown.
   * @returns The marker to encode.
   * @throws {TypeError} Naming the path of a part that cannot travel.
   */
  lowerError(error: unknown): WireError {
    try {
      return this.#lowerError(error, 0);
    } catch (refused) {
      throw named(refused, error, "error");
    }
  }

  #lowerError(error: unknown, depth: number): WireError {
    if (!(error instanceof Error)) {
      return new WireError({
        name: "Error",
        message: `Non-error thrown: ${String(error)}`,
      });
    }
    const fields: RemoteErrorInit = {
      name: String(error.name),
      message: String(error.message),
    };
    if (this.#includeStack && typeof error.stack === "string") {
      fields.stack = error.stack;
    }
    const code = (error as { code?: unknown }).code;
    if (code !== undefined) fields.code = this.lower(code, depth + 1);
    if (error.cause !== undefined) {
      fields.cause = this.lower(error.cause, depth + 1);
    }
    let data: Record<string, unknown> | undefined;
    for (const key of Object.keys(error)) {
      if (STANDARD_ERROR_FIELDS.has(key)) continue;
      const value = (error as unknown as Record<string, unknown>)[key];
      if (!isErrorData(value, depth + 1)) continue;
      (data ??= {})[key] = this.lower(value, depth + 1);
    }
    if (data !== undefined) fields.fields = data;
    return new WireError(fields);
  }
}

/** Fields an error carries by their own name on the wire. */
const STANDARD_ERROR_FIELDS = new Set([
  "name",
  "message",
  "stack",
  "code",
  "cause",
]);

/**
 * Whether an error's field is plain data, sent with it: a primitive other
 * than a symbol, a date, or an array or plain object of those.
 */
function isErrorData(value: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return true;
    case "object": {
      if (value === null || value instanceof Date) return true;
      const proto = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        return value.every((item) => isErrorData(item, depth + 1));
      }
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value).every((item) => isErrorData(item, depth + 1));
    }
    default:
      return false;
  }
}
