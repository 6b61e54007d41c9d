/**
 * A stream whose first bytes were already read (to tell its protocol apart)
 * and are handed out again before the rest.
 *
 * @module
 */

import type { ByteStream } from "./types.ts";

/**
 * Replays `prefix`, then the result of a read already under way (if any),
 * then reads from `inner`.
 *
 * @example
 * ```ts ignore
 * import { PeekedStream } from "./peeked.ts";
 * const conn = await Deno.connect({ port: 18811 });
 * const first = new Uint8Array(4);
 * await conn.read(first);
 * const stream = new PeekedStream(conn, first);
 * ```
 */
export class PeekedStream implements ByteStream {
  #inner: ByteStream;
  #prefix: Uint8Array | null;
  #pending: Promise<Uint8Array | null> | null;

  /**
   * Wraps a stream.
   *
   * @param inner The stream the bytes were read from.
   * @param prefix The bytes already read, handed out first.
   * @param pending A read of `inner` still under way, whose bytes come next
   *   (null at end of stream).
   */
  constructor(
    inner: ByteStream,
    prefix: Uint8Array,
    pending: Promise<Uint8Array | null> | null = null,
  ) {
    this.#inner = inner;
    this.#prefix = prefix.length > 0 ? prefix : null;
    this.#pending = pending;
    // A stream closed before its first read (a client refused) fails that
    // read: it must not be an unhandled rejection, which exits the process.
    // A reader still sees the failure.
    pending?.catch(() => {});
  }

  /** The peer's address, as the inner stream has it. */
  get remoteAddr(): Deno.Addr | undefined {
    return this.#inner.remoteAddr;
  }

  /** The subject of the peer's certificate, as the inner stream has it. */
  get peerCertificateSubject(): string | undefined {
    return this.#inner.peerCertificateSubject;
  }

  /**
   * Reads the replayed bytes first, then from the inner stream.
   *
   * @param buffer Where to read into.
   * @returns Bytes read, or null at end of stream.
   */
  read(buffer: Uint8Array): Promise<number | null> {
    // Once the replayed bytes are out, reads go straight to the inner stream,
    // with no async hop of their own.
    if (this.#prefix === null && this.#pending === null) {
      return this.#inner.read(buffer);
    }
    return this.#replay(buffer);
  }

  async #replay(buffer: Uint8Array): Promise<number | null> {
    if (this.#prefix === null && this.#pending !== null) {
      const bytes = await this.#pending;
      this.#pending = null;
      if (bytes === null) return null;
      this.#prefix = bytes.length > 0 ? bytes : null;
    }
    const prefix = this.#prefix;
    if (prefix === null) return await this.#inner.read(buffer);
    const n = Math.min(buffer.length, prefix.length);
    buffer.set(prefix.subarray(0, n));
    this.#prefix = n === prefix.length ? null : prefix.subarray(n);
    return n;
  }

  /**
   * Writes to the inner stream.
   *
   * @param data Bytes to write.
   * @returns Bytes written.
   */
  write(data: Uint8Array): Promise<number> {
    return this.#inner.write(data);
  }

  /**
   * Closes the inner stream.
   *
   * @returns What the inner stream's close returns.
   */
  close(): void | Promise<void> {
    return this.#inner.close();
  }
}
