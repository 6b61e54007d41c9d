/**
 * Registry URLs, and opening the backend one names:
 *
 * - `netref://[token@]host[:port]`: the embedded registry (`netref
 *   registry`), port 18810 by default.
 * - `etcd://[user:password@]host[:port][,host[:port]...][/prefix]`: an etcd
 *   cluster, port 2379 by default; `/prefix` keeps one deployment's keys
 *   apart from another's (default `/netref`).
 * - `rpyc://host[:port]`: Python RPyC's TCP registry (`rpyc_registry
 *   --mode TCP`), port 18811 by default.
 *
 * @module
 */

import { DEFAULT_ETCD_PORT, DEFAULT_REGISTRY_PORT } from "../defaults.ts";
import { NetrefRegistry } from "./embedded.ts";
import { RpycTcpRegistry } from "./rpyc_tcp.ts";

/** Python RPyC's registry port (`rpyc_registry`'s default). */
const DEFAULT_RPYC_REGISTRY_PORT = 18811;
import type { Registry } from "./types.ts";

/** A parsed registry URL. */
export interface RegistryUrl {
  /** Which backend. */
  backend: "netref" | "etcd" | "rpyc";
  /** One host for netref and rpyc; the cluster's members for etcd. */
  hosts: { hostname: string; port: number }[];
  /** etcd's key prefix, without a trailing `/`; `""` for netref and rpyc. */
  prefix: string;
  /** The netref token, or the etcd user, from the URL's user part. */
  username?: string;
  /** The etcd password, from the URL's user part. */
  password?: string;
}

/**
 * Parses a registry URL.
 *
 * @param url `netref://host:port` or `etcd://host:port,host:port/prefix`.
 * @returns Its parts.
 * @throws {TypeError} On an unknown scheme or a malformed URL.
 * @throws {RangeError} On a port out of range.
 *
 * @example
 * ```ts
 * import { parseRegistryUrl } from "./url.ts";
 * const url = parseRegistryUrl("etcd://10.0.0.1,10.0.0.2:2380/prod");
 * console.assert(url.hosts.length === 2 && url.hosts[0].port === 2379);
 * console.assert(url.prefix === "/prod");
 * ```
 */
export function parseRegistryUrl(url: string): RegistryUrl {
  const match = typeof url === "string"
    ? /^([a-z]+):\/\/(?:([^@/]*)@)?([^/?#@]+)(\/[^?#]*)?$/i.exec(url)
    : null;
  if (match === null) {
    throw new TypeError(
      `Cannot parse registry URL ${
        JSON.stringify(url)
      }: expected netref://host:port, etcd://host:port[,host:port...][/prefix] or rpyc://host:port`,
    );
  }
  const [, scheme, user, hostList, path = ""] = match;
  const backend = scheme.toLowerCase();
  if (backend !== "netref" && backend !== "etcd" && backend !== "rpyc") {
    throw new TypeError(
      `Cannot open registry ${url}: unknown scheme '${scheme}', expected netref://, etcd:// or rpyc://`,
    );
  }
  const defaultPort = backend === "netref"
    ? DEFAULT_REGISTRY_PORT
    : backend === "rpyc"
    ? DEFAULT_RPYC_REGISTRY_PORT
    : DEFAULT_ETCD_PORT;
  const hosts = hostList.split(",").map((h) => parseHost(h, defaultPort, url));
  const prefix = path.replace(/\/+$/, "");
  if (backend !== "etcd" && (hosts.length !== 1 || prefix !== "")) {
    throw new TypeError(
      `Cannot open registry ${url}: a ${backend} registry is one host:port, without a path`,
    );
  }
  if (backend === "rpyc" && user !== undefined) {
    throw new TypeError(
      `Cannot open registry ${url}: an RPyC registry takes no credentials`,
    );
  }
  const parsed: RegistryUrl = {
    backend,
    hosts,
    prefix: backend === "etcd" && prefix === "" ? "/netref" : prefix,
  };
  if (user !== undefined && user !== "") {
    const colon = user.indexOf(":");
    parsed.username = decodeURIComponent(
      colon < 0 ? user : user.slice(0, colon),
    );
    if (colon >= 0) parsed.password = decodeURIComponent(user.slice(colon + 1));
  }
  return parsed;
}

function parseHost(
  text: string,
  defaultPort: number,
  url: string,
): { hostname: string; port: number } {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d+))?$/i.exec(text);
  if (match === null) {
    throw new TypeError(
      `Cannot parse registry URL ${url}: bad host '${text}'`,
    );
  }
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot use port ${port} in registry URL ${url}: expected 1 to 65535`,
    );
  }
  return { hostname: match[1] ?? match[2], port };
}

/** Options of {@linkcode openRegistry}. */
export interface OpenRegistryOptions {
  /** The embedded registry's shared secret (overrides the URL's). */
  token?: string;
  /**
   * Milliseconds to wait for the registry: dialling, and each request.
   *
   * @default {5000}
   */
  timeout?: number;
  /**
   * Receives heartbeat trouble, lease losses and recoveries.
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

/**
 * Opens the registry a URL names: the embedded registry for `netref://`,
 * etcd for `etcd://`, Python RPyC's TCP registry for `rpyc://`. It connects on first use, so opening never fails for
 * an unreachable registry; close it when done.
 *
 * @param url `netref://host:port`, `etcd://host:port[,host:port...][/prefix]`
 *   or `rpyc://host:port`.
 * @param options A token, a timeout, a log.
 * @returns The registry.
 * @throws {TypeError} On a malformed URL or an unknown scheme.
 * @throws {RangeError} On a port or timeout out of range.
 *
 * @example
 * ```ts
 * import { discover, openRegistry } from "@netref/netref/registry";
 * await using registry = await openRegistry("etcd://10.0.0.1:2379/prod");
 * console.log(await discover(registry, "test"));
 * ```
 */
export async function openRegistry(
  url: string,
  options: OpenRegistryOptions = {},
): Promise<Registry> {
  const parsed = parseRegistryUrl(url);
  if (
    options.timeout !== undefined &&
    !(typeof options.timeout === "number" && options.timeout > 0)
  ) {
    throw new RangeError(
      `Cannot use timeout ${options.timeout}: expected a number > 0`,
    );
  }
  if (parsed.backend === "netref") {
    const [{ hostname, port }] = parsed.hosts;
    return new NetrefRegistry(hostname, port, {
      token: options.token ?? parsed.username,
      timeout: options.timeout,
      log: options.log,
    });
  }
  if (parsed.backend === "rpyc") {
    const [{ hostname, port }] = parsed.hosts;
    return new RpycTcpRegistry(hostname, port, {
      timeout: options.timeout,
      log: options.log,
    });
  }
  // Loaded only when used.
  const { EtcdRegistry } = await import("./etcd.ts");
  return new EtcdRegistry({
    hosts: parsed.hosts.map(({ hostname, port }) =>
      `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
    ),
    prefix: parsed.prefix,
    auth: parsed.username === undefined ? undefined : {
      username: parsed.username,
      password: parsed.password ?? "",
    },
    timeout: options.timeout,
    log: options.log,
  });
}
