/**
 * `maxConnections`, counted from the moment a socket is accepted: while its
 * protocol is sniffed, during a TLS handshake, and until it is closed,
 * whichever way it ends. A socket over the limit is refused at once.
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import { IMPLEMENTATION } from "../core/opening.ts";
import { encodeHello } from "../protocol/handshake.ts";
import { closeQuietly } from "../transport/accept_queue.ts";
import type { ByteStream, ConnectionGate } from "../transport/types.ts";

/**
 * Refused sockets being told why at once; beyond that many, a refused
 * socket is closed without a word, so that a flood costs nothing held.
 */
const MAX_REFUSING = 256;
/** How long a refused socket may take to hear why before it is closed. */
const REFUSAL_MS = 1000;

/**
 * The places of one server: one per open socket, at most `max`.
 *
 * @example
 * ```ts
 * import { Places } from "./admission.ts";
 * const places = new Places(1);
 * console.assert(places.enter() && !places.enter());
 * places.leave();
 * console.assert(places.count === 0);
 * ```
 */
export class Places implements ConnectionGate {
  readonly max: number;
  #count = 0;
  readonly #refusing = new Set<ByteStream>();

  /** @param max The most sockets open at once (maxConnections). */
  constructor(max: number) {
    this.max = max;
  }

  /** Sockets holding a place. */
  get count(): number {
    return this.#count;
  }

  /**
   * Takes a place for a new socket.
   *
   * @returns False when none is free.
   */
  enter(): boolean {
    if (this.#count >= this.max) return false;
    this.#count++;
    return true;
  }

  /** Gives a place back. */
  leave(): void {
    this.#count--;
  }

  /**
   * Refuses a socket over the limit: it is sent a netref hello that says why
   * (a netref client reports it), then closed once the peer hangs up or
   * after a second. Nothing is read from it first.
   *
   * @param stream The refused socket.
   * @param reason Why, for the peer.
   */
  refuse(stream: ByteStream, reason: string): void {
    if (this.#refusing.size >= MAX_REFUSING) return closeQuietly(stream);
    this.#refusing.add(stream);
    tellRefusal(stream, reason).finally(() => {
      this.#refusing.delete(stream);
      closeQuietly(stream);
    });
  }

  /** Closes the sockets still being told they are refused, as at shutdown. */
  closeRefused(): void {
    for (const stream of this.#refusing) closeQuietly(stream);
  }
}

/**
 * Writes the refusing hello and waits (at most {@linkcode REFUSAL_MS}) for
 * the peer to close: closing with its hello unread would reset the
 * connection, and the peer might lose the reason.
 */
async function tellRefusal(stream: ByteStream, reason: string): Promise<void> {
  const hello = encodeHello({
    implementation: IMPLEMENTATION,
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    features: [],
    refused: reason,
  });
  const drain = async () => {
    let offset = 0;
    while (offset < hello.length) {
      offset += await stream.write(hello.subarray(offset));
    }
    const sink = new Uint8Array(1024);
    // Up to 64 KiB (a hello and some) before giving up on a clean close.
    for (let i = 0; i < 64; i++) {
      if (await stream.read(sink) === null) return;
    }
  };
  // A write or read left pending fails once the stream is closed.
  await withTimeout(drain().catch(() => {}), REFUSAL_MS);
}

/**
 * A stream that gives its place back once, when it is closed: every way a
 * connection ends closes its stream.
 */
export class PlacedStream implements ByteStream {
  readonly #inner: ByteStream;
  #leave: (() => void) | null;

  /**
   * @param inner The accepted stream.
   * @param leave Gives its place back; null when the listener counts it.
   */
  constructor(inner: ByteStream, leave: (() => void) | null) {
    this.#inner = inner;
    this.#leave = leave;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr | undefined {
    return this.#inner.remoteAddr;
  }

  /** The subject of the peer's certificate, as the inner stream has it. */
  get peerCertificateSubject(): string | undefined {
    return this.#inner.peerCertificateSubject;
  }

  /**
   * Reads from the accepted stream.
   *
   * @param buffer Where to read into.
   * @returns Bytes read, or null at end of stream.
   */
  read(buffer: Uint8Array): Promise<number | null> {
    return this.#inner.read(buffer);
  }

  /**
   * Writes to the accepted stream.
   *
   * @param data Bytes to write.
   * @returns Bytes written.
   */
  write(data: Uint8Array): Promise<number> {
    return this.#inner.write(data);
  }

  /**
   * Closes the accepted stream and gives its place back.
   *
   * @returns What the inner stream's close returns.
   */
  close(): void | Promise<void> {
    const leave = this.#leave;
    this.#leave = null;
    try {
      return this.#inner.close();
    } finally {
      leave?.();
    }
  }
}
