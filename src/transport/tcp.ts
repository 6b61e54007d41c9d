/**
 * TCP: `Deno.connect` and `Deno.listen`, with Nagle's algorithm off.
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { explainListenError } from "./os_errors.ts";
import type { StreamListener } from "./types.ts";

/**
 * Opens a TCP connection with `setNoDelay(true)`: without it, small frames
 * wait on Nagle's algorithm and calls crawl.
 *
 * @param hostname The host to reach.
 * @param port The port.
 * @param signal Gives up on connecting, rejecting with its reason.
 * @returns The connected stream.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 *
 * @example
 * ```ts ignore
 * import { dialTcp } from "./tcp.ts";
 * const conn = await dialTcp("localhost", 18811);
 * conn.close();
 * ```
 */
export async function dialTcp(
  hostname: string,
  port: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  const conn = await abortable(
    Deno.connect({ hostname, port, transport: "tcp", signal }),
    signal,
  );
  conn.setNoDelay(true);
  return conn;
}

/**
 * Listens for TCP connections; each accepted one has Nagle's algorithm off.
 *
 * @param hostname The address to bind.
 * @param port The port; 0 picks a free one.
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} If the port is taken, naming the address
 *   (the original error is its `cause`).
 *
 * @example
 * ```ts ignore
 * import { listenTcp } from "./tcp.ts";
 * const listener = listenTcp("127.0.0.1", 0);
 * listener.close();
 * ```
 */
export function listenTcp(
  hostname: string,
  port: number,
): StreamListener<Deno.NetAddr> {
  let tcp: Deno.TcpListener;
  try {
    tcp = Deno.listen({ hostname, port, transport: "tcp" });
  } catch (error) {
    throw explainListenError(error, formatHostPort(hostname, port));
  }
  return {
    addr: tcp.addr,
    async accept() {
      const conn = await tcp.accept();
      conn.setNoDelay(true);
      return conn;
    },
    close: () => tcp.close(),
  };
}

/**
 * Describes an address for logs and messages: `host:port` or a path.
 *
 * @param addr An address.
 * @returns Its description.
 *
 * @example
 * ```ts
 * import { formatAddr } from "./tcp.ts";
 * console.assert(formatAddr({ transport: "tcp", hostname: "127.0.0.1", port: 1 }) === "127.0.0.1:1");
 * ```
 */
export function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return formatHostPort(addr.hostname, addr.port);
  }
  if ("path" in addr) return addr.path || "unix socket";
  return addr.transport;
}

/**
 * `host:port`, with brackets around an IPv6 address.
 *
 * @param hostname The host.
 * @param port The port.
 * @returns The description.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./tcp.ts";
 * console.assert(formatHostPort("::1", 1) === "[::1]:1");
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}
