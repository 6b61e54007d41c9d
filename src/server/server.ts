/**
 * The server: accepts connections on any listener, gives each its service
 * instance, runs the service hooks, enforces the connection limit, hands
 * connections that speak another protocol (RPyC) to its handler, and shuts
 * down gracefully.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { logEvent, type LogHook } from "../log.ts";
import { delay, withTimeout } from "../timing.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_DEADLINE,
} from "../defaults.ts";
import {
  acceptSession,
  type ConnectionOptions,
  resolveOptions,
} from "../core/open.ts";
import type { Connection, ResolvedOptions } from "../core/types.ts";
import type { Interceptor } from "../core/intercept.ts";
import { closeQuietly } from "../transport/accept_queue.ts";
import { PlacedStream, Places } from "./admission.ts";
import { sniff } from "./sniff.ts";
import { formatAddr, listenTcp } from "../transport/tcp.ts";
import type {
  ByteStream,
  GatedListener,
  StreamListener,
} from "../transport/types.ts";

export type { StreamListener };

/** Hooks a service may define; neither is reachable remotely. */
export interface ServiceHooks {
  /** Called when a client has connected, before it is served. */
  onConnect?(conn: Connection): void | Promise<void>;
  /** Called when the client's connection has closed. */
  onDisconnect?(conn: Connection): void | Promise<void>;
}

/** A service: a class (instantiated per connection by default) or one object. */
export type ServiceSource = (new () => object) | object;

/** Options of every server, whatever its transport. */
export interface ServerOptions extends ConnectionOptions {
  /**
   * With a class: `false` makes one instance per connection (RPyC's
   * default), `true` one instance for all connections. An object is always
   * shared.
   *
   * @default {false}
   */
  shared?: boolean;
  /**
   * Most connections open at once, counted from the moment a socket is
   * accepted (while its protocol is told apart and during a TLS handshake
   * too) until it is closed. A socket beyond it is refused at once: a netref
   * client is told the reason, and the refusal is logged.
   *
   * @default {1024}
   */
  maxConnections?: number;
}

/** Options of `serve`: a TCP server. */
export interface ServeOptions extends ServerOptions {
  /**
   * Address to listen on. Loopback unless told otherwise.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * TCP port; `0` picks a free one (read it from `server.addr`).
   *
   * @default {18811}
   */
  port?: number;
  /**
   * Whether Python RPyC clients are answered on the same port (told apart
   * from netref clients by their first bytes); `false` serves netref
   * clients only.
   *
   * @default {true}
   */
  rpyc?: boolean;
}

/** Options of {@linkcode Server.shutdown}. */
export interface ShutdownOptions {
  /**
   * Milliseconds to let in-flight calls finish before connections are
   * closed regardless.
   *
   * @default {10000}
   */
  deadline?: number;
}

