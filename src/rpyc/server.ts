/**
 * Serving Python RPyC clients on a netref server's port: a
 * `ForeignProtocol` that recognises RPyC's first frame and serves the
 * connection's service instance through netref's exposure policy.
 *
 * @example
 * ```ts
 * import { serveListener } from "@netref/netref";
 * import { rpycProtocol } from "@netref/netref/rpyc";
 * import { TestService } from "../../examples/test_service.ts";
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 18811 });
 * serveListener(
 *   { addr: tcp.addr, accept: () => tcp.accept(), close: () => tcp.close() },
 *   TestService,
 *   { foreignProtocols: [rpycProtocol()] },
 * );
 * ```
 *
 * @module
 */

import { logEvent } from "../log.ts";
import type { ByteStream } from "../transport/types.ts";
import type {
  ForeignContext,
  ForeignProtocol,
  ServedConnection,
} from "../server/server.ts";
import { RpycSession } from "./protocol.ts";
import { looksLikeRpyc } from "./wire.ts";

/** How long a silent RPyC client may wait before its first request. */
const SILENT_CLIENT_MS = 60_000;

/**
 * The RPyC protocol for a netref server: Python clients (`rpyc.connect`)
 * reach the service as `conn.root`, on the same port as netref clients.
 *
 * Each connection calls the service's `onConnect(conn)` once the client's
 * first message has arrived, before it is answered; `conn` is a
 * `Connection` whose `root` is the Python client's service (a netref, for
 * calling it back), with `close()`, `closed`, `stats` and `ping()`.
 * `onDisconnect(conn)` runs when it closes. A server with a `token` refuses
 * RPyC clients, which cannot present one.
 *
 * @returns The protocol, for `serveListener`'s `foreignProtocols`.
 *
 * @example
 * ```ts
 * import { rpycProtocol } from "./server.ts";
 * const rpyc = rpycProtocol();
 * console.assert(rpyc.matches(new Uint8Array([0, 0, 0, 9, 0, 0x12, 0x51])) === true);
 * ```
 */
export function rpycProtocol(): ForeignProtocol {
  return {
    name: "rpyc",
    matches: looksLikeRpyc,
    serve: serveRpyc,
    acceptsSilent: true,
  };
}

function serveRpyc(
  stream: ByteStream,
  context: ForeignContext,
): ServedConnection {
  const { service, options, label } = context;
  if (options.token !== undefined) {
    const reason =
      "the server requires a token, which RPyC clients cannot send";
    options.log(logEvent(
      "warn",
      "connection.refused",
      `refused RPyC client ${label}: ${reason}`,
      { peer: label, reason },
    ));
    try {
      stream.close();
    } catch {
      // Already closed by the peer.
    }
    context.onClose();
    return { idle: () => Promise.resolve(), close: () => Promise.resolve() };
  }
  let connected = false;
  const session = new RpycSession(stream, {
    root: service,
    version: null,
    timeout: options.timeout,
    maxFrameBytes: options.maxFrameBytes,
    // A client handed over for its silence may stay silent until first
    // used, as Python RPyC clients do; idleTimeout, or else a minute, bounds
    // that silence, so silent connections cannot pin server slots forever.
    handshakeTimeout: context.silent
      ? (options.idleTimeout > 0 ? options.idleTimeout : SILENT_CLIENT_MS)
      : options.handshakeTimeout,
    idleTimeout: options.idleTimeout,
    maxInFlight: options.maxInFlight,
    maxExports: options.maxExports,
    maxStreams: options.maxStreams,
    frameTimeout: options.frameTimeout,
    includeStack: options.includeStack,
    log: options.log,
    intercept: options.intercept,
    label,
    onReady: (conn) => {
      connected = true;
      if (typeof service.onConnect === "function") {
        return service.onConnect(conn);
      }
    },
    onClose: (conn) => {
      context.onClose();
      // Only a client that sent a valid first message was connected.
      if (connected && typeof service.onDisconnect === "function") {
        return service.onDisconnect(conn);
      }
    },
  });
  return {
    idle: () => session.idle(),
    close: () => session.close(null, true),
  };
}
