/**
 * Service discovery: servers `announce` themselves in a registry, clients
 * `discover` them or `connectByService`. A registry is the embedded one
 * (`netref registry`, `serveRegistry`, reached as `netref://host:port`) or
 * etcd (`etcd://host:port`), opened with `openRegistry`.
 *
 * ```ts
 * import { exposed, serve, service } from "@netref/netref";
 * import {
 *   announce,
 *   connectByService,
 *   openRegistry,
 *   serveRegistry,
 *   serviceName,
 * } from "@netref/netref/registry";
 *
 * @service("greeter")
 * class Greeter {
 *   @exposed greet() { return "hello"; }
 * }
 * await using registryServer = serveRegistry({ port: 0 });
 * const url = `netref://127.0.0.1:${registryServer.addr.port}`;
 * await using registry = await openRegistry(url);
 * await using server = serve(Greeter, { port: 0 });
 * await using registration = await announce(server, registry, {
 *   names: [serviceName(Greeter)],
 * });
 * await using conn = await connectByService<Greeter>(registry, "greeter");
 * console.assert(await conn.root.greet() === "hello");
 * await registration.withdraw();
 * ```
 *
 * @module
 */

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
export { serviceName } from "./src/core/exposure.ts";
