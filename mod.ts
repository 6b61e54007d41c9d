/**
 * netref: remote-object RPC for Deno, in the spirit of Python's RPyC.
 *
 * A server exposes a service; a client connects and reaches it as
 * `conn.root`. Data travels by copy, functions and objects by reference, so
 * callbacks and remote objects just work, and both ends may serve.
 *
 * ```ts ignore
 * import { connect, exposed, serve, service } from "@netref/netref";
 *
 * @service("test")
 * class TestService {
 *   @exposed foo() { return "foo"; }
 *   @exposed version = "1.0";
 * }
 *
 * await using server = serve(TestService, { port: 0 });
 * await using conn = await connect<TestService>("localhost", server.addr.port);
 * console.log(await conn.root.foo()); // "foo"
 * ```
 *
 * @module
 */

export type {
  AnyFunction,
  CallOptions,
  Connection,
  ConnectionStats,
  CopiedValue,
  HasMethods,
  PeerInfo,
  Received,
  Remote,
  RemoteMember,
  RemoteMembers,
  RemoteResult,
  ResolvedOptions,
} from "./src/core/types.ts";
export type { ConnectionOptions } from "./src/core/open.ts";
export type { ConnectOptions } from "./src/client/connect.ts";
export type { MemberInfo } from "./src/core/proxy.ts";
export type { ErrorClass, RemoteErrorInit } from "./src/errors.ts";
export type { CallContext } from "./src/core/context.ts";
export type { MemberAccess } from "./src/core/exposure.ts";
export type {
  ForeignContext,
  ForeignProtocol,
  ServedConnection,
  ServeListenerOptions,
  ServeOptions,
  Server,
  ServerOptions,
  ServiceHooks,
  ServiceSource,
  ShutdownOptions,
  StreamListener,
} from "./src/server/server.ts";
export type { ByteStream } from "./src/transport/types.ts";
export type { TlsConnectOptions } from "./src/client/transports.ts";
export type {
  SubprocessConnection,
  SubprocessOptions,
} from "./src/client/subprocess.ts";
export type {
  MemoryServer,
  StdioServeOptions,
  TlsServeOptions,
  UnboundServer,
  UnixServeOptions,
} from "./src/server/transports.ts";
export type {
  WebSocketHandler,
  WebSocketHandlerOptions,
  WebSocketServeOptions,
} from "./src/server/websocket.ts";
export { connect, connectStream } from "./src/client/connect.ts";
export { serve, serveListener } from "./src/server/server.ts";
export {
  connectTls,
  connectUnix,
  connectWebSocket,
} from "./src/client/transports.ts";
export { connectSubprocess } from "./src/client/subprocess.ts";
export {
  serveMemory,
  serveStdio,
  serveTls,
  serveUnix,
} from "./src/server/transports.ts";
export { serveWebSocket, webSocketHandler } from "./src/server/websocket.ts";
export { memoryPair } from "./src/transport/memory.ts";
export type { RpycConnectOptions } from "./src/compat/rpyc/client.ts";
export { connectRpyc, kwargs, PyKwargs } from "./src/compat/rpyc/client.ts";
export { rpycProtocol } from "./src/compat/rpyc/server.ts";
export type {
  InstanceInit,
  RegisterOptions,
  Registration,
  Registry,
  RegistryEvent,
  ServiceInstance,
  WatchOptions,
} from "./src/registry/types.ts";
export type { OpenRegistryOptions, RegistryUrl } from "./src/registry/url.ts";
export type {
  ConnectByServiceOptions,
  DiscoverOptions,
  SelectionPolicy,
} from "./src/registry/discover.ts";
export type { AnnounceOptions } from "./src/registry/announce.ts";
export type {
  RegistryServiceOptions,
  WatchStart,
} from "./src/registry/service.ts";
export type { ServeRegistryOptions } from "./src/registry/serve_registry.ts";
export { DEFAULT_REGISTRY_PORT } from "./src/defaults.ts";
export { RegistryError, ServiceUnavailableError } from "./src/errors.ts";
export { openRegistry, parseRegistryUrl } from "./src/registry/url.ts";
export { connectByService, discover } from "./src/registry/discover.ts";
export { formatInstances } from "./src/registry/format.ts";
export { announce } from "./src/registry/announce.ts";
export { RegistryService } from "./src/registry/service.ts";
export { serveRegistry } from "./src/registry/serve_registry.ts";
export { exposed, service, serviceName } from "./src/core/exposure.ts";
export { currentCall } from "./src/core/context.ts";
export {
  dir,
  isNetref,
  release,
  setAttr,
  withOptions,
} from "./src/core/proxy.ts";
export {
  AccessError,
  ConnectionClosedError,
  ProtocolError,
  registerErrorClass,
  RemoteError,
  TimeoutError,
} from "./src/errors.ts";
