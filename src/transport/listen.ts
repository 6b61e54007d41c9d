/**
 * `listen(spec)`: the one way a server starts listening, whatever the
 * transport: TCP, TLS and mutual TLS (over `node:tls`), a Unix socket, or
 * WebSocket on an HTTP server of its own. Every `serve*` function and the
 * command line's `serve` listen through it.
 *
 * @module
 */

import type { Address } from "./address.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_PORT,
  DEFAULT_TLS_PORT,
  DEFAULT_WEBSOCKET_PORT,
} from "../defaults.ts";
import { formatHostPort, listenTcp } from "./tcp.ts";
import { explainListenError } from "./os_errors.ts";
import { listenNodeTls } from "./tls_node.ts";
import type { StreamListener } from "./types.ts";
import { listenUnix } from "./unix.ts";
import { WebSocketListener } from "./websocket.ts";

/** Where and how to listen on TCP. */
export interface TcpListenSpec {
  readonly transport: "tcp";
  /** @default {"127.0.0.1"} */
  readonly hostname?: string;
  /** 0 picks a free port. @default {18811} */
  readonly port?: number;
}

/** Where and how to listen for TLS, or mutual TLS with `ca`. */
export interface TlsListenSpec {
  readonly transport: "tls";
  /** @default {"127.0.0.1"} */
  readonly hostname?: string;
  /** 0 picks a free port. @default {18821} */
  readonly port?: number;
  /** The server's certificate chain (PEM). */
  readonly cert: string;
  /** The private key (PEM) of `cert`. */
  readonly key: string;
  /** CAs (PEM) whose client certificates are required: mutual TLS. */
  readonly ca?: string | readonly string[];
  /** Milliseconds a client may take to complete the TLS handshake. */
  readonly handshakeTimeout: number;
  /** Receives one line for each client refused. */
  readonly log: (message: string) => void;
}

/** Where and how to listen on a Unix socket. */
export interface UnixListenSpec {
  readonly transport: "unix";
  /** Where to create the socket. */
  readonly path: string;
  /** The socket file's mode. @default {0o600} */
  readonly mode?: number;
}

/** Where and how to listen for WebSocket clients. */
export interface WebSocketListenSpec {
  readonly transport: "websocket";
  /** @default {"127.0.0.1"} */
  readonly hostname?: string;
  /** 0 picks a free port. @default {18880} */
  readonly port?: number;
  /** The URL path clients connect to; other paths get 404. @default {"/"} */
  readonly path?: string;
  /** Origins whose pages may connect, or `["*"]`. @default {[]} */
  readonly allowedOrigins?: readonly string[];
}

/** What {@linkcode listen} starts. */
export type ListenSpec =
  | TcpListenSpec
  | TlsListenSpec
  | UnixListenSpec
  | WebSocketListenSpec;

/** A listener, listening. */
export interface Listening<A extends Deno.Addr = Deno.Addr> {
  /** Where connections come from (a `GatedListener` for TLS). */
  readonly listener: StreamListener<A>;
  /** Where clients connect, as `dial()` takes it. */
  readonly address: Address;
  /**
   * Stops what the listener runs on (a WebSocket listener's HTTP server),
   * once the server using it has closed its connections.
   */
  release(): Promise<void>;
}

/**
 * Starts listening as `spec` says.
 *
 * @param spec The transport and where.
 * @returns The listener, listening.
 * @throws {TypeError} If a certificate or key is not a PEM string, a path
 *   is empty, or a URL path does not start with "/".
 * @throws {Error} If it cannot listen there (address in use, no
 *   permission, an invalid PEM).
 */
export async function listen(spec: ListenSpec): Promise<Listening> {
  const release = () => Promise.resolve();
  switch (spec.transport) {
    case "tcp": {
      const listener = listenTcp(
        spec.hostname ?? DEFAULT_HOSTNAME,
        spec.port ?? DEFAULT_PORT,
      );
      const { hostname, port } = listener.addr;
      return {
        listener,
        address: { transport: "tcp", hostname, port },
        release,
      };
    }
    case "tls": {
      checkPem(spec.cert, "cert");
      checkPem(spec.key, "key");
      const ca = spec.ca;
      if (ca !== undefined) {
        for (const pem of typeof ca === "string" ? [ca] : ca) {
          checkPem(pem, "ca");
        }
      }
      const listener = await listenNodeTls({
        hostname: spec.hostname ?? DEFAULT_HOSTNAME,
        port: spec.port ?? DEFAULT_TLS_PORT,
        cert: spec.cert,
        key: spec.key,
        ca: typeof ca === "string" || ca === undefined ? ca : [...ca],
        handshakeTimeout: spec.handshakeTimeout,
        log: spec.log,
      });
      const { hostname, port } = listener.addr;
      return {
        listener,
        address: { transport: "tls", hostname, port },
        release,
      };
    }
    case "unix": {
      const path = spec.path;
      if (typeof path !== "string" || path === "") {
        throw new TypeError("Cannot listen: path must be a non-empty string");
      }
      const listener = await listenUnix(path, spec.mode);
      return { listener, address: { transport: "unix", path }, release };
    }
    case "websocket":
      return listenWebSocket(spec);
  }
}

/**
 * Listens for WebSocket clients on an HTTP server of its own (`Deno.serve`):
 * upgrades at `path`, 404 elsewhere. Synchronous, unlike {@linkcode listen}.
 *
 * @param spec Where, the URL path, and the allowed origins.
 * @returns The listener; `release()` stops the HTTP server.
 * @throws {TypeError} If `path` does not start with "/".
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 */
export function listenWebSocket(
  spec: WebSocketListenSpec,
): Listening<Deno.NetAddr> {
  const path = spec.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new TypeError(`Cannot serve on path ${path}: it must start with "/"`);
  }
  let listener: WebSocketListener | null = null;
  const hostname = spec.hostname ?? DEFAULT_HOSTNAME;
  const port = spec.port ?? DEFAULT_WEBSOCKET_PORT;
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      handler: (request, info) =>
        listener !== null && new URL(request.url).pathname === path
          ? listener.handle(request, info)
          : new Response("netref: not found\n", { status: 404 }),
    });
  } catch (error) {
    throw explainListenError(error, formatHostPort(hostname, port));
  }
  const ws = new WebSocketListener({
    addr: http.addr,
    allowedOrigins: spec.allowedOrigins,
  });
  listener = ws;
  const host = http.addr.hostname.includes(":")
    ? `[${http.addr.hostname}]`
    : http.addr.hostname;
  return {
    listener: ws as StreamListener<Deno.NetAddr>,
    address: {
      transport: "websocket",
      url: `ws://${host}:${http.addr.port}${path}`,
    },
    // The HTTP server stops after the WebSockets on it have closed.
    release: () => http.shutdown(),
  };
}

function checkPem(value: unknown, name: string): asserts value is string {
  if (typeof value !== "string" || !value.includes("-----BEGIN")) {
    throw new TypeError(
      `Cannot serve over TLS: ${name} must be a PEM string (read the file with Deno.readTextFile)`,
    );
  }
}
