/**
 * The duplex byte stream every transport gives the connection core.
 *
 * @module
 */

/**
 * A duplex byte stream. `Deno.Conn` (TCP, TLS, Unix) satisfies it as is.
 *
 * @example
 * ```ts ignore
 * import type { ByteStream } from "./types.ts";
 * const stream: ByteStream = await Deno.connect({ port: 18811 });
 * ```
 */
export interface ByteStream {
  /**
   * Reads into `buffer`.
   *
   * @returns The number of bytes read, or null at end of stream.
   */
  read(buffer: Uint8Array): Promise<number | null>;
  /**
   * Writes some of `data`.
   *
   * @returns The number of bytes written.
   */
  write(data: Uint8Array): Promise<number>;
  /**
   * Closes both directions. A transport with a closing handshake may return
   * a promise that settles once it is done; callers wait for it, briefly.
   */
  close(): void | Promise<void>;
  /** The peer's address, for network streams. */
  readonly remoteAddr?: Deno.Addr;
}

/** What a server accepts connections from. */
export interface StreamListener<A extends Deno.Addr = Deno.Addr> {
  /** Where it listens. */
  readonly addr: A;
  /** The next connection; rejects once the listener is closed. */
  accept(): Promise<ByteStream>;
  /** Stops listening. */
  close(): void;
}
