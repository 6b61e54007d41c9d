/**
 * A server announcing itself: what `netref serve --register` does.
 *
 * @module
 */

import { DEFAULT_TTL } from "../defaults.ts";
import { onShutdown, type Server } from "../server/server.ts";
import type { Registration, Registry } from "./types.ts";

/** Options of {@linkcode announce}. */
export interface AnnounceOptions {
  /** The service names to register the server's address under (at least one). */
  names: readonly string[];
  /**
   * Milliseconds the entries outlive the last heartbeat; heartbeats go out
   * every third of it. A killed server disappears from the registry within
   * this time.
   *
   * @default {10000}
   */
  ttl?: number;
  /**
   * The address clients should dial, as `"host:port"` or parts. Needed
   * when the server listens on every interface (`0.0.0.0` or `::`), where
   * its own address says nothing about how to reach it.
   *
   * @default {server.addr}
   */
  address?: string | { hostname: string; port: number };
  /**
   * Free-form labels registered with each name (version, zone...).
   *
   * @default {{}}
   */
  metadata?: Record<string, string>;
  /**
   * Receives heartbeat trouble and recoveries.
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

function parseAddress(
  address: string | { hostname: string; port: number },
): { hostname: string; port: number } {
  if (typeof address !== "string") return address;
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (match === null) {
    throw new TypeError(
      `Cannot announce address ${
        JSON.stringify(address)
      }: expected "host:port" or "[v6]:port"`,
    );
  }
  return { hostname: match[1] ?? match[2], port: Number(match[3]) };
}

/**
 * Registers a running server under each of its service names with a TTL,
 * keeps the entries alive with heartbeats, and withdraws them as soon as the
 * server starts shutting down: by the time `await server.shutdown()`
 * returns, the registry no longer lists it.
 *
 * @param server The running server.
 * @param registry Where to announce it, from `openRegistry()`.
 * @param options The names, the TTL, and the address clients dial.
 * @returns The registration (withdraw it to stop announcing).
 * @throws {TypeError} Without names, or for a server listening on every
 *   interface and no `address`.
 * @throws {RangeError} On a TTL or port out of range.
 * @throws {RegistryError} If the registry cannot be reached or refuses.
 *
 * @example What `netref serve --register` does
 * ```ts
 * import { serve } from "@netref/netref";
 * import { announce, openRegistry, serviceName } from "@netref/netref/registry";
 * import { TestService } from "../../examples/test_service.ts";
 * const server = serve(TestService, { port: 0 });
 * const registry = await openRegistry("netref://127.0.0.1:18810");
 * await announce(server, registry, { names: [serviceName(TestService)], ttl: 10_000 });
 * await server.finished; // withdrawn by now
 * await registry.close();
 * ```
 */
export async function announce(
  server: Server,
  registry: Registry,
  options: AnnounceOptions,
): Promise<Registration> {
  const names = options?.names;
  if (!Array.isArray(names) || names.length === 0) {
    throw new TypeError("Cannot announce: expected at least one service name");
  }
  let address;
  if (options.address !== undefined) {
    address = parseAddress(options.address);
  } else if (
    server.addr.hostname === "0.0.0.0" || server.addr.hostname === "::"
  ) {
    throw new TypeError(
      `Cannot announce a server listening on ${server.addr.hostname}: pass the address clients should dial as \`address\``,
    );
  } else {
    address = server.addr;
  }
  const registration = await registry.register(
    [...new Set(names)].map((name) => ({
      name,
      hostname: address.hostname,
      port: address.port,
      metadata: options.metadata,
    })),
    { ttl: options.ttl ?? DEFAULT_TTL, log: options.log },
  );
  // Withdrawn before `await server.shutdown()` returns, so that discover()
  // no longer lists it; a server of another kind withdraws once finished.
  if (!onShutdown(server, () => registration.withdraw())) {
    server.finished.then(() => registration.withdraw());
  }
  return registration;
}