/** A running server. */
export interface Server<A extends Deno.Addr = Deno.NetAddr>
  extends AsyncDisposable {
  /** The address it listens on (with the port picked, if `port` was 0). */
  readonly addr: A;
  /** Resolves once the server has shut down and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * The number of open connections: every socket accepted and not yet
   * closed, including those whose protocol or TLS handshake is under way.
   */
  readonly connectionCount: number;
  /**
   * Stops accepting, lets in-flight calls finish (up to the deadline), then
   * closes every connection.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/** A connection the server keeps track of, whatever protocol it speaks. */
export interface ServedConnection {
  /** Resolves once every call in progress has settled. */
  idle(): Promise<void>;
  /** Closes it, telling the peer. */
  close(): Promise<void>;
}

/** What a {@linkcode ForeignProtocol} is given for each connection. */
export interface ForeignContext {
  /** The service instance for this connection. */
  service: object & ServiceHooks;
  /** The peer, for messages. */
  label: string;
  /** The server's connection options, checked and with every default filled in. */
  options:
    & Readonly<
      Required<Omit<ConnectionOptions, "token" | "log" | "onLog" | "intercept">>
    >
    & Pick<ConnectionOptions, "token">
    & {
      /** Where the connection's events go (the server's `onLog`). */
      readonly log: LogHook;
      /** The server's interceptors, or null for none. */
      readonly intercept: readonly Interceptor[] | null;
    };
  /** Must be called once, when the connection has closed. */
  onClose(): void;
  /**
   * True when the peer sent nothing within `handshakeTimeout` and was handed
   * over because the protocol `acceptsSilent`.
   */
  silent: boolean;
}

/**
 * A protocol other than netref's own that a server answers on the same
 * listener, told apart by the connection's first bytes.
 */
export interface ForeignProtocol {
  /** Its name, for logs. */
  readonly name: string;
  /**
   * Whether `first` (the bytes received so far) opens this protocol: true,
   * false, or null while more bytes are needed.
   */
  matches(first: Uint8Array): boolean | null;
  /** Serves one connection; `stream` starts with the bytes already read. */
  serve(stream: ByteStream, context: ForeignContext): ServedConnection;
  /**
   * Whether a connection that stays silent past `handshakeTimeout` belongs to
   * this protocol (its clients may say nothing until first used, as RPyC's
   * do), rather than being closed. At most one protocol should claim it.
   */
  readonly acceptsSilent?: boolean;
}

/** Options of {@linkcode serveListener}. */
export interface ServeListenerOptions extends ServerOptions {
  /** Protocols besides netref's own, told apart by their first bytes. */
  foreignProtocols?: readonly ForeignProtocol[];
}

function isClass(source: ServiceSource): source is new () => object {
  return typeof source === "function";
}

/**
 * Server options checked, with every default filled in: what
 * {@linkcode resolveServe} makes of a server's options. Internal.
 */
export interface ResolvedServe {
  /** Each connection's session options. */
  readonly session: ResolvedOptions;
  /** Whether a class is instantiated once for every connection. */
  readonly shared: boolean;
  /** Most connections open at once. */
  readonly maxConnections: number;
  /** Protocols besides netref's own. */
  readonly foreign: readonly ForeignProtocol[];
}

/**
 * Checks a server's service and options and fills in the defaults, once,
 * before anything listens: a `TypeError` or `RangeError` on a bad one. Every
 * `serve*` function calls it first; the transport's own options (address,
 * certificates, path) are checked by `listen()`.
 *
 * @param service What is to be served.
 * @param options The server's options.
 * @returns The options every connection of the server uses.
 * @throws {TypeError} If `service` is neither a class nor an object, or an
 *   option has the wrong type.
 * @throws {RangeError} On an option out of range.
 */
export function resolveServe(
  service: ServiceSource,
  options: ServeListenerOptions,
): ResolvedServe {
  if (
    (typeof service !== "function" && typeof service !== "object") ||
    service === null
  ) {
    throw new TypeError("Cannot serve: expected a service class or object");
  }
  if ("token" in options && options.token === undefined) {
    // `token: Deno.env.get("NETREF_TOKEN")` with the variable unset: serving
    // without a token would let every client in, so refuse to start.
    throw new TypeError(
      "Cannot serve: option token is undefined (an unset environment variable?); give a non-empty string, or leave the option out to serve without a token",
    );
  }
  const session = resolveOptions(options);
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(
      `Cannot use maxConnections ${maxConnections}: expected an integer >= 1`,
    );
  }
  const foreign = options.foreignProtocols ?? [];
  if (!Array.isArray(foreign)) {
    throw new TypeError("Cannot use foreignProtocols: expected an array");
  }
  return {
    session,
    shared: Boolean(options.shared),
    maxConnections,
    foreign,
  };
}

/**
 * Serves a service over TCP, answering netref clients and the `foreign`
 * protocols on the same port. The entry point's `serve` passes RPyC's here,
 * so that this folder need not import it.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Address, instancing and limits; `rpyc` is read by the
 *   entry point, not here.
 * @param foreign Protocols besides netref's own.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {TypeError} If `service` is neither a class nor an object.
 */
export function serveTcp(
  service: ServiceSource,
  options: ServeOptions,
  foreign: readonly ForeignProtocol[],
): Server {
  const resolved = resolveServe(service, {
    ...options,
    foreignProtocols: foreign,
  });
  const listener = listenTcp(
    options.hostname ?? DEFAULT_HOSTNAME,
    options.port ?? DEFAULT_PORT,
  );
  return serveResolved(listener, service, resolved);
}

