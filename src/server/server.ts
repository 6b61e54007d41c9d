/**
 * The server: accepts connections, gives each its service instance, runs the
 * service hooks, and shuts down gracefully.
 *
 * @module
 */

import {
  acceptSession,
  type ConnectionOptions,
  resolveOptions,
} from "../core/open.ts";
import type { Session } from "../core/session.ts";
import type { Connection } from "../core/types.ts";
import {
  DEFAULT_HOSTNAME,
  DEFAULT_PORT,
  formatAddr,
  listenTcp,
  prepareAccepted,
} from "../transport/tcp.ts";

/** Hooks a service may define; neither is reachable remotely. */
export interface ServiceHooks {
  /** Called when a client has connected, before it is served. */
  onConnect?(conn: Connection): void | Promise<void>;
  /** Called when the client's connection has closed. */
  onDisconnect?(conn: Connection): void;
}

/** A service: a class (instantiated per connection by default) or one object. */
export type ServiceSource = (new () => object) | object;

/** Options of {@linkcode serve}. */
export interface ServeOptions extends ConnectionOptions {
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
   * With a class: `false` makes one instance per connection (RPyC's
   * default), `true` one instance for all connections. An object is always
   * shared.
   *
   * @default {false}
   */
  shared?: boolean;
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
export interface Server extends AsyncDisposable {
  /** The address it listens on (with the port picked, if `port` was 0). */
  readonly addr: Deno.NetAddr;
  /** Resolves once the server has shut down and every connection is closed. */
  readonly finished: Promise<void>;
  /** The number of open connections. */
  readonly connectionCount: number;
  /**
   * Stops accepting, lets in-flight calls finish (up to the deadline), then
   * closes every connection.
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
}

function isClass(source: ServiceSource): source is new () => object {
  return typeof source === "function";
}

/**
 * Serves a service over TCP.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Address, instancing and limits.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {TypeError} If `service` is neither a class nor an object.
 *
 * @example The classic example
 * ```ts ignore
 * import { exposed, serve, service } from "@netref/netref";
 * @service("test")
 * class TestService {
 *   @exposed foo() { return "foo"; }
 * }
 * await serve(TestService, { port: 18811 }).finished;
 * ```
 */
export function serve(
  service: ServiceSource,
  options: ServeOptions = {},
): Server {
  if (
    (typeof service !== "function" && typeof service !== "object") ||
    service === null
  ) {
    throw new TypeError("Cannot serve: expected a service class or object");
  }
  const sessionOptions = resolveOptions(options);
  const listener = listenTcp(
    options.hostname ?? DEFAULT_HOSTNAME,
    options.port ?? DEFAULT_PORT,
  );
  const shared = isClass(service)
    ? (options.shared ? new service() : null)
    : service;
  const sessions = new Set<Session>();
  let accepting = true;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);

  function open(conn: Deno.Conn): void {
    const label = formatAddr(conn.remoteAddr);
    let instance: object & ServiceHooks;
    try {
      instance = (shared ?? new (service as new () => object)()) as
        & object
        & ServiceHooks;
    } catch (error) {
      sessionOptions.log(
        `cannot create service for ${label}: ${String(error)}`,
      );
      conn.close();
      return;
    }
    const session = acceptSession(prepareAccepted(conn), {
      ...sessionOptions,
      root: instance,
      label,
      onReady: typeof instance.onConnect === "function"
        ? (c) => instance.onConnect!(c)
        : undefined,
      onClose: (c) => {
        sessions.delete(session);
        if (typeof instance.onDisconnect === "function") {
          instance.onDisconnect(c);
        }
      },
    });
    sessions.add(session);
  }

  const acceptLoop = (async () => {
    while (accepting) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (!accepting || error instanceof Deno.errors.BadResource) break;
        sessionOptions.log(`accept failed: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      open(conn);
    }
  })();

  let shuttingDown: Promise<void> | null = null;
  function shutdown(
    shutdownOptions: ShutdownOptions = {},
  ): Promise<void> {
    if (shuttingDown !== null) return shuttingDown;
    shuttingDown = (async () => {
      accepting = false;
      try {
        listener.close();
      } catch {
        // Already closed: nothing more to stop.
      }
      await acceptLoop;
      const deadline = shutdownOptions.deadline ?? 10_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...sessions].map((s) => s.idle())),
        new Promise((resolve) => timer = setTimeout(resolve, deadline)),
      ]);
      clearTimeout(timer);
      await Promise.all([...sessions].map((s) => s.close(null, true)));
      resolveFinished();
    })();
    return shuttingDown;
  }

  return {
    addr: listener.addr,
    finished,
    get connectionCount() {
      return sessions.size;
    },
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}
