/**
 * The listener `netref serve` serves on, for each transport: TCP, TLS
 * (mutual TLS with a CA), a Unix socket, or WebSocket on an HTTP server of
 * its own. Each is a plain `StreamListener`, so that `serve` can wrap it to
 * log connects and disconnects and hand it to `serveListener` with the
 * same options, whatever the transport.
 *
 * @module
 */

import type { StreamListener } from "../transport/types.ts";
import { formatAddr, listenTcp, prepareAccepted } from "../transport/tcp.ts";
import { listenNodeTls } from "../transport/tls_node.ts";
import { listenUnix } from "../transport/unix.ts";
import { WebSocketListener } from "../transport/websocket.ts";
import { readFlagFile } from "./dial.ts";
import type { Listen } from "./serve_args.ts";

/** A listener, and what `serve` says about it. */
export interface Listening {
  /** Where connections come from. */
  readonly listener: StreamListener<Deno.Addr>;
  /**
   * Where clients connect, as `call` takes it: `127.0.0.1:18811`,
   * `unix:/tmp/netref.sock` or `ws://127.0.0.1:18880/`.
   */
  readonly address: string;
  /** How, if the address does not say: "TLS" or "mutual TLS". */
  readonly note: string | null;
  /**
   * Stops what the listener runs on (the HTTP server of a WebSocket
   * listener); called once the server has finished.
   */
  release(): Promise<void>;
}

/** Options of {@linkcode openListener}. */
export interface OpenListenerOptions {
  /** Milliseconds a mutual-TLS client has to complete the TLS handshake. */
  handshakeTimeout: number;
  /** Receives clients refused during the TLS handshake. */
  log: (line: string) => void;
}

/**
 * Starts listening as `listen` says.
 *
 * @param listen The transport and where.
 * @param options The TLS handshake timeout, and a log.
 * @returns The listener, listening.
 * @throws {FlagFileError} If a certificate or key file cannot be read.
 * @throws {Error} If it cannot listen there (address in use, no
 *   permission, a certificate that is not valid PEM).
 *
 * @example
 * ```ts ignore
 * import { openListener } from "./listen.ts";
 * const listening = await openListener(
 *   { transport: "unix", path: "/tmp/netref.sock" },
 *   { handshakeTimeout: 10_000, log: console.error },
 * );
 * console.log(listening.address); // unix:/tmp/netref.sock
 * listening.listener.close();
 * ```
 */
export async function openListener(
  listen: Listen,
  options: OpenListenerOptions,
): Promise<Listening> {
  const release = () => Promise.resolve();
  switch (listen.transport) {
    case "tcp": {
      const tcp = listenTcp(listen.host, listen.port);
      return {
        listener: {
          addr: tcp.addr,
          accept: async () => prepareAccepted(await tcp.accept()),
          close: () => tcp.close(),
        },
        address: formatAddr(tcp.addr),
        note: null,
        release,
      };
    }
    case "tls": {
      const cert = await readFlagFile("--tls-cert", listen.certFile);
      const key = await readFlagFile("--tls-key", listen.keyFile);
      const ca = listen.caFile === undefined
        ? undefined
        : await readFlagFile("--tls-ca", listen.caFile);
      // node:tls, not Deno.listenTls: it can ask for client certificates,
      // and drop a client whose handshake stalls.
      const listener = await listenNodeTls({
        hostname: listen.host,
        port: listen.port,
        cert,
        key,
        ca,
        handshakeTimeout: options.handshakeTimeout,
        log: options.log,
      });
      return {
        listener,
        address: formatAddr(listener.addr),
        note: ca === undefined ? "TLS" : "mutual TLS",
        release,
      };
    }
    case "unix": {
      const listener = await listenUnix(listen.path);
      return {
        listener,
        address: `unix:${listen.path}`,
        note: null,
        release,
      };
    }
    case "websocket":
      return listenWebSocket(listen.host, listen.port);
  }
}

/**
 * WebSocket clients at `/` on an HTTP server of its own, as
 * `serveWebSocket()` serves them, but as a listener `serve` can log.
 */
function listenWebSocket(host: string, port: number): Listening {
  let listener: WebSocketListener | null = null;
  const http = Deno.serve({
    hostname: host,
    port,
    onListen: () => {},
    handler: (request, info) =>
      listener !== null && new URL(request.url).pathname === "/"
        ? listener.handle(request, info)
        : new Response("netref: not found\n", { status: 404 }),
  });
  listener = new WebSocketListener({ addr: http.addr });
  const hostPart = formatAddr(http.addr);
  return {
    listener,
    address: `ws://${hostPart}/`,
    note: null,
    // The HTTP server stops after the WebSockets on it have closed.
    release: () => http.shutdown(),
  };
}
