/**
 * Serving over TLS (and mutual TLS), Unix sockets, this process's
 * stdin/stdout, and in memory; WebSocket is in `websocket.ts`. Each checks
 * its options with `resolveServe()` before it listens and serves with
 * `serveResolved()`, as `serve` and `serveListener` do, so options, limits,
 * hooks and shutdown are the same as `serve`'s.
 *
 * @module
 */

import { logEvent } from "../log.ts";
import { type ConnectOptions, connectStream } from "../client/connect.ts";
import type { Connection } from "../core/types.ts";
import { AcceptQueue } from "../transport/accept_queue.ts";
import { memoryPair } from "../transport/memory.ts";
import { listen } from "../transport/listen.ts";
import { consoleToStderr, stdioStream } from "../transport/stdio.ts";
import {
  type ForeignProtocol,
  resolveServe,
  type Server,
  serveResolved,
  type ServerOptions,
  type ServiceSource,
  type StreamListener,
} from "./server.ts";

/**
 * A running server with no address of its own: one mounted in another HTTP
 * server, serving stdio, or in memory.
 */
export type UnboundServer = Omit<Server, "addr">;

/**
 * Placeholder address of listeners that have none; {@linkcode unbound}
 * leaves it out of what users see.
 */
export const NO_ADDR: Deno.UnixAddr = { transport: "unix", path: "" };

/**
 * The server without its address, for listeners that have none.
 *
 * @param server A server on a listener whose address is {@linkcode NO_ADDR}.
 * @returns The same server, without `addr`.
 *
 * @example
 * ```ts ignore
 * import { NO_ADDR, unbound } from "./transports.ts";
 * const server = unbound(serveListener({ addr: NO_ADDR, accept, close }, Service));
 * ```
 */
