/**
 * The duplex byte stream every transport gives the connection core.
 *
 * @module
 */

/**
 * A duplex byte stream. `Deno.Conn` (TCP, TLS, Unix) satisfies it as is.
 *
 * @example
 * ```ts
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
  /**
   * The subject of the certificate the peer presented (a mutual-TLS
   * server's client), such as `CN=client,O=netref`.
   */
  readonly peerCertificateSubject?: string;
  /** Lets a pending read keep the process alive again (after `unref`). */
  ref?(): void;
  /** Lets the process exit while a read is pending (`Deno.Conn.unref`). */
  unref?(): void;
}

/** Counts a server's connections against its limit (`maxConnections`). */
export interface ConnectionGate {
  /** The most connections open at once. */
  readonly max: number;
  /**
   * Takes a place for a new connection.
   *
   * @returns False when none is free: the connection must be closed.
   */
  enter(): boolean;
  /** Gives a place back, once per place taken. */
  leave(): void;
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

/**
 * A listener that holds sockets before handing them out (one that runs the
 * TLS handshake itself): the server gives it its gate, and the listener
 * takes a place for each socket as it arrives, refuses those without one,
 * and gives the place back when the socket closes. The server then counts
 * nothing itself for this listener's streams.
 */
export interface GatedListener<A extends Deno.Addr = Deno.Addr>
  extends StreamListener<A> {
  /** Hands the listener the server's gate, before the first accept. */
  useGate(gate: ConnectionGate): void;
}
