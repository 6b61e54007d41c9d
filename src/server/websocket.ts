/**
 * Serving over WebSocket: a server of its own on `Deno.serve`, or a request
 * handler to mount on an HTTP server of yours. Options are checked by
 * `resolveServe()` before anything listens, as for every transport.
 *
 * @module
 */

import { listenWebSocket } from "../transport/listen.ts";
import { WebSocketListener } from "../transport/websocket.ts";
import {
  resolveServe,
  type Server,
  serveResolved,
  type ServerOptions,
  type ServiceSource,
} from "./server.ts";
import { NO_ADDR, unbound, type UnboundServer } from "./transports.ts";

/** Options of {@linkcode webSocketHandler}. */
export interface WebSocketHandlerOptions extends ServerOptions {
  /**
   * Origins (such as `"https://app.example"`) whose pages may connect, or
   * `["*"]` for any. Requests without an `Origin` header (programs, not
   * browsers) are always allowed; requests from other origins get 403, so
   * that no web page a user happens to visit can reach the service. A page
   * served by the same server needs its own origin listed too: a same-origin
   * check alone would let DNS rebinding through.
   *
   * @default {[]}
   */
  allowedOrigins?: readonly string[];
}

/** Options of {@linkcode serveWebSocket}. */
export interface WebSocketServeOptions extends WebSocketHandlerOptions {
  /**
   * Address to listen on. Loopback unless told otherwise.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * TCP port; `0` picks a free one (read it from `server.addr`).
   *
   * @default {18880}
   */
  port?: number;
  /**
   * The URL path WebSocket clients connect to; other paths get 404.
   *
   * @default {"/"}
   */
  path?: string;
}

/** A netref server to mount in an HTTP server of your own. */
export interface WebSocketHandler extends UnboundServer {
  /**
   * Answers one HTTP request by upgrading it to a WebSocket that serves
   * netref; a request that is not a WebSocket upgrade gets 426, one from an
   * origin not allowed gets 403, and any after shutdown 503.
   *
   * @param request The request.
   * @param info From `Deno.serve`, for the peer's address.
   * @returns The response.
   */
  handle(request: Request, info?: Deno.ServeHandlerInfo): Response;
}

/**
 * Makes a request handler that serves a service to WebSocket clients, to
 * mount on a `Deno.serve` app of your own, next to your other routes.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Allowed origins, and limits.
 * @returns The handler, which is also the server (`shutdown`, `finished`).
 * @throws {TypeError} If `service` is neither a class nor an object.
 *
 * @example Next to other routes
 * ```ts
 * import { webSocketHandler } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * const netref = webSocketHandler(TestService, {
 *   allowedOrigins: ["http://localhost:8000"],
 * });
 * Deno.serve({ port: 8000 }, (request, info) =>
 *   new URL(request.url).pathname === "/netref"
 *     ? netref.handle(request, info)
 *     : new Response("hello"));
 * ```
 */
export function webSocketHandler(
  service: ServiceSource,
  options: WebSocketHandlerOptions = {},
): WebSocketHandler {
  const resolved = resolveServe(service, options);
  const listener = new WebSocketListener({
    addr: NO_ADDR,
    allowedOrigins: options.allowedOrigins,
  });
  const server = serveResolved(listener, service, resolved);
  return {
    ...unbound(server),
    get connectionCount() {
      return server.connectionCount;
    },
    handle: (request, info) => listener.handle(request, info),
  };
}

/**
 * Serves a service to WebSocket clients (browsers included) on an HTTP
 * server of its own, built on `Deno.serve`. To add netref to an HTTP server
 * of yours instead, use {@linkcode webSocketHandler}.
 *
 * @param service A service class, or an object shared by every connection.
 * @param options Address, URL path, allowed origins, and limits.
 * @returns The running server; shutting it down also stops the HTTP server.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {TypeError} If `path` does not start with "/".
 *
 * @example
 * ```ts
 * import { serveWebSocket } from "@netref/netref";
 * import { TestService } from "../../examples/test_service.ts";
 * const server = serveWebSocket(TestService, { port: 18880 });
 * // In a browser: await connectWebSocket("ws://127.0.0.1:18880/")
 * await server.finished;
 * ```
 */
export function serveWebSocket(
  service: ServiceSource,
  options: WebSocketServeOptions = {},
): Server {
  const resolved = resolveServe(service, options); // Before anything listens.
  const { listener, release } = listenWebSocket({
    transport: "websocket",
    hostname: options.hostname,
    port: options.port,
    path: options.path,
    allowedOrigins: options.allowedOrigins,
  });
  let server: Server;
  try {
    server = serveResolved(listener, service, resolved);
  } catch (error) {
    release(); // serveResolved closed the listener.
    throw error;
  }
  // The HTTP server stops once every WebSocket on it has closed.
  const finished = server.finished.then(release);
  return {
    addr: server.addr,
    finished,
    get connectionCount() {
      return server.connectionCount;
    },
    async shutdown(shutdownOptions) {
      await server.shutdown(shutdownOptions);
      await finished;
    },
    [Symbol.asyncDispose]: () => server.shutdown().then(() => finished),
  };
}