/**
 * Serves a service on any listener: the transport-independent server that
 * `serve` and the other transports build on.
 *
 * @param listener Where connections come from.
 * @param service A service class, or an object shared by every connection.
 * @param options Instancing, limits, and other protocols to answer.
 * @returns The running server.
 * @throws {TypeError} If `service` is neither a class nor an object.
 * @throws {RangeError} On an option out of range.
 *
 * @example
 * ```ts
 * import { serveListener } from "./server.ts";
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const server = serveListener(
 *   { addr: tcp.addr, accept: () => tcp.accept(), close: () => tcp.close() },
 *   class { },
 * );
 * await server.shutdown();
 * ```
 */
export function serveListener<A extends Deno.Addr>(
  listener: StreamListener<A>,
  service: ServiceSource,
  options: ServeListenerOptions = {},
): Server<A> {
  let resolved: ResolvedServe;
  try {
    resolved = resolveServe(service, options);
  } catch (error) {
    listener.close(); // The server owns the listener, even when refused.
    throw error;
  }
  return serveResolved(listener, service, resolved);
}

/**
 * Serves on `listener` with options {@linkcode resolveServe} checked: what
 * every `serve*` function ends in. Closes the listener if a shared
 * instance cannot be made.
 *
 * @param listener Where connections come from; the server owns it.
 * @param service The service `options` were resolved for.
 * @param options From {@linkcode resolveServe}.
 * @returns The running server.
 */
