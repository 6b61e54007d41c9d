/**
 * Serving the embedded registry: what `netref registry` runs.
 *
 * @module
 */

import { DEFAULT_REGISTRY_PORT } from "../defaults.ts";
import { type ServeOptions, type Server, serveTcp } from "../server/server.ts";
import { RegistryService, type RegistryServiceOptions } from "./service.ts";
import { rpycRegistryProtocol } from "./rpyc_protocol.ts";

/** Options of {@linkcode serveRegistry}. */
export interface ServeRegistryOptions
  extends Omit<ServeOptions, "shared" | "rpyc">, RegistryServiceOptions {
  /**
   * TCP port; `0` picks a free one (read it from `server.addr`).
   *
   * @default {18810}
   */
  port?: number;
}

/**
 * Serves the embedded registry over netref: what `netref registry` runs.
 * Clients and servers reach it as `netref://host:port`; on the same port it
 * answers Python RPyC's TCP registry protocol (`TCPRegistryClient`), so
 * RPyC servers register there and RPyC clients find netref's servers
 * (unless a `token` is set: RPyC's registry protocol cannot carry one).
 *
 * @param options Address (loopback and port 18810 unless told otherwise),
 *   limits, and the usual server options (such as a `token`).
 * @returns The running server; shutting it down drops every entry.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {RangeError} On a limit out of range.
 *
 * @example
 * ```ts
 * import { serveRegistry } from "@netref/netref/registry";
 * const server = serveRegistry({ hostname: "0.0.0.0", port: 18810 });
 * console.log(`registry on netref://${server.addr.hostname}:${server.addr.port}`);
 * await server.finished;
 * ```
 */
export function serveRegistry(options: ServeRegistryOptions = {}): Server {
  const { maxEntries, maxWatchers, warmup, ...serveOptions } = options;
  const registry = new RegistryService({
    maxEntries,
    maxWatchers,
    warmup,
    log: options.log,
  });
  let server: Server;
  try {
    // Netref clients, and RPyC's TCP registry clients (told apart by their
    // first bytes) unless a token is required, which RPyC's cannot send;
    // RPyC connections proper have no business here, and a
    // client silent past the handshake is closed, not kept.
    server = serveTcp(
      registry,
      {
        ...serveOptions,
        port: options.port ?? DEFAULT_REGISTRY_PORT,
      },
      serveOptions.token === undefined ? [rpycRegistryProtocol(registry)] : [],
    );
  } catch (error) {
    registry.close();
    throw error;
  }
  server.finished.then(() => registry.close());
  return server;
}
