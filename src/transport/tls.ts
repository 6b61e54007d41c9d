/**
 * TLS on the client side, over `Deno.connectTls`. The server side is in
 * `tls_node.ts`: `Deno.listenTls` can neither ask for client certificates
 * nor drop a client whose handshake stalls.
 *
 * @module
 */

import { ConnectionClosedError, errorMessage } from "../errors.ts";
import { abortable } from "./abortable.ts";
import { closeQuietly } from "./accept_queue.ts";
import { formatHostPort } from "./tcp.ts";
import type { ByteStream } from "./types.ts";

/** TLS settings of a client. */
export interface DialTlsOptions {
  /**
   * Certificates (PEM) of the CAs to trust for the server's certificate,
   * instead of the system's.
   *
   * @default {undefined} (the system's trusted CAs)
   */
  caCerts?: string[];
  /**
   * This client's certificate chain (PEM), for servers that require one
   * (mutual TLS). Give `key` with it.
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The private key (PEM) of `cert`.
   *
   * @default {undefined}
   */
  key?: string;
  /** Gives up on connecting and on the TLS handshake, rejecting with its reason. */
  signal?: AbortSignal;
}

/**
 * Connects over TLS and completes the handshake, so that an untrusted server
 * fails here with a clear error. A server that refuses this client (mutual
 * TLS) can only say so after the handshake: the returned stream turns that
 * first failure into a {@linkcode ConnectionClosedError} that says so.
 *
 * @param hostname The server's host; its certificate must name it.
 * @param port The server's port.
 * @param options CAs to trust, this client's certificate, and a signal.
 * @returns The connected stream.
 * @throws {ConnectionClosedError} If the TLS handshake fails.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 * @throws {TypeError} If only one of `cert` and `key` is given.
 *
 * @example
 * ```ts ignore
 * import { dialTls } from "./tls.ts";
 * const stream = await dialTls("localhost", 18821, {
 *   caCerts: [Deno.readTextFileSync("ca.pem")],
 * });
 * stream.close();
 * ```
 */
export async function dialTls(
  hostname: string,
  port: number,
  options: DialTlsOptions = {},
): Promise<ByteStream> {
  const { caCerts, cert, key } = options;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(
      "Cannot connect over TLS: give both cert and key, or neither",
    );
  }
  const label = formatHostPort(hostname, port);
  const signal = options.signal;
  const conn = await abortable(
    Deno.connectTls({
      hostname,
      port,
      caCerts,
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    }),
    signal,
  );
  // Closing the socket is what makes a handshake the server never answers end.
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await conn.handshake();
  } catch (error) {
    closeQuietly(conn);
    if (signal?.aborted) throw signal.reason;
    throw new ConnectionClosedError(
      `Cannot connect to ${label} over TLS: the TLS handshake failed: ${
        errorMessage(error)
      }`,
      { cause: error },
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (signal?.aborted) {
    closeQuietly(conn);
    throw signal.reason;
  }
  return new TlsClientStream(conn, label, cert !== undefined);
}

/**
 * A client's TLS stream. With TLS 1.3 the client's handshake completes
 * before the server has checked the client's certificate, so a refusal
 * arrives as the first read or write failing (a fatal alert, or the server
 * hanging up). Until the server's first byte has arrived, such a failure
 * becomes a {@linkcode ConnectionClosedError} naming the likely reason.
 */
class TlsClientStream implements ByteStream {
  #conn: Deno.TlsConn;
  #label: string;
  #withCert: boolean;
  #answered = false;

  constructor(conn: Deno.TlsConn, label: string, withCert: boolean) {
    this.#conn = conn;
    this.#label = label;
    this.#withCert = withCert;
  }

  get remoteAddr(): Deno.Addr {
    return this.#conn.remoteAddr;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#answered) return await this.#conn.read(buffer);
    let n: number | null;
    try {
      n = await this.#conn.read(buffer);
    } catch (error) {
      throw this.#refusal(error);
    }
    if (n === null) throw this.#refusal(null);
    this.#answered = true;
    return n;
  }

  async write(data: Uint8Array): Promise<number> {
    if (this.#answered) return await this.#conn.write(data);
    try {
      return await this.#conn.write(data);
    } catch (error) {
      throw this.#refusal(error);
    }
  }

  close(): void {
    this.#conn.close();
  }

  #refusal(error: unknown): Error {
    if (
      error instanceof Deno.errors.BadResource ||
      error instanceof Deno.errors.Interrupted
    ) {
      return error as Error; // Closed on this side, not refused.
    }
    const hint = this.#withCert
      ? "it did not accept this client's certificate (is it signed by a CA the server trusts?)"
      : "it requires a client certificate (pass cert and key)";
    const detail = error === null
      ? "the server closed the connection"
      // rustls appends a link to its manual: not for this audience.
      : errorMessage(error).replace(/:\s*https?:\/\/\S+$/, "");
    const alert = error instanceof Deno.errors.InvalidData &&
      /alert/i.test(detail);
    return new ConnectionClosedError(
      alert
        ? `Cannot connect to ${this.#label} over TLS: the server refused the TLS handshake (${detail}): ${hint}`
        : `Cannot connect to ${this.#label} over TLS: the server refused the TLS handshake, hanging up before it answered (${detail}): most likely ${hint}`,
      error === null ? undefined : { cause: error },
    );
  }
}