export function unbound(server: Server<Deno.Addr>): UnboundServer {
  return {
    finished: server.finished,
    get connectionCount() {
      return server.connectionCount;
    },
    shutdown: (options) => server.shutdown(options),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

// ------------------------------------------------------------------- TLS

/** Options of {@linkcode serveTls}. */
export interface TlsServeOptions extends ServerOptions {
  /**
   * Address to listen on. Loopback unless told otherwise.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * TCP port; `0` picks a free one (read it from `server.addr`).
   *
   * @default {18821}
   */
  port?: number;
  /** The server's certificate chain (PEM). */
  cert: string;
  /** The private key (PEM) of `cert`. */
  key: string;
  /**
   * CA certificates (PEM). Giving them turns on mutual TLS: a client must
   * present a certificate signed by one of them, and any other client is
   * refused during the TLS handshake (the refusal is logged).
   *
   * @default {undefined} (no client certificates asked for)
   */
  ca?: string | string[];
  /**
   * Whether Python RPyC clients (`rpyc.ssl_connect`) are answered too, told
   * apart by their first bytes; read by the entry point's `serveTls`.
   *
   * @default {true}
   */
  rpyc?: boolean;
}

/**
 * Serves a service over TLS, or mutual TLS when `ca` is given. It listens
 * with `node:tls`, which (unlike `Deno.listenTls` on Deno 2.9) can require
 * and verify client certificates, and can drop a client whose handshake
 * stalls. A client that has not finished its TLS handshake within
 * `handshakeTimeout` is disconnected and logged; each socket counts against
 * `maxConnections` from its first byte.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Address, certificate and key, client CAs, and limits.
 * @param foreign Protocols besides netref's own (the entry point passes
 *   RPyC's).
 * @returns The running server, once it listens.
 * @throws {TypeError} If `cert`, `key` or `ca` is not a PEM string.
 * @throws {Error} If the port is taken (`EADDRINUSE`).
 *
 * @example Mutual TLS
 * ```ts
 * import { serveTls } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * const server = await serveTls(TestService, {
 *   port: 18821,
 *   cert: await Deno.readTextFile("server.pem"),
 *   key: await Deno.readTextFile("server.key"),
 *   ca: await Deno.readTextFile("clients-ca.pem"),
 * });
 * await server.finished;
 * ```
 */
export async function serveTls(
  service: ServiceSource,
  options: TlsServeOptions,
  foreign: readonly ForeignProtocol[] = [],
): Promise<Server> {
  const resolved = resolveServe(service, {
    ...options,
    foreignProtocols: foreign,
  }); // Before anything listens.
  const { handshakeTimeout, log } = resolved.session;
  const listening = await listen({
    transport: "tls",
    hostname: options.hostname,
    port: options.port,
    cert: options.cert,
    key: options.key,
    ca: options.ca,
    handshakeTimeout,
    log: (message) => log(logEvent("warn", "tls.refused", message)),
  });
  return serveResolved(
    listening.listener as StreamListener<Deno.NetAddr>,
    service,
    resolved,
  );
}

// ------------------------------------------------------------------ Unix

/** Options of {@linkcode serveUnix}. */
export interface UnixServeOptions extends ServerOptions {
  /** Where to create the socket. */
  path: string;
  /**
   * File mode the socket is given once bound; connecting needs write
   * permission on it, so the default lets only its owner connect.
   *
   * @default {0o600}
   */
  mode?: number;
  /**
   * Whether Python RPyC clients (`rpyc.unix_connect`) are answered too, told
   * apart by their first bytes; read by the entry point's `serveUnix`.
   *
   * @default {true}
   */
  rpyc?: boolean;
}

/**
 * Serves a service on a Unix domain socket. A stale socket file (nothing
 * accepts on it) is replaced; shutting down removes the file. Needs
 * `--allow-read` and `--allow-write` for the path.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options The socket's path and mode, and limits.
 * @param foreign Protocols besides netref's own (the entry point passes
 *   RPyC's).
 * @returns The running server, once it listens.
 * @throws {TypeError} If `path` is missing.
 * @throws {Deno.errors.AddrInUse} If a server already listens at `path`.
 *
 * @example
 * ```ts
 * import { serveUnix } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * const server = await serveUnix(TestService, { path: "/tmp/netref.sock" });
 * await server.finished;
 * ```
 */
export async function serveUnix(
  service: ServiceSource,
  options: UnixServeOptions,
  foreign: readonly ForeignProtocol[] = [],
): Promise<Server<Deno.UnixAddr>> {
  const resolved = resolveServe(service, {
    ...options,
    foreignProtocols: foreign,
  }); // Before anything listens.
  const listening = await listen({
    transport: "unix",
    path: options.path,
    mode: options.mode,
  });
  return serveResolved(
    listening.listener as StreamListener<Deno.UnixAddr>,
    service,
    resolved,
  );
}

// ----------------------------------------------------------------- stdio

/** Options of {@linkcode serveStdio}. */
export interface StdioServeOptions extends ServerOptions {
  /**
   * Whether `console` output meant for stdout (`console.log` and the like)
   * goes to stderr while serving: stdout carries the protocol, and a stray
   * line would corrupt it. Writing to `Deno.stdout` directly still would.
   *
   * @default {true}
   */
  consoleToStderr?: boolean;
}

/**
 * Serves one connection on this process's stdin and stdout: the child's
 * side of `connectSubprocess()`. The server finishes when that connection
 * closes (the parent closed its end, or exited).
 *
 * @param service A service class, or an object.
 * @param options Whether console output moves to stderr, and limits.
 * @returns The running server.
 * @throws {TypeError} If `service` is neither a class nor an object.
 *
 * @example A child process's whole program
 * ```ts
 * import { serveStdio } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * await serveStdio(TestService).finished;
 * ```
 */
export function serveStdio(
  service: ServiceSource,
  options: StdioServeOptions = {},
): UnboundServer {
  const resolved = resolveServe(service, options);
  const restoreConsole = options.consoleToStderr === false
    ? () => {}
    : consoleToStderr();
  const queue = new AcceptQueue();
  let server: Server<Deno.Addr> | null = null;
  queue.push(stdioStream(() => {
    // Its only connection is over: so is the server.
    queueMicrotask(() => server?.shutdown({ deadline: 0 }));
  }));
  const listener: StreamListener = {
    addr: NO_ADDR,
    accept: () => queue.accept(),
    close: () => queue.close(),
  };
  try {
    server = serveResolved(listener, service, resolved);
  } catch (error) {
    restoreConsole();
    throw error;
  }
  server.finished.then(restoreConsole);
  return unbound(server);
}

// ---------------------------------------------------------------- memory

/** A server in this process, reached through in-memory streams. */
export interface MemoryServer extends UnboundServer {
  /**
   * Connects a new client to it.
   *
   * @typeParam T The type of the service, for a typed `root`.
   * @param options Timeouts, limits, and a service of the client's own.
   * @returns The client's connection.
   */
  connect<T = unknown>(options?: ConnectOptions): Promise<Connection<T>>;
}

/**
 * Serves a service in this process, without sockets: clients connect with
 * `server.connect()` over in-memory streams. For unit tests, and for
 * running a netref service and its client in one program.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Instancing and limits, as for any server.
 * @returns The running server.
 * @throws {TypeError} If `service` is neither a class nor an object.
 *
 * @example
 * ```ts
 * import { serveMemory } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * await using server = serveMemory(TestService);
 * await using conn = await server.connect<TestService>();
 * console.log(await conn.root.foo()); // "foo"
 * ```
 */
export function serveMemory(
  service: ServiceSource,
  options: ServerOptions = {},
): MemoryServer {
  const resolved = resolveServe(service, options);
  const queue = new AcceptQueue();
  const listener: StreamListener = {
    addr: NO_ADDR,
    accept: () => queue.accept(),
    close: () => queue.close(),
  };
  const server = serveResolved(listener, service, resolved);
  return {
    ...unbound(server),
    get connectionCount() {
      return server.connectionCount;
    },
    async connect<T = unknown>(
      connectOptions: ConnectOptions = {},
    ): Promise<Connection<T>> {
      const [client, accepted] = memoryPair();
      queue.push(accepted);
      return await connectStream<T>(client, {
        ...connectOptions,
        label: "memory",
      });
    },
  };
}
