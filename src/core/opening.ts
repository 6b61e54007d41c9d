/**
 * How a netref connection opens: this side's hello (an acceptor's waits
 * until it accepts the peer, or carries why it refuses), the peer's hello
 * awaited for at most `handshakeTimeout`, checked, and its limits applied to
 * what this side sends, and `ready`, which settles once the handshake is
 * done (interceptors then hear of it) or the connection closed first.
 *
 * @module
 */

import { ConnectionClosedError, ProtocolError } from "../errors.ts";
import { MAX_FRAME_LENGTH } from "../protocol/constants.ts";
import {
  checkToken,
  encodeHello,
  type Hello,
  SILENT_SERVER_HINT,
} from "../protocol/handshake.ts";
import { announceOpened } from "./intercept.ts";
import { TRACE_CONTEXT } from "./intercepted.ts";
import type { MessageEncoder } from "./outbound.ts";
import type { Connection, PeerInfo, SessionOptions } from "./types.ts";
import type { FrameWriter } from "./writer.ts";

/** Name and version this implementation announces. */
export const IMPLEMENTATION = "netref-deno/0.1.0";

/** What the handshake reads of the session's options. */
export type OpeningOptions = Pick<
  SessionOptions,
  | "label"
  | "acceptor"
  | "maxFrameBytes"
  | "handshakeTimeout"
  | "serviceName"
  | "token"
  | "intercept"
  | "log"
>;

/** The session's parts the handshake works with. */
export interface OpeningParts {
  /** Where this side's hello goes, before any other frame. */
  writer: FrameWriter;
  /** Told the peer's frame limit and whether it takes blobs. */
  encoder: MessageEncoder;
  /** Closes the session when no hello came in time. */
  fail: (error: Error) => void;
}

/** The handshake of one session. */
export class Opening {
  /** Resolves once the handshake is done; rejects if the session closed first. */
  readonly ready: Promise<void>;
  /** What the peer announced, once its hello came. */
  peer: PeerInfo | null = null;
  /** Whether the peer's hello carried a token. */
  peerToken = false;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;
  readonly #writer: FrameWriter;
  readonly #encoder: MessageEncoder;
  readonly #options: OpeningOptions;
  readonly #timer: ReturnType<typeof setTimeout>;
  #helloSent = false;

  /**
   * Starts waiting for the peer's hello; a client sends its own at once.
   *
   * @param options The session's options.
   * @param parts What the handshake writes to, informs and fails.
   */
  constructor(options: OpeningOptions, parts: OpeningParts) {
    const { fail } = parts;
    this.#writer = parts.writer;
    this.#encoder = parts.encoder;
    this.#options = options;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A failed handshake is reported through connect()/the server log.
    this.ready.catch(() => {});
    this.#timer = setTimeout(() => {
      fail(
        new ProtocolError(
          `Cannot start connection: no hello from ${options.label} within ${options.handshakeTimeout} ms${
            options.acceptor ? "" : SILENT_SERVER_HINT
          }`,
        ),
      );
    }, options.handshakeTimeout);
    if (!options.acceptor) this.sendHello(null);
  }

  /** Whether this side's hello went out. */
  get helloSent(): boolean {
    return this.#helloSent;
  }

  /**
   * Sends this side's hello, or a hello refusing the peer with `refusal`.
   * It goes out before anything else, and only once.
   */
  sendHello(refusal: string | null): void {
    if (this.#helloSent) return;
    this.#helloSent = true;
    const options = this.#options;
    const hello: Hello = {
      implementation: IMPLEMENTATION,
      maxFrameBytes: options.maxFrameBytes,
      features: ["pipelining", "blobs", TRACE_CONTEXT],
    };
    if (options.serviceName !== undefined) hello.service = options.serviceName;
    if (refusal !== null) hello.refused = refusal;
    if (!options.acceptor && options.token !== undefined) {
      hello.token = options.token;
    }
    this.#writer.writeFirst(encodeHello(hello));
  }

  /**
   * Takes the peer's hello, which ends the wait for it.
   *
   * @param hello The peer's hello.
   * @throws {ConnectionClosedError} If the peer refused this side.
   * @throws {ProtocolError} If this side requires a token and the peer's
   *   differs.
   */
  received(hello: Hello): void {
    clearTimeout(this.#timer);
    if (hello.refused !== undefined) {
      throw new ConnectionClosedError(
        `${this.#options.label} refused the connection: ${hello.refused}`,
      );
    }
    if (this.#options.acceptor && this.#options.token !== undefined) {
      checkToken(hello, this.#options.token);
    }
    this.peer = {
      implementation: hello.implementation,
      maxFrameBytes: hello.maxFrameBytes,
      service: hello.service,
    };
    this.#encoder.peerMaxFrame = Math.min(
      hello.maxFrameBytes,
      MAX_FRAME_LENGTH,
    );
    this.#encoder.peerBlobs = hello.features.includes("blobs");
    this.peerToken = hello.token !== undefined;
  }

  /**
   * The handshake is done: `ready` resolves, and interceptors with an
   * `opened` hook are told.
   *
   * @param connection What the interceptors are given.
   */
  done(connection: Connection): void {
    this.#resolveReady();
    const options = this.#options;
    if (options.intercept !== null) {
      announceOpened(options.intercept, connection, options.label, options.log);
    }
  }

  /** The session closed: `ready`, if still waiting, rejects with `reason`. */
  close(reason: Error): void {
    clearTimeout(this.#timer);
    this.#rejectReady(reason);
  }
}
