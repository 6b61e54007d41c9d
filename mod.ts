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
export {
  serveMemory,
  serveStdio,
  serveTls,
  serveUnix,
} from "./src/server/transports.ts";
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
