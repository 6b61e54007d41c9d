/**
 * What the peer sends: its hello and frames read (`reader.ts`, each partial
 * frame under the frame deadline), each frame decoded (its refs, returned
 * exports, errors and streams brought to life here) and routed by kind.
 * Requests, cancels and releases go to `dispatch.ts`, answers to the
 * session's call table, stream messages to `streams.ts`.
 *
 * @module
 */

import { Kind, RefKind } from "../protocol/constants.ts";
import {
  type DecodeContext,
  decodeFrameValue,
  decodeValue,
  encodeValue,
  splitBlobFrame,
} from "../protocol/codec.ts";
import {
  ConnectionClosedError,
  ProtocolError,
  rebuildError,
  type RemoteErrorInit,
} from "../errors.ts";
import type { Hello } from "../protocol/handshake.ts";
import type { ByteStream } from "../transport/types.ts";
import { type Dispatcher, isId } from "./dispatch.ts";
import { FrameDeadline } from "./frame_deadline.ts";
import type { Pings } from "./liveness.ts";
import { makeRefProxy } from "./proxy.ts";
import type { ProxyHost } from "./proxy_state.ts";
import { FrameReader, type ReaderHost } from "./reader.ts";
import type { ExportTable, ImportTable } from "./refs.ts";
import type { StreamTable } from "./streams.ts";
import type { FrameWriter } from "./writer.ts";

/** What {@linkcode Inbound} needs of its session, beyond being its proxies' host. */
export interface InboundHost extends ProxyHost {
  /** Settles this side's call that a RESPONSE or ERROR answers. */
  onAnswer(message: unknown[]): void;
  /** Closes the session, as the peer's CLOSE asks. */
  close(reason: Error | null, notifyPeer: boolean): Promise<void>;
}

/** The session's stream and the parts that incoming messages reach. */
export interface InboundOptions {
  stream: ByteStream;
  maxFrameBytes: number;
  frameTimeout: number;
  /** Closes the session when a frame misses its deadline. */
  fail: (error: Error) => void;
  /** The object the peer reaches as `root`, or null to serve nothing. */
  root: object | null;
  dispatcher: Dispatcher;
  streams: StreamTable;
  imports: ImportTable;
  exports: ExportTable;
  /** Where PONGs go; reading pauses while it is congested. */
  writer: FrameWriter;
  pings: Pings;
}

/** Reads, decodes and routes one session's incoming frames. */
export class Inbound implements ReaderHost, DecodeContext {
  readonly label: string;
  readonly #host: InboundHost;
  readonly #reader: FrameReader;
  readonly #deadline: FrameDeadline;
  readonly #root: object | null;
  readonly #dispatcher: Dispatcher;
  readonly #streams: StreamTable;
  readonly #imports: ImportTable;
  readonly #exports: ExportTable;
  readonly #writer: FrameWriter;
  readonly #pings: Pings;

  /** A returned ref id that was not found while decoding the current message. */
  #unknownReturn: number | null = null;

  constructor(host: InboundHost, options: InboundOptions) {
    this.#host = host;
    this.label = host.label;
    this.#root = options.root;
    this.#dispatcher = options.dispatcher;
    this.#streams = options.streams;
    this.#imports = options.imports;
    this.#exports = options.exports;
    this.#writer = options.writer;
    this.#pings = options.pings;
    const { frameTimeout, fail } = options;
    this.#deadline = new FrameDeadline(
      frameTimeout,
      () =>
        fail(
          new ProtocolError(
            `${this.label} started a frame and did not finish it within ${frameTimeout} ms (frameTimeout)`,
          ),
        ),
    );
    this.#reader = new FrameReader(this, {
      stream: options.stream,
      maxFrameBytes: options.maxFrameBytes,
      writer: options.writer,
      deadline: this.#deadline,
    });
  }

  get isClosed(): boolean {
    return this.#host.isClosed;
  }

  /** Frames received so far. */
  get framesReceived(): number {
    return this.#reader.framesReceived;
  }

  /**
   * Reads the peer's hello.
   *
   * @returns The hello, and the bytes received after it.
   */
  hello(): Promise<{ hello: Hello; rest: Uint8Array }> {
    return this.#reader.hello();
  }

  /**
   * Reads and handles frames until the stream ends or the session closes.
   *
   * @param rest The bytes that came after the hello.
   * @returns True if the peer ended the stream, false if the session closed.
   * @throws {ProtocolError} If the stream ended in the middle of a frame.
   */
  read(rest: Uint8Array): Promise<boolean> {
    return this.#reader.run(rest);
  }

  /** A client's: the frame deadline's timer does not keep the process alive. */
  unrefTimers(): void {
    this.#deadline.unrefTimer = true;
  }

  /** The session closed: no frame is waited for any more. */
  stop(): void {
    this.#deadline.stop();
  }

  /** Handles one frame from the reader. */
  onFrame(
    data: Uint8Array,
    start: number,
    end: number,
    owned: boolean,
    blob: boolean,
  ): void {
    if (this.#host.isClosed) return;
    this.#unknownReturn = null;
    const streams = this.#streams;
    if (streams.imported.length > 0) streams.imported = [];
    let message: unknown;
    if (blob) {
      const { value, blobs } = splitBlobFrame(data.subarray(start, end));
      message = decodeValue(value, this, owned, blobs);
    } else {
      message = decodeFrameValue(data, start, end, this, owned);
    }
    if (!Array.isArray(message) || typeof message[0] !== "number") {
      throw new ProtocolError(
        "Cannot handle message: it is not an array [kind, ...]",
      );
    }
    switch (message[0]) {
      case Kind.REQUEST:
        return this.#dispatcher.onRequest(message, this.#unknownReturn);
      case Kind.RESPONSE:
      case Kind.ERROR:
        return this.#host.onAnswer(message);
      case Kind.CANCEL:
        return this.#dispatcher.onCancel(message);
      case Kind.RELEASE:
        return this.#dispatcher.onRelease(message);
      case Kind.PING:
        if (!isId(message[1])) {
          throw new ProtocolError("Cannot handle PING: bad id");
        }
        this.#writer.enqueue(encodeValue([Kind.PONG, message[1]]));
        return;
      case Kind.PONG:
        this.#pings.pong(message[1]);
        return;
      case Kind.STREAM_CREDIT:
        return streams.onCredit(message);
      case Kind.STREAM_ITEMS:
        return streams.onItems(message, end - start);
      case Kind.STREAM_END:
        return streams.onEnd(message);
      case Kind.STREAM_CANCEL:
        return streams.onCancel(message);
      case Kind.CLOSE:
        this.#host.close(
          new ConnectionClosedError(
            `${this.label} closed the connection: ${
              String(message[1] ?? "no reason given")
            }`,
          ),
          false,
        );
        return;
      default:
        throw new ProtocolError(
          `Cannot handle message: unknown kind ${message[0]}`,
        );
    }
  }

  importRef(id: number, kind: number): unknown {
    return this.#imports.get(
      id,
      kind,
      (entry) => makeRefProxy(this.#host, id, entry, kind === RefKind.FUNCTION),
    );
  }

  returnedRef(id: number): unknown {
    if (id === 0 && this.#root !== null) return this.#root;
    const object = this.#exports.get(id);
    if (object !== undefined) return object;
    this.#unknownReturn = id;
    return undefined;
  }

  rebuildError(fields: RemoteErrorInit): unknown {
    return rebuildError(fields);
  }

  importStream(id: number, kind: number): unknown {
    return this.#streams.importStream(id, kind);
  }
}
