/**
 * The netref client: connect to a netref server and use its objects through
 * `conn.root`. It holds no server, RPyC or registry code, so it is what a
 * browser bundles.
 *
 * ```ts
 * import { connect } from "@netref/netref/client";
 * import { exposed, serve } from "@netref/netref";
 *
 * class Hello {
 *   @exposed greet(name: string) { return `hello, ${name}`; }
 * }
 * await using server = serve(Hello, { port: 0 });
 * await using conn = await connect<Hello>("127.0.0.1", server.addr.port);
 * console.assert(await conn.root.greet("netref") === "hello, netref");
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
  RemoteAny,
  RemoteAnyCallable,
  RemoteAnyMember,
  RemoteAnyResult,
  RemoteMember,
  RemoteMembers,
  RemoteResult,
  StreamSource,
} from "./src/core/types.ts";
export type { ConnectionOptions } from "./src/core/open.ts";
export type {
  CallPeer,
  InterceptedCall,
  Interceptor,
  TraceContext,
} from "./src/core/intercept.ts";
export type { ConnectOptions } from "./src/client/connect.ts";
export type { ByteStream } from "./src/transport/types.ts";
export type { TlsConnectOptions } from "./src/client/transports.ts";
export type {
  SubprocessConnection,
  SubprocessOptions,
} from "./src/client/subprocess.ts";
export type { MemberInfo } from "./src/core/proxy.ts";
export type { ErrorClass, RemoteErrorInit } from "./src/errors.ts";
export type { LogEvent, LogHook, LogLevel, LogOptions } from "./src/log.ts";
export { connect, connectStream } from "./src/client/connect.ts";
export {
  connectTls,
  connectUnix,
  connectWebSocket,
} from "./src/client/transports.ts";
export { connectSubprocess } from "./src/client/subprocess.ts";
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
