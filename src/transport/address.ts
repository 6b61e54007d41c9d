/**
 * The one address grammar, read by `dial()`, the `connect*` functions and
 * the command line alike: `host:port`, `[::1]:port`, `host` alone (the
 * default port), `:port` (127.0.0.1), `tls://host:port`, `unix:/path`, and
 * `ws://host:port/path` or `wss://` (`http://` and `https://` name the same
 * WebSocket endpoints, as browsers' `WebSocket` takes them).
 *
 * @module
 */

import { DEFAULT_PORT, DEFAULT_TLS_PORT } from "../defaults.ts";
import { formatHostPort } from "./tcp.ts";

/** A host and port, reached over plain TCP or over TLS. */
export interface TcpAddress {
  readonly transport: "tcp" | "tls";
  readonly hostname: string;
  readonly port: number;
}

/** A Unix socket's path. */
export interface UnixAddress {
  readonly transport: "unix";
  readonly path: string;
}

/** A WebSocket URL, `ws:` or `wss:`. */
export interface WebSocketAddress {
  readonly transport: "websocket";
  readonly url: string;
}

/** Where a client connects. */
export type Address = TcpAddress | UnixAddress | WebSocketAddress;

/**
 * Parses an address.
 *
 * @param text Such as `localhost:18811`, `[::1]:9000`, `example.com`,
 *   `:9000`, `tls://localhost`, `unix:/tmp/netref.sock` or
 *   `ws://127.0.0.1:18880/`.
 * @param defaultPort The port of a `host:port` address that names none.
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
  if (/^(wss?|https?):\/\//i.test(text)) {
    return { transport: "websocket", url: webSocketUrl(text) };
  }
  if (/^tls:\/\//i.test(text)) {
    const rest = text.slice("tls://".length).replace(/\/$/, "");
    return {
      ...parseHostPort(rest, DEFAULT_TLS_PORT, text),
      transport: "tls",
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new TypeError(
      `Cannot parse address '${text}': expected host:port, unix:PATH, ws:// or wss:// (or tls://host:port)`,
    );
  }
  return parseHostPort(text, defaultPort, text);
}

/**
 * The WebSocket URL that `url` names: `http:` becomes `ws:` and `https:`
 * becomes `wss:`, as browsers' `WebSocket` does.
 *
 * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
 * @returns The `ws:` or `wss:` URL.
 * @throws {TypeError} If it is not such a URL.
 */
export function webSocketUrl(url: string | URL): string {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new TypeError(
      `Cannot parse address '${url}': expected a WebSocket URL, such as ws://127.0.0.1:18880/`,
    );
  }
  if (target.protocol === "http:") target.protocol = "ws:";
  else if (target.protocol === "https:") target.protocol = "wss:";
  if (target.protocol !== "ws:" && target.protocol !== "wss:") {
    throw new TypeError(
      `Cannot parse address '${url}': a WebSocket URL starts with ws://, wss://, http:// or https://`,
    );
  }
  return target.href;
}

function parseHostPort(
  text: string,
  defaultPort: number,
  whole: string,
): TcpAddress {
  let hostname: string;
  let portText: string | undefined;
  const bracketed = text.match(/^\[([^\]]+)\](?::(.*))?$/);
  if (bracketed !== null) {
    [, hostname, portText] = bracketed;
  } else if (text.startsWith("[")) {
    throw new TypeError(
      `Cannot parse address '${whole}': expected [IPv6]:port, such as [::1]:${DEFAULT_PORT}`,
    );
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) {
      throw new TypeError(
        `Cannot parse address '${whole}': put an IPv6 address in brackets, such as [${text}]:${DEFAULT_PORT}`,
      );
    }
    const at = text.indexOf(":");
    hostname = at < 0 ? text : text.slice(0, at);
    portText = at < 0 ? undefined : text.slice(at + 1);
    if (hostname === "" && portText !== undefined) hostname = "127.0.0.1";
  }
  if (hostname === "" || /[\s/]/.test(hostname)) {
    throw new TypeError(
      `Cannot parse address '${whole}': expected host:port, such as localhost:${DEFAULT_PORT}`,
    );
  }
  const port = portText === undefined ? defaultPort : Number(portText);
  if (
    (portText !== undefined && !/^\d+$/.test(portText)) ||
    !Number.isInteger(port) || port < 1 || port > 65535
  ) {
    throw new RangeError(
      `Cannot use address '${whole}': the port must be from 1 to 65535`,
    );
  }
  return { transport: "tcp", hostname, port };
}

/**
 * Formats an address as {@linkcode parseAddress} reads it.
 *
 * @param address An address.
 * @returns Such as `127.0.0.1:18811`, `[::1]:18811`, `tls://localhost:18821`,
 *   `unix:/tmp/a.sock` or `ws://127.0.0.1:18880/`.
 */
export function formatAddress(address: Address): string {
  switch (address.transport) {
    case "unix":
      return `unix:${address.path}`;
    case "websocket":
      return address.url;
    case "tls":
      return `tls://${formatHostPort(address.hostname, address.port)}`;
    case "tcp":
      return formatHostPort(address.hostname, address.port);
  }
}

/**
 * Names the peer at `address` in messages: `host:port` (also for TLS), the
 * socket's path, or the URL.
 *
 * @param address An address.
 * @returns Its description.
 */
export function describeAddress(address: Address): string {
  switch (address.transport) {
    case "unix":
      return address.path;
    case "websocket":
      return address.url;
    default:
      return formatHostPort(address.hostname, address.port);
  }
}
