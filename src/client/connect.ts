/**
 * Connecting to a netref server: over TCP with {@linkcode connect}, over any
 * stream with {@linkcode connectStream}; every `connect*` function opens its
 * stream with `dial()` and its connection with {@linkcode connectTo}.
 *
 * @module
 */

import { logNothing } from "../log.ts";
import {
  type ConnectionOptions,
  openConnection,
  resolveOptions,
} from "../core/open.ts";
import type { Connection, SessionOptions } from "../core/types.ts";
import { closeQuietly } from "../transport/accept_queue.ts";
import { type Address, describeAddress } from "../transport/address.ts";
import { dial, type DialOptions } from "../transport/dial.ts";
import { DEFAULT_PORT } from "../defaults.ts";
import {
  type ResolvedDeadline,
  resolveDeadline,
  withinDeadline,
} from "../core/deadline.ts";
import { formatAddr } from "../transport/tcp.ts";
import type { ByteStream } from "../transport/types.ts";

/** Options of {@linkcode connect}, and of every other `connect*` function. */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * An object the server may reach as this side's `root` (both ends serve):
   * its `@exposed` members are callable by the server.
   *
   * @default {null}
   */
  service?: object | null;
  /**
   * Milliseconds that connecting may take, the dial and the handshake
   * together; past it, connecting fails with a `TimeoutError`. `0` or
   * `Infinity` waits as long as the operating system does for the dial, and
   * `handshakeTimeout` for the handshake. Not given, connecting is bounded
   * by `timeout`, but never below 250 ms (so that a tiny call timeout does
   * not make connecting itself fail on a busy machine); a `timeout` of `0`
   * leaves it unbounded.
   *
   * @default {timeout, at least 250}
   */
  connectTimeout?: number;
  /**
   * Gives up on connecting (the dial and the handshake): connecting rejects
   * with the signal's reason. No effect once connected.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Connect options checked, with every default filled in: what
 * {@linkcode resolveConnect} makes of {@linkcode ConnectOptions}. Internal.
 */
export interface ResolvedConnect extends ResolvedDeadline {
  /** The session's options, but for what each connection adds. */
  readonly open: Omit<SessionOptions, "serviceName" | "acceptor" | "label">;
}

/**
 * Checks connect options and fills in the defaults, once, before anything
 * is dialled or spawned: a `TypeError` or `RangeError` on a bad one.
 */
export function resolveConnect(options: ConnectOptions): ResolvedConnect {
  const service = options.service ?? null;
  if (
    service !== null && typeof service !== "object" &&
    typeof service !== "function"
  ) {
    throw new TypeError("Cannot connect: service must be an object");
  }
  const open = resolveOptions(options, logNothing);
  const deadline = resolveDeadline(options, open.timeout);
  return { open: { ...open, root: service }, ...deadline };
}

/**
 * Dials `address` and opens a netref connection on it, within
 * `connectTimeout` and `signal`: the one path every `connect*` takes.
 */
export function connectTo<T>(
  address: Address,
  options: ResolvedConnect,
  tls: Omit<DialOptions, "signal" | "openTimeout"> = {},
): Promise<Connection<T>> {
  const label = describeAddress(address);
  return withinDeadline(label, options, async (signal, progress) => {
    const stream = await dial(address, {
      ...tls,
      openTimeout: options.open.handshakeTimeout,
      signal,
    });
    progress.dialed = true;
    return await handshake<T>(stream, options, label, signal);
  });
}

/** Opens a netref connection on a connected stream, within `connectTimeout` and `signal`. */
export function connectOn<T>(
  stream: ByteStream,
  options: ResolvedConnect,
  label: string,
): Promise<Connection<T>> {
  return withinDeadline(
    label,
    options,
    (signal, progress) => {
      progress.dialed = true;
      return handshake<T>(stream, options, label, signal);
    },
  );
}

/** The handshake on `stream`, closing it if that fails or `signal` aborts. */
async function handshake<T>(
  stream: ByteStream,
  options: ResolvedConnect,
  label: string,
  signal: AbortSignal | undefined,
): Promise<Connection<T>> {
  try {
    return await openConnection<T>(stream, { ...options.open, label }, signal);
  } catch (error) {
    closeQuietly(stream);
    throw error;
  }
}

/**
 * Connects to a netref server over TCP and completes the handshake.
 *
 * @typeParam T The type of the server's service, for a typed `root`.
 * @param hostname The server's host.
 * @param port The server's port.
 * @param options Timeouts (`connectTimeout` and `signal` for connecting
 *   itself), limits, and a service of this side's own.
 * @returns The open connection; `conn.root` is the server's service.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 * @throws {ProtocolError} If the server does not speak this netref protocol.
 * @throws {TimeoutError} If `connectTimeout` passed before the connection
 *   was open.
 * @throws {RangeError} On an option out of range.
 *
 * @example The classic client
 * ```ts
 * import { connect } from "@netref/netref/client";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using conn = await connect<TestService>("localhost", 18811, {
 *   connectTimeout: 3000,
 * });
 * console.log(await conn.root.foo()); // "foo"
 * ```
 */
export async function connect<T = unknown>(
  hostname: string = "localhost",
  port: number = DEFAULT_PORT,
  options: ConnectOptions = {},
): Promise<Connection<T>> {
  checkHostPort(hostname, port);
  const resolved = resolveConnect(options); // Bad options fail before dialling.
  return await connectTo<T>(
    { transport: "tcp", hostname, port },
    resolved,
  );
}

/** Fails on a hostname (`TypeError`) or port (`RangeError`) that cannot be dialled. */
export function checkHostPort(hostname: string, port: number): void {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError("Cannot connect: hostname must be a non-empty string");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot connect to port ${port}: expected 1 to 65535`);
  }
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
 * @throws {TimeoutError} If `connectTimeout` passed before the handshake
 *   was done.
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
  let resolved: ResolvedConnect;
  try {
    resolved = resolveConnect(options);
  } catch (error) {
    stream.close(); // The connection owns the stream, even when refused.
    throw error;
  }
  return await connectOn<T>(
    stream,
    resolved,
    options.label ??
      (stream.remoteAddr ? formatAddr(stream.remoteAddr) : "peer"),
  );
}
