/**
 * Outgoing messages: values lowered for the codec (references exported, Maps,
 * Sets, errors and blobs marked), then encoded into a frame within the
 * peer's limit. What a failed message exported is taken back.
 *
 * @module
 */

import {
  BLOB_MIN_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  RefKind,
} from "../protocol/constants.ts";
import {
  encodeValue,
  WireBlob,
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
import type { RemoteErrorInit } from "./errors.ts";
import { type ProxyHost, proxyState } from "./proxy.ts";
import type { ExportTable, ForwardSource } from "./refs.ts";

/** Deepest nesting of a value sent by copy; deeper is most likely a cycle. */
const MAX_DEPTH = 64;

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
    this.#blobs = [];
    this.#blobBytes = 0;
  }

  /**
   * Encodes a message whose values `lower` produced, within the peer's frame
   * limit: a plain payload, or a blob frame when blobs were collected.
   *
   * @param message The message, its values lowered.
   * @returns The frame to write.
   * @throws {RangeError} Over the peer's maxFrameBytes, or a bigint too large.
   */
  finish(message: unknown[]): OutgoingFrame {
    const bytes = encodeValue(message);
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
    for (let i = 0; i < args.length; i++) out[i] = this.lower(args[i], 1);
    return out;
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
      case "symbol":
        throw new TypeError(
          `Cannot send ${String(value)}: symbols do not travel`,
        );
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
    if (value instanceof Uint8Array) {
      if (value.length < BLOB_MIN_BYTES || !this.peerBlobs) return value;
      // Sent after the msgpack value, uncopied by the codec.
      const blob = new WireBlob(this.#blobBytes, value.length);
      this.#blobs.push(value);
      this.#blobBytes += value.length;
      return blob;
    }
    if (value instanceof Date) return value;
    if (value instanceof Map) {
      const entries: unknown[] = [];
      for (const [k, v] of value) {
        entries.push(this.lower(k, depth + 1), this.lower(v, depth + 1));
      }
      return new WireMap(entries);
    }
    if (value instanceof Set) {
      const items: unknown[] = [];
      for (const item of value) items.push(this.lower(item, depth + 1));
      return new WireSet(items);
    }
    if (value instanceof Error) return this.lowerError(value, depth);
    return this.#export(value as object, RefKind.OBJECT);
  }

  /**
   * Reduces an error (or anything thrown) to the fields that travel.
   *
   * @param error What was thrown.
   * @param depth How deep it sits in the message.
   * @returns The marker to encode.
   */
  lowerError(error: unknown, depth = 0): WireError {
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
    return new WireError(fields);
  }
}
