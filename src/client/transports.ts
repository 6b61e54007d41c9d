/**
 * Connecting over TLS (and mutual TLS), Unix sockets and WebSocket (also
 * from browsers); to a child process in `subprocess.ts`.
 * Each dials its address with `dial()` and opens the connection as
 * `connect()` does, so options, limits, deadlines and errors are the same.
 *
 * Nothing here calls Deno at import time: browsers can load this module and
 * use {@linkcode connectWebSocket}.
 *
 * @module
 */

import type { Connection } from "../core/types.ts";
import { webSocketUrl } from "../transport/address.ts";
import { DEFAULT_TLS_PORT } from "../defaults.ts";
import {
  checkHostPort,
  type ConnectOptions,
  connectTo,
  resolveConnect,
} from "./connect.ts";

/** Options of {@linkcode connectTls}. */
export interface TlsConnectOptions extends ConnectOptions {
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
}

/**
 * Connects to a netref server over TLS. Give `cert` and `key` to present a
 * client certificate to a server that requires one (mutual TLS).
 *
 * @typeParam T The type of the server's service, for a typed `root`.
 * @param hostname The server's host; its certificate must name it.
 * @param port The server's port.
 * @param options CAs to trust, this client's certificate, timeouts, limits,
 *   and a service of this side's own.
 * @returns The open connection.
 * @throws {ConnectionClosedError} If the TLS handshake fails (the server's
 *   certificate is not trusted), or the server refuses this client: without
 *   a certificate, or with one it does not trust.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 * @throws {ProtocolError} If the server does not speak netref.
 * @throws {TypeError} If only one of `cert` and `key` is given.
 *
 * @example Mutual TLS
 * ```ts
 * import { connectTls } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connectTls<TestService>("localhost", 18821, {
 *   caCerts: [Deno.readTextFileSync("ca.pem")],
 *   cert: Deno.readTextFileSync("client.pem"),
 *   key: Deno.readTextFileSync("client.key"),
 * });
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectTls<T = unknown>(
  hostname: string = "localhost",
  port: number = DEFAULT_TLS_PORT,
  options: TlsConnectOptions = {},
): Promise<Connection<T>> {
  checkHostPort(hostname, port);
  const resolved = resolveConnect(options);
  const { caCerts, cert, key } = options;
  return await connectTo<T>(
    { transport: "tls", hostname, port },
    resolved,
    { caCerts, cert, key },
  );
}

/**
 * Connects to a netref server on a Unix domain socket.
 *
 * @typeParam T The type of the server's service, for a typed `root`.
 * @param path The socket's path.
 * @param options Timeouts, limits, and a service of this side's own.
 * @returns The open connection.
 * @throws {Deno.errors.NotFound} If there is no socket at `path`.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens on it.
 * @throws {ProtocolError} If the server does not speak netref.
 *
 * @example
 * ```ts
 * import { connectUnix } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connectUnix<TestService>("/tmp/netref.sock");
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectUnix<T = unknown>(
  path: string,
  options: ConnectOptions = {},
): Promise<Connection<T>> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError("Cannot connect: path must be a non-empty string");
  }
  const resolved = resolveConnect(options);
  return await connectTo<T>({ transport: "unix", path }, resolved);
}

/**
 * Connects to a netref server over a WebSocket. Uses only the standard
 * `WebSocket` API, so it works in browsers as well as in Deno.
 *
 * @typeParam T The type of the server's service, for a typed `root`.
 * @param url The server's `ws:` or `wss:` URL.
 * @param options Timeouts, limits, and a service of this side's own.
 * @returns The open connection.
 * @throws {TypeError} If `url` is not a valid URL.
 * @throws {ConnectionClosedError} If the WebSocket cannot be opened within
 *   `handshakeTimeout` (nothing listens, or the server refused the upgrade,
 *   for example for the page's origin).
 * @throws {ProtocolError} If the server does not speak netref.
 *
 * @example In a browser or in Deno
 * ```ts
 * import { connectWebSocket } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connectWebSocket<TestService>("ws://127.0.0.1:18880/");
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectWebSocket<T = unknown>(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<Connection<T>> {
  const resolved = resolveConnect(options);
  return await connectTo<T>(
    { transport: "websocket", url: webSocketUrl(url) },
    resolved,
  );
}
