/**
 * TCP: `Deno.connect` and `Deno.listen`, with Nagle's algorithm off.
 *
 * @module
 */

/**
 * Opens a TCP connection with `setNoDelay(true)`: without it, small frames
 * wait on Nagle's algorithm and calls crawl.
 *
 * @param hostname The host to reach.
 * @param port The port.
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
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname, port, transport: "tcp" });
  conn.setNoDelay(true);
  return conn;
}

/**
 * Listens for TCP connections.
 *
 * @param hostname The address to bind.
 * @param port The port; 0 picks a free one.
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example
 * ```ts ignore
 * import { listenTcp } from "./tcp.ts";
 * const listener = listenTcp("127.0.0.1", 0);
 * listener.close();
 * ```
 */
export function listenTcp(hostname: string, port: number): Deno.TcpListener {
  return Deno.listen({ hostname, port, transport: "tcp" });
}

/**
 * Makes an accepted connection ready for netref: no Nagle delay.
 *
 * @param conn An accepted connection.
 * @returns The same connection.
 *
 * @example
 * ```ts ignore
 * import { listenTcp, prepareAccepted } from "./tcp.ts";
 * const conn = prepareAccepted(await listenTcp("127.0.0.1", 0).accept());
 * ```
 */
export function prepareAccepted(conn: Deno.Conn): Deno.Conn {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  return conn;
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
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  if ("path" in addr) return addr.path || "unix socket";
  return addr.transport;
}