export function serveResolved<A extends Deno.Addr>(
  listener: StreamListener<A>,
  service: ServiceSource,
  options: ResolvedServe,
): Server<A> {
  const { session: resolved, maxConnections, foreign } = options;
  let shared: object | null;
  try {
    shared = isClass(service)
      ? (options.shared ? new service() : null)
      : service;
  } catch (error) {
    listener.close();
    throw error;
  }
  const connections = new Set<ServedConnection>();
  const places = new Places(maxConnections);
  // A listener that runs TLS handshakes itself counts its sockets from their
  // first byte; the server counts the others as it accepts them.
  const gated = "useGate" in listener &&
    typeof (listener as GatedListener).useGate === "function";
  if (gated) (listener as GatedListener).useGate(places);
  /** Sockets not yet handed to a protocol, closed if the server stops. */
  const sniffing = new Set<ByteStream>();
  let accepting = true;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);

  function makeInstance(label: string): (object & ServiceHooks) | null {
    try {
      return (shared ?? new (service as new () => object)()) as
        & object
        & ServiceHooks;
    } catch (error) {
      resolved.log(logEvent(
        "error",
        "service.failed",
        `cannot create the service for ${label}: ${error}`,
        { peer: label, reason: errorMessage(error), error },
      ));
      return null;
    }
  }

  function openNetref(stream: ByteStream, label: string) {
    const instance = makeInstance(label);
    if (instance === null) return stream.close();
    // onDisconnect answers onConnect: it runs only for a connection whose
    // handshake succeeded and whose onConnect returned.
    let connected = false;
    const connection = acceptSession(stream, {
      ...resolved,
      root: instance,
      label,
      onReady: async (c) => {
        if (typeof instance.onConnect === "function") {
          await instance.onConnect(c);
        }
        connected = true;
      },
      onClose: (c) => {
        connections.delete(served);
        if (connected && typeof instance.onDisconnect === "function") {
          return instance.onDisconnect(c);
        }
      },
    });
    const served: ServedConnection = {
      idle: () => connection.idle(),
      close: () => connection.close(null, true),
    };
    connections.add(served);
  }

  /**
   * Takes a place for an accepted socket before anything is awaited, or
   * refuses it. Returns the stream that gives the place back when closed.
   */
  function admit(accepted: ByteStream): ByteStream | null {
    if (gated) return new PlacedStream(accepted, null);
    if (!places.enter()) {
      const label = accepted.remoteAddr
        ? formatAddr(accepted.remoteAddr)
        : "peer";
      const reason =
        `the server is at its limit of ${maxConnections} connections; try again later`;
      resolved.log(
        logEvent("warn", "connection.refused", `refused ${label}: ${reason}`, {
          peer: label,
          reason,
        }),
      );
      places.refuse(accepted, reason);
      return null;
    }
    return new PlacedStream(accepted, () => places.leave());
  }

  async function open(stream: ByteStream): Promise<void> {
    const label = stream.remoteAddr ? formatAddr(stream.remoteAddr) : "peer";
    if (foreign.length === 0) return openNetref(stream, label);
    sniffing.add(stream);
    const sniffed = await sniff(stream, foreign, resolved.handshakeTimeout)
      .finally(() => sniffing.delete(stream));
    if (sniffed === null) return; // The peer left before saying anything.
    if (!accepting) return void sniffed.stream.close();
    if (sniffed.protocol === null) return openNetref(sniffed.stream, label);
    const instance = makeInstance(label);
    if (instance === null) return sniffed.stream.close();
    // A protocol may report the close before serve() has returned: `served`
    // is declared first so that onClose can see it is not yet assigned.
    // deno-lint-ignore prefer-const
    let served: ServedConnection | undefined;
    let closedEarly = false;
    served = sniffed.protocol.serve(sniffed.stream, {
      service: instance,
      label,
      options: resolved,
      silent: sniffed.silent,
      onClose: () => {
        if (served === undefined) closedEarly = true;
        else connections.delete(served);
      },
    });
    if (!closedEarly) connections.add(served);
  }

  const acceptLoop = (async () => {
    while (accepting) {
      let accepted: ByteStream;
      try {
        accepted = await listener.accept();
      } catch (error) {
        if (!accepting || error instanceof Deno.errors.BadResource) break;
        resolved.log(
          logEvent("error", "accept.failed", `accept failed: ${error}`, {
            reason: errorMessage(error),
            error,
          }),
        );
        await delay(50);
        continue;
      }
      const stream = admit(accepted);
      if (stream === null) continue;
      open(stream).catch((error) => {
        resolved.log(logEvent(
          "warn",
          "connection.failed",
          `cannot serve a connection: ${error}`,
          { reason: errorMessage(error), error },
        ));
        try {
          stream.close();
        } catch {
          // Already closed.
        }
      });
    }
  })();

  let shuttingDown: Promise<void> | null = null;
  function shutdown(shutdownOptions: ShutdownOptions = {}): Promise<void> {
    if (shuttingDown !== null) return shuttingDown;
    const hooks = shutdownHooks.get(server) ?? [];
    shutdownHooks.delete(server);
    shuttingDown = (async () => {
      accepting = false;
      // Started first (withdrawing a registration stops new clients), and
      // awaited last.
      const hooksDone = Promise.all(hooks.map((hook) => hook()));
      try {
        listener.close();
      } catch {
        // Already closed: nothing more to stop.
      }
      await acceptLoop;
      for (const stream of sniffing) closeQuietly(stream);
      places.closeRefused();
      const deadline = shutdownOptions.deadline ?? DEFAULT_SHUTDOWN_DEADLINE;
      await withTimeout(
        Promise.all([...connections].map((c) => c.idle())),
        deadline,
      );
      await Promise.all([...connections].map((c) => c.close()));
      await hooksDone;
      resolveFinished();
    })();
    return shuttingDown;
  }

  const server: Server<A> = {
    addr: listener.addr,
    finished,
    get connectionCount() {
      return places.count;
    },
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
  shutdownHooks.set(server, []);
  return server;
}

/** Work each server runs when it starts shutting down, by server. */
const shutdownHooks = new WeakMap<object, Array<() => Promise<void>>>();

/**
 * Has `server` run `hook` when it starts shutting down, alongside the drain,
 * and wait for it before `shutdown()` and `finished` resolve: how `announce`
 * withdraws a registration before `await server.shutdown()` returns.
 *
 * @param server A server from this module.
 * @param hook Must not reject.
 * @returns False if `server` is not one of this module's, or is already
 *   shutting down: the hook will not run.
 */
export function onShutdown(
  server: object,
  hook: () => Promise<void>,
): boolean {
  const hooks = shutdownHooks.get(server);
  if (hooks === undefined) return false;
  hooks.push(hook);
  return true;
}
