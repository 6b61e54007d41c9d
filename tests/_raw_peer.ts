/**
 * A raw netref peer for attack tests: a bare `Deno.connect` socket that
 * writes whatever bytes a test gives it and reads back the server's hello and
 * frames, with every read bounded in time.
 *
 * @module
 */

import {
  type DecodeContext,
  decodeValue,
  encodeValue,
} from "../src/protocol/codec.ts";
import { Kind } from "../src/protocol/constants.ts";
import { encodeFrames, FrameDecoder } from "../src/protocol/frame.ts";
import {
  encodeHello,
  type Hello,
  parseHello,
} from "../src/protocol/handshake.ts";
import type { RemoteErrorInit } from "../src/errors.ts";

/** A reference the server exported to the raw peer, as received. */
export class RawRef {
  /**
   * @param id The server's ref id.
   * @param kind Its ref kind.
   */
  constructor(readonly id: number, readonly kind: number) {}
}

/** An object of the raw peer's coming back to it (it exports nothing). */
export class RawReturn {
  /** @param id The ref id. */
  constructor(readonly id: number) {}
}

/** A stream the server opened towards the raw peer, as received. */
export class RawStream {
  /**
   * @param id The stream id.
   * @param kind Its stream kind.
   */
  constructor(readonly id: number, readonly kind: number) {}
}

// References and errors are kept as data: a raw peer has no session.
const rawContext: DecodeContext = {
  importRef: (id, kind) => new RawRef(id, kind),
  returnedRef: (id) => new RawReturn(id),
  rebuildError: (fields: RemoteErrorInit) => ({ ...fields }),
  importStream: (id, kind) => new RawStream(id, kind),
};

/** A decoded message: `[kind, ...]`. */
export type RawMessage = unknown[];

/** How the server's side of the socket ended, if it did. */
export type RawEnd = "eof" | "error" | "timeout";

/** What a raw peer saw until the server closed the connection. */
export interface RawTranscript {
  /** Messages received before the end, the server's hello excluded. */
  messages: RawMessage[];
  /** EOF or a failed read: the server closed; timeout: it did not. */
  end: RawEnd;
  /** The reason the server gave: its CLOSE message, or its refusing hello. */
  closeReason: string | null;
}

/** The hello a well-behaved netref peer sends. */
export const GOOD_HELLO: Hello = {
  implementation: "raw-attacker/0.0.0",
  maxFrameBytes: 16 * 1024 * 1024,
  features: [],
};

type ReadResult = { n: number | null } | { error: unknown };

/**
 * A bare TCP peer. `await using` closes it and waits for its last read.
 *
 * @example
 * ```ts ignore
 * await using peer = await RawPeer.connect(server.addr.port);
 * await peer.sendHello();
 * await peer.sendMessages([Kind.REQUEST, 1, 0, Op.CALL, ["foo"], [], false]);
 * console.log(await peer.nextMessage()); // [RESPONSE, 1, "foo"]
 * ```
 */
