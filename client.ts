/**
 * The netref client: connect to a netref server and use its objects through
 * `conn.root`. Holds no server code, so any script can import it.
 *
 * ```ts ignore
 * import { connect } from "jsr:@netref/netref/client";
 *
 * await using conn = await connect("localhost", 18811);
 * console.log(await conn.root.foo()); // "foo"
 * console.log(await conn.root.version); // attributes are awaited
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
} from "./src/core/types.ts";
export type { ConnectionOptions } from "./src/core/open.ts";
export type { ConnectOptions } from "./src/client/connect.ts";
export type { ByteStream } from "./src/transport/types.ts";
export type { TlsConnectOptions } from "./src/client/transports.ts";
export type {
  SubprocessConnection,
  SubprocessOptions,
} from "./src/client/subprocess.ts";
export type { MemberInfo } from "./src/core/proxy.ts";
export type { ErrorClass, RemoteErrorInit } from "./src/errors.ts";
export { connect, connectStream } from "./src/client/connect.ts";
export {
  connectTls,
  connectUnix,
  connectWebSocket,
} from "./src/client/transports.ts";
export { connectSubprocess } from "./src/client/subprocess.ts";
export type { RpycConnectOptions } from "./src/compat/rpyc/client.ts";
export { connectRpyc, kwargs, PyKwargs } from "./src/compat/rpyc/client.ts";
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
export { DEFAULT_REGISTRY_PORT } from "./src/defaults.ts";
export { RegistryError, ServiceUnavailableError } from "./src/errors.ts";
export { openRegistry, parseRegistryUrl } from "./src/registry/url.ts";
export { connectByService, discover } from "./src/registry/discover.ts";
export { formatInstances } from "./src/registry/format.ts";
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
