/**
 * Server addresses as typed on the command line: `host:port`, `[::1]:port`,
 * `host` alone (port 18811), `:port` (127.0.0.1).
 *
 * Other transports (`unix:/path`, TLS, WebSocket URLs) become other kinds of
 * {@linkcode Address}, parsed here.
 *
 * @module
 */

/** Where a client connects. */
export interface Address {
  readonly transport: "tcp";
  readonly hostname: string;
  readonly port: number;
}

/** The port of an address that names none, as RPyC's. */
export const DEFAULT_PORT = 18811;

/**
 * Parses an address typed on the command line.
 *
 * @param text Such as `localhost:18811`, `[::1]:9000`, `example.com`, `:9000`.
 * @returns The address.
 * @throws {TypeError} If it is malformed.
 * @throws {RangeError} If the port is not from 1 to 65535.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * console.assert(parseAddress("[::1]:9000").hostname === "::1");
 * console.assert(parseAddress("localhost").port === 18811);
 * ```
 */
export function parseAddress(text: string): Address {
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
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
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
 * @returns Such as `127.0.0.1:18811` or `[::1]:18811`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * console.assert(formatAddress({ transport: "tcp", hostname: "::1", port: 1 }) === "[::1]:1");
 * ```
 */
export function formatAddress(address: Address): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}