export class RawPeer implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  /** The server's hello, once received. */
  hello: Hello | null = null;
  #received: Uint8Array = new Uint8Array(0);
  #decoder = new FrameDecoder(64 * 1024 * 1024);
  #messages: RawMessage[] = [];
  #end: RawEnd | null = null;
  #pendingRead: Promise<ReadResult> | null = null;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /**
   * Connects to a server on loopback.
   *
   * @param port The server's port.
   * @returns The connected peer; nothing is sent yet.
   */
  static async connect(port: number): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new RawPeer(conn);
  }

  /**
   * Plays the accepting side on a socket a test accepted: it reads the
   * client's hello, then its frames.
   *
   * @param conn The accepted socket.
   * @returns The peer; nothing is sent yet.
   */
  static accepted(conn: Deno.TcpConn): RawPeer {
    conn.setNoDelay(true);
    return new RawPeer(conn);
  }

  /**
   * Writes bytes as they are.
   *
   * @returns False if the write failed (the server already closed).
   */
  async send(bytes: Uint8Array): Promise<boolean> {
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await this.conn.write(bytes.subarray(offset));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a valid hello, with `overrides` applied. */
  sendHello(overrides: Partial<Hello> = {}): Promise<boolean> {
    return this.send(encodeHello({ ...GOOD_HELLO, ...overrides }));
  }

  /** Encodes each value as a msgpack payload and sends them as frames in one write. */
  sendMessages(...messages: unknown[]): Promise<boolean> {
    return this.send(encodeFrames(messages.map((m) => encodeValue(m))));
  }

  /** Sends raw payloads, each in its own frame, in one write. */
  sendPayloads(...payloads: Uint8Array[]): Promise<boolean> {
    return this.send(encodeFrames(payloads));
  }

  /**
   * The next message from the server (its hello is read first, silently).
   *
   * @param ms How long to wait.
   * @returns The message, or null if the server closed or `ms` passed.
   */
  async nextMessage(ms = 2000): Promise<RawMessage | null> {
    const deadline = performance.now() + ms;
    while (this.#messages.length === 0 && this.#end === null) {
      if (!await this.#readOnce(deadline)) break;
    }
    return this.#messages.shift() ?? null;
  }

  /**
   * The answer (RESPONSE or ERROR) to request `id`; other messages before it
   * are dropped.
   *
   * @returns The answer, or null if the server closed or `ms` passed.
   */
  async answerTo(id: number, ms = 2000): Promise<RawMessage | null> {
    const deadline = performance.now() + ms;
    for (;;) {
      const message = await this.nextMessage(deadline - performance.now());
      if (message === null) return null;
      if (
        (message[0] === Kind.RESPONSE || message[0] === Kind.ERROR) &&
        message[1] === id
      ) return message;
    }
  }

  /**
   * Reads until the server closes the connection or `ms` pass.
   *
   * @returns Every message received meanwhile and how the stream ended.
   */
  async readToEnd(ms = 2000): Promise<RawTranscript> {
    const deadline = performance.now() + ms;
    while (this.#end === null) {
      if (!await this.#readOnce(deadline)) {
        this.#end = "timeout";
        break;
      }
    }
    const messages = this.#messages;
    this.#messages = [];
    // Before the handshake completes, a server refuses in its hello.
    let closeReason: string | null = this.hello?.refused ?? null;
    for (const message of messages) {
      if (message[0] === Kind.CLOSE) closeReason = String(message[1]);
    }
    return { messages, end: this.#end, closeReason };
  }

  /** Half-closes: the server reads EOF, this peer can still read. */
  async closeWrite(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch {
      // Already closed by the server.
    }
  }

  /** Closes the socket and waits for the read in progress to give up. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.#pendingRead;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** One read, bounded by `deadline`; false if the deadline passed first. */
  async #readOnce(deadline: number): Promise<boolean> {
    const wait = deadline - performance.now();
    if (wait <= 0) return false;
    if (this.#pendingRead === null) {
      const buffer = new Uint8Array(64 * 1024);
      this.#pendingRead = this.conn.read(buffer).then(
        (n) => {
          if (n !== null) this.#take(buffer.subarray(0, n));
          return { n };
        },
        (error) => ({ error }),
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      this.#pendingRead,
      new Promise<null>((resolve) => timer = setTimeout(resolve, wait, null)),
    ]);
    clearTimeout(timer);
    if (result === null) return false;
    this.#pendingRead = null;
    if ("error" in result) this.#end = "error";
    else if (result.n === null) this.#end = "eof";
    return true;
  }

  #take(chunk: Uint8Array): void {
    if (this.hello === null) {
      const grown = new Uint8Array(this.#received.length + chunk.length);
      grown.set(this.#received);
      grown.set(chunk, this.#received.length);
      this.#received = grown;
      const parsed = parseHello(grown);
      if (parsed === null) return;
      this.hello = parsed.hello;
      chunk = grown.subarray(parsed.consumed);
      this.#received = new Uint8Array(0);
    }
    this.#decoder.push(chunk, (data, start, end, owned) => {
      const payload = data.subarray(start, end);
      this.#messages.push(
        decodeValue(payload, rawContext, owned) as RawMessage,
      );
    });
  }
}
