/**
 * TLS and mutual TLS on the server side, over `node:tls`. On Deno 2.9
 * `Deno.listenTls` cannot ask for or verify client certificates (it ignores
 * `requestCert`), while `node:tls` with `requestCert` and
 * `rejectUnauthorized` refuses, during the handshake, every client without
 * a certificate signed by one of the given CAs. And a `Deno.listenTls`
 * socket closed before its handshake is done stays open until the handshake
 * ends, which a client that sends nothing never lets happen: its descriptor
 * would be held for good. A `node:tls` socket can be destroyed at any time.
 *
 * @module
 */

import type { Socket } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import type { ConnectionGate, GatedListener } from "./types.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { ReadQueue } from "./read_queue.ts";
import type { ByteStream } from "./types.ts";

/** Bytes received and not yet read before the socket is paused. */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * A `node:net` or `node:tls` socket as a {@linkcode ByteStream}: incoming
 * chunks are queued (the socket pauses past 1 MiB unread), and `write()`
 * resolves once the socket has taken the data, so the caller may reuse it.
 */
class NodeSocketStream implements ByteStream {
  #socket: Socket;
  #queue: ReadQueue;
  readonly remoteAddr: Deno.NetAddr | undefined;
  readonly peerCertificateSubject: string | undefined;

  constructor(socket: Socket, peerCertificateSubject?: string) {
    this.peerCertificateSubject = peerCertificateSubject;
    this.#socket = socket;
    // A paused socket resumes once the reader has taken half the backlog.
    this.#queue = new ReadQueue(() => {
      if (this.#queue.bytes <= HIGH_WATER_BYTES / 2 && socket.isPaused()) {
        socket.resume();
      }
    });
    const hostname = socket.remoteAddress;
    const port = socket.remotePort;
    this.remoteAddr = hostname !== undefined && port !== undefined
      ? { transport: "tcp", hostname, port }
      : undefined;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      if (this.#queue.bytes > HIGH_WATER_BYTES) socket.pause();
    });
    socket.on("end", () => this.#queue.end());
    socket.on("close", () => this.#queue.end());
    socket.on("error", (error: Error) => this.#queue.fail(error));
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#queue.read(buffer);
  }

  write(data: Uint8Array): Promise<number> {
    const error = this.#queue.error;
    if (error !== null) return Promise.reject(error);
    if (this.#socket.destroyed || this.#socket.writableEnded) {
      return Promise.reject(
        new Error("Cannot write: the TLS socket is closed"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(data.length);
      });
    });
  }

  close(): void {
    this.#queue.clear();
    this.#socket.destroy();
  }
}

/** Settings of {@linkcode listenNodeTls}. */
export interface ListenMutualTlsOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** The server's certificate chain (PEM). */
  cert: string;
  /** The private key (PEM) of `cert`. */
  key: string;
  /**
   * CA certificates (PEM): given, clients must present a certificate signed
   * by one (mutual TLS); absent, no client certificate is asked for.
   */
  ca?: string | string[];
  /** Milliseconds a client may take to complete the TLS handshake. */
  handshakeTimeout: number;
  /** Receives one line for each client refused during the handshake. */
  log: (message: string) => void;
}

/**
 * Listens for TLS connections. With `ca`, mutual TLS: a client is accepted
 * only with a certificate signed by one of `ca`; any other is refused during
 * the TLS handshake, and the refusal is logged. A client whose handshake is
 * not done within `handshakeTimeout` is destroyed, and logged too.
 *
 * @param options Address, certificate, key, client CAs, handshake timeout, log.
 * @returns The listener, once it listens.
 * @throws {Error} If the address is taken (`EADDRINUSE`) or a PEM is invalid.
 *
 * @example
 * ```ts ignore
 * import { listenNodeTls } from "./tls_node.ts";
 * const listener = await listenNodeTls({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   cert: Deno.readTextFileSync("server.pem"),
 *   key: Deno.readTextFileSync("server.key"),
 *   ca: Deno.readTextFileSync("clients-ca.pem"),
 *   handshakeTimeout: 10_000,
 *   log: console.error,
 * });
 * listener.close();
 * ```
 */
export async function listenNodeTls(
  options: ListenMutualTlsOptions,
): Promise<GatedListener<Deno.NetAddr>> {
  const queue = new AcceptQueue();
  let gate: ConnectionGate | null = null;
  /** Sockets closed at the limit: their failed handshake is no news. */
  const refusedAtLimit = new WeakSet<Socket>();
  const server = createServer({
    cert: options.cert,
    key: options.key,
    ...(options.ca === undefined
      ? { requestCert: false, rejectUnauthorized: false }
      : { ca: options.ca, requestCert: true, rejectUnauthorized: true }),
    handshakeTimeout: options.handshakeTimeout || undefined,
  });
  // Each TCP socket takes its place as it arrives, before its handshake: a
  // flood of handshakes that never finish cannot get past maxConnections.
  server.on("connection", (socket: Socket) => {
    if (gate === null) return;
    if (!gate.enter()) {
      const who = socket.remoteAddress !== undefined
        ? formatPeer(socket.remoteAddress, socket.remotePort)
        : "a client";
      options.log(
        `refused ${who}: the server is at its limit of ${gate.max} connections; try again later`,
      );
      refusedAtLimit.add(socket);
      socket.destroy();
      return;
    }
    const held = gate;
    socket.once("close", () => held.leave());
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    queue.push(new NodeSocketStream(socket, certificateSubject(socket)));
  });
  server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
    // A refused socket is torn down before this runs: its own address is
    // gone, and only the TCP socket under it (`_parent`) still knows it.
    const raw = socket as TLSSocket & { _parent?: Socket | null };
    if (raw._parent && refusedAtLimit.has(raw._parent)) return;
    const host = socket.remoteAddress ?? raw._parent?.remoteAddress;
    const port = socket.remotePort ?? raw._parent?.remotePort;
    const who = host !== undefined ? formatPeer(host, port) : "a client";
    // Node reports a certificate it did not trust as a mere hang-up; the
    // reason is in authorizationError.
    const reason = socket.authorizationError ?? error.message;
    options.log(`refused ${who} during the TLS handshake: ${reason}`);
    // node:tls under Deno leaves a socket whose handshake timed out open:
    // it would hold its descriptor and place for good.
    socket.destroy();
    raw._parent?.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error: Error) => options.log(`TLS server: ${error}`));
  const address = server.address();
  if (address === null || typeof address === "string") {
    server.close();
    throw new Error("Cannot listen: the TLS server has no address");
  }
  return {
    addr: { transport: "tcp", hostname: address.address, port: address.port },
    accept: () => queue.accept(),
    close() {
      queue.close();
      server.close();
    },
    useGate(given: ConnectionGate) {
      gate = given;
    },
  };
}

/**
 * The subject of a mutual-TLS client's verified certificate, as
 * `CN=client,O=netref`; undefined without one.
 */
function certificateSubject(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate()?.subject as unknown as
    | Record<string, string | string[]>
    | undefined;
  if (subject === undefined || subject === null) return undefined;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(subject)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      parts.push(`${key}=${item}`);
    }
  }
  return parts.length === 0 ? undefined : parts.join(",");
}

function formatPeer(host: string, port: number | undefined): string {
  const address = host.includes(":") ? `[${host}]` : host;
  return port === undefined ? address : `${address}:${port}`;
}
