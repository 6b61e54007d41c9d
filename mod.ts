/**
 * netref: remote-object RPC for Deno, in the spirit of Python's RPyC.
 *
 * A server exposes a service; a client connects and reaches it as
 * `conn.root`. Data travels by copy, functions and objects by reference, so
 * callbacks and remote objects just work, and both ends may serve.
 *
 * This module holds what a user names: the client's functions and errors
 * (as `@netref/netref/client` exports them) and the server side. The types
 * of options and results that are rarely named are exported by
 * `@netref/netref/client` and `@netref/netref/server`; Python RPyC is in
 * `@netref/netref/rpyc`, service discovery in `@netref/netref/registry`.
 *
 * ```ts
 * import { connect, exposed, serve, service } from "@netref/netref";
 *
 * @service("test")
 * class TestService {
 *   @exposed foo() { return "foo"; }
 *   @exposed version = "1.0";
 * }
 *
 * await using server = serve(TestService, { port: 0 });
 * await using conn = await connect<TestService>("127.0.0.1", server.addr.port);
 * console.assert(await conn.root.foo() === "foo");
 * console.assert(await conn.root.version === "1.0");
 * ```
 *
 * @module
 */

import { rpycProtocol } from "./src/rpyc/server.ts";
import {
  type ServeOptions,
  type Server,
  serveTcp,
  type ServiceSource,
} from "./src/server/server.ts";
import {
  serveTls as serveTlsWith,
  serveUnix as serveUnixWith,
  type TlsServeOptions,
  type UnixServeOptions,
} from "./src/server/transports.ts";

export type {
  ByteStream,
  CallOptions,
  Connection,
  ConnectOptions,
  Remote,
} from "./client.ts";
export {
  AccessError,
  connect,
  ConnectionClosedError,
  connectStream,
  connectSubprocess,
  connectTls,
  connectUnix,
  connectWebSocket,
  dir,
  isNetref,
  ProtocolError,
  registerErrorClass,
  release,
  RemoteError,
  setAttr,
  TimeoutError,
  withOptions,
} from "./client.ts";
export type {
  ServeOptions,
  Server,
  ServerOptions,
  ServiceHooks,
  ServiceSource,
  StreamListener,
} from "./src/server/server.ts";
export { serveListener } from "./src/server/server.ts";
export { serveMemory, serveStdio } from "./src/server/transports.ts";
export { serveWebSocket, webSocketHandler } from "./src/server/websocket.ts";
export { memoryPair } from "./src/transport/memory.ts";
export { exposed, service } from "./src/core/exposure.ts";
export { currentCall } from "./src/core/context.ts";

/**
 * Serves a service over TCP, on loopback port 18811 unless told otherwise.
 * Python RPyC clients are answered on the same port (told apart by their
 * first bytes) unless `rpyc` is `false`.
 *
 * @param service A service class (one instance per connection, unless
 *   `shared`), or an object shared by every connection.
 * @param options Address, instancing, limits and the token.
 * @returns The running server; `server.addr.port` is the port picked when
 *   `port` is 0.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {TypeError} If `service` is neither a class nor an object.
 * @throws {RangeError} On an option out of range.
 *
 * @example Serving a class, one instance per connection
 * ```ts
 * import { exposed, serve } from "@netref/netref";
 *
 * class Counter {
 *   #count = 0;
 *   @exposed increment() { return ++this.#count; }
 * }
 * await using server = serve(Counter, { port: 0 });
 * console.assert(server.addr.port > 0);
 * ```
 */
export function serve(
  service: ServiceSource,
  options: ServeOptions = {},
): Server {
  return serveTcp(
    service,
    options,
    options.rpyc === false ? [] : [rpycProtocol()],
  );
}

/**
 * Serves a service over TLS, or mutual TLS when `ca` is given. Python RPyC
 * clients (`rpyc.ssl_connect`) are answered on the same port, as by
 * {@linkcode serve}, unless `rpyc` is `false`. A client that has not
 * finished its TLS handshake within `handshakeTimeout` is disconnected and
 * logged; each socket counts against `maxConnections` from its first byte.
 *
 * @param service A service class (one instance per connection, unless
 *   `shared`), or an object shared by every connection.
 * @param options Address, certificate and key, client CAs, and limits.
 * @returns The running server, once it listens.
 * @throws {TypeError} If `cert`, `key` or `ca` is not a PEM string.
 * @throws {Error} If the port is taken (`EADDRINUSE`).
 *
 * @example Mutual TLS
 * ```ts ignore
 * import { serveTls } from "@netref/netref";
 * import { TestService } from "./examples/test_service.ts";
 * const server = await serveTls(TestService, {
 *   port: 18821,
 *   cert: await Deno.readTextFile("server.pem"),
 *   key: await Deno.readTextFile("server.key"),
 *   ca: await Deno.readTextFile("clients-ca.pem"),
 * });
 * await server.finished;
 * ```
 */
export function serveTls(
  service: ServiceSource,
  options: TlsServeOptions,
): Promise<Server> {
  return serveTlsWith(
    service,
    options,
    options?.rpyc === false ? [] : [rpycProtocol()],
  );
}

/**
 * Serves a service on a Unix domain socket. Python RPyC clients
 * (`rpyc.unix_connect`) are answered on the same socket, as by
 * {@linkcode serve}, unless `rpyc` is `false`. A stale socket file (nothing
 * accepts on it) is replaced; shutting down removes the file. Needs
 * `--allow-read` and `--allow-write` for the path.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options The socket's path and mode, and limits.
 * @returns The running server, once it listens.
 * @throws {TypeError} If `path` is missing.
 * @throws {Deno.errors.AddrInUse} If a server already listens at `path`.
 *
 * @example
 * ```ts ignore
 * import { serveUnix } from "@netref/netref";
 * import { TestService } from "./examples/test_service.ts";
 * const server = await serveUnix(TestService, { path: "/tmp/netref.sock" });
 * await server.finished;
 * ```
 */
export function serveUnix(
  service: ServiceSource,
  options: UnixServeOptions,
): Promise<Server<Deno.UnixAddr>> {
  return serveUnixWith(
    service,
    options,
    options?.rpyc === false ? [] : [rpycProtocol()],
  );
}
