/**
 * Server addresses as typed on the command line: `host:port`, `[::1]:port`,
 * `host` alone (port 18811), `:port` (127.0.0.1), `unix:/path/to.sock`, and
 * `ws://host:port/path` (or `wss://`). TLS is not part of the address: it is
 * asked for with `--tls` and the other TLS flags.
 *
 * @module
 */

import { DEFAULT_PORT } from "../defaults.ts";

/** A TCP address, for plain TCP or TLS. */
export interface TcpAddress {
  readonly transport: "tcp";
  readonly hostname: string;
  readonly port: number;
}

/** A Unix socket's path. */
export interface UnixAddress {
  readonly transport: "unix";
  readonly path: string;
}

/** A WebSocket URL (`ws:` or `wss:`). */
export interface WebSocketAddress {
  readonly transport: "websocket";
  readonly url: string;
}

/** Where a client connects. */
export type Address = TcpAddress | UnixAddress | WebSocketAddress;

/**
 * Parses an address typed on the command line.
 *
 * @param text Such as `localhost:18811`, `[::1]:9000`, `example.com`,
 *   `:9000`, `unix:/tmp/netref.sock` or `ws://127.0.0.1:18880/`.
 * @param defaultPort The port of a TCP address that names none.
 * @returns The address.
 * @throws {TypeError} If it is malformed.
 * @throws {RangeError} If the port is not from 1 to 65535.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const v6 = parseAddress("[::1]:9000");
 * console.assert(v6.transport === "tcp" && v6.hostname === "::1");
 * console.assert(parseAddress("unix:/tmp/a.sock").transport === "unix");
 * ```
 */
export function parseAddress(
  text: string,
  defaultPort: number = DEFAULT_PORT,
): Address {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") {
      throw new TypeError(
        `Cannot parse address '${text}': expected unix:PATH, such as unix:/tmp/netref.sock`,
      );
    }
    return { transport: "unix", path };
  }
  if (/^wss?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new TypeError(
        `Cannot parse address '${text}': expected a WebSocket URL, such as ws://127.0.0.1:18880/`,
      );
    }
    return { transport: "websocket", url: url.href };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new TypeError(
      `Cannot parse address '${text}': expected host:port, unix:PATH, ws:// or wss://`,
    );
  }
  return parseTcpAddress(text, defaultPort);
}

function parseTcpAddress(text: string, defaultPort: number): TcpAddress {
  let hostname: string;
  let portText: string | undefined;
  const bracketed = text.match(/^\[([^\]]+)\](?::(.*))?$/);
  if (bracketed !== null) {
    [, hostname, portText] = bracketed;
  } else if (text.startsWith("[")) {
    throw new TypeError(
      `Cannot parse address '${text}': expected [IPv6]:port, such as [::1]:18811`,
    );
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) {
      throw new TypeError(
        `Cannot parse address '${text}': put an IPv6 address in brackets, such as [${text}]:${DEFAULT_PORT}`,
      );
    }
    const at = text.indexOf(":");
    hostname = at < 0 ? text : text.slice(0, at);
    portText = at < 0 ? undefined : text.slice(at + 1);
    if (hostname === "" && portText !== undefined) hostname = "127.0.0.1";
  }
  if (hostname === "" || /[\s/]/.test(hostname)) {
    throw new TypeError(
      `Cannot parse address '${text}': expected host:port, such as localhost:${DEFAULT_PORT}`,
    );
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (
    (portText !== undefined && !/^\d+$/.test(portText)) ||
    !Number.isInteger(port) || port < 1 || port > 65535
  ) {
    throw new RangeError(
      `Cannot use address '${text}': the port must be from 1 to 65535`,
    );
  }
  return { transport: "tcp", hostname, port };
}

/**
 * Formats an address as {@linkcode parseAddress} reads it.
 *
 * @param address An address.
 * @returns Such as `127.0.0.1:18811`, `[::1]:18811`, `unix:/tmp/a.sock` or
 *   `ws://127.0.0.1:18880/`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * console.assert(formatAddress({ transport: "tcp", hostname: "::1", port: 1 }) === "[::1]:1");
 * console.assert(formatAddress({ transport: "unix", path: "/a.sock" }) === "unix:/a.sock");
 * ```
 */
export function formatAddress(address: Address): string {
  switch (address.transport) {
    case "unix":
      return `unix:${address.path}`;
    case "websocket":
      return address.url;
    case "tcp":
      return address.hostname.includes(":")
        ? `[${address.hostname}]:${address.port}`
        : `${address.hostname}:${address.port}`;
  }
}
