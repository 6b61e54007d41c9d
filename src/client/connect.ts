/**
 * Connecting to a netref server over TCP.
 *
 * @module
 */

import { DEFAULT_PORT } from "../defaults.ts";
import {
  type ConnectionOptions,
  openConnection,
  resolveOptions,
} from "../core/open.ts";
import type { Connection } from "../core/types.ts";
import { dialTcp, formatAddr } from "../transport/tcp.ts";
import type { ByteStream } from "../transport/types.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * An object the server may reach as this side's `root` (both ends serve):
   * its `@exposed` members are callable by the server.
   *
   * @default {null}
   */
  service?: object | null;
}

/**
 * Connects to a netref server over TCP and completes the handshake.
 *
 * @typeParam T The type of the server's service, for a typed `root`.
 * @param hostname The server's host.
 * @param port The server's port.
 * @param options Timeouts, limits, and a service of this side's own.
 * @returns The open connection; `conn.root` is the server's service.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 * @throws {ProtocolError} If the server does not speak this netref protocol.
 * @throws {RangeError} On an option out of range.
 *
 * @example The classic client
 * ```ts
 * import { connect } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connect<TestService>("localhost", 18811);
 * console.log(await conn.root.foo()); // "foo"
 * ```
 */
export async function connect<T = unknown>(
  hostname: string = "localhost",
  port: number = DEFAULT_PORT,
  options: ConnectOptions = {},
): Promise<Connection<T>> {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError("Cannot connect: hostname must be a non-empty string");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot connect to port ${port}: expected 1 to 65535`);
  }
  const prepared = prepare(options); // Bad options fail before dialling.
  const stream = await dialTcp(hostname, port);
  return await openConnection<T>(stream, {
    ...prepared,
    label: `${hostname}:${port}`,
  });
}

function prepare(options: ConnectOptions) {
  const service = options.service ?? null;
  if (
    service !== null && typeof service !== "object" &&
    typeof service !== "function"
  ) {
    throw new TypeError("Cannot connect: service must be an object");
  }
  return { ...resolveOptions(options), root: service };
}

/**
 * Opens a netref connection over any connected byte stream (a TLS or Unix
 * socket, a child process's pipes, an in-memory pair): the client side of
 * the handshake on a transport of your own.
 *
 * @typeParam T The type of the peer's root object.
 * @param stream The connected stream; the connection owns it from now on.
 * @param options Timeouts, limits, a service of this side's own, and a label
 *   naming the peer in messages.
 * @returns The open connection.
 * @throws {ProtocolError} If the peer does not speak this netref protocol.
 * @throws {ConnectionClosedError} If the peer refuses or hangs up.
 *
 * @example
 * ```ts
 * import { connectStream } from "@netref/netref/client";
 * const socket = await Deno.connect({ transport: "unix", path: "/tmp/netref.sock" });
 * await using conn = await connectStream(socket);
 * ```
 */
export async function connectStream<T = unknown>(
  stream: ByteStream,
  options: ConnectOptions & { label?: string } = {},
): Promise<Connection<T>> {
  let prepared;
  try {
    prepared = prepare(options);
  } catch (error) {
    stream.close(); // The connection owns the stream, even when refused.
    throw error;
  }
  return await openConnection<T>(stream, {
    ...prepared,
    label: options.label ??
      (stream.remoteAddr ? formatAddr(stream.remoteAddr) : "peer"),
  });
}
