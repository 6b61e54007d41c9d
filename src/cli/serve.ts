/**
 * `netref serve`: listens on TCP, TLS, a Unix socket or WebSocket, logs
 * connects and disconnects, answers Python RPyC clients, applies the
 * limits and the token, announces itself in a registry, and shuts down
 * gracefully on SIGINT or SIGTERM.
 *
 * @module
 */

import { delay } from "../timing.ts";
import { rpycProtocol } from "../rpyc/server.ts";
import { announce } from "../registry/announce.ts";
import type { Registration, Registry } from "../registry/types.ts";
import { openRegistry } from "../registry/url.ts";
import {
  type ResolvedServe,
  resolveServe,
  type ServeListenerOptions,
  type Server,
  serveResolved,
  type ServiceSource,
} from "../server/server.ts";
import type { StreamListener } from "../transport/types.ts";
import { formatAddress } from "../transport/address.ts";
import { listen, type Listening } from "../transport/listen.ts";
import { formatAddr, formatHostPort } from "../transport/tcp.ts";
import type { ByteStream, GatedListener } from "../transport/types.ts";
import type { ServeCommand } from "./args.ts";
import type { Listen } from "./serve_args.ts";
import {
  exposureWarning,
  loadService,
  type NamedService,
  ServiceLoadError,
  serviceRoot,
} from "./services.ts";
import { FlagFileError, readFlagFile } from "./settings.ts";
import { runUntilSignal } from "./signals.ts";
import { serveLog } from "./log_format.ts";
import { logEvent, type LogHook } from "../log.ts";
import { openTelemetry } from "../observe/telemetry.ts";

/** How `serve` reports: one line per call, without the trailing newline. */
export interface ServeOutput {
  /** The program name that starts the address line. */
  program: string;
  /** The address line (stdout). */
  out(line: string): void;
  /** Logs (stderr). */
  log(line: string): void;
  /** Writes a line to stderr as it is, for `--log json`; else `log`. */
  write?(line: string): void;
}

/**
 * Milliseconds between withdrawing from the registry and draining: clients
 * that looked this server up just before may still be connecting.
 */
const WITHDRAW_GRACE = 250;

/**
 * Runs `netref serve` until SIGINT or SIGTERM.
 *
 * @param command The parsed command line.
 * @param defaults What to serve when no `--service` is given.
 * @param output Where lines go.
 * @returns The exit code: 0 after a graceful shutdown, 1 if it cannot start
 *   (or cannot register), 128 + the signal number if a second signal cut
 *   the shutdown short.
 *
 * @example
 * ```ts ignore
 * import { runServe } from "./serve.ts";
 * import { parseCommandLine, type ServeCommand } from "./args.ts";
 * const command = parseCommandLine(["serve", "--port", "0"]) as ServeCommand;
 * await runServe(command, [], {
 *   program: "netref",
 *   out: console.log,
 *   log: console.error,
 * });
 * ```
 */
export async function runServe(
  command: ServeCommand,
  defaults: readonly NamedService[],
  given: ServeOutput,
): Promise<number> {
  const report = serveLog(
    command.logFormat,
    command.logFormat === "json" ? given.write ?? given.log : given.log,
  );
  const output = { ...given, log: report.line };
  let services: NamedService[];
  let root: ServiceSource;
  try {
    services = command.services.length === 0
      ? [...defaults]
      : await Promise.all(
        command.services.map((spec) => loadService(spec, Deno.cwd())),
      );
    root = serviceRoot(services);
    for (const service of services) {
      const warning = exposureWarning(service);
      if (warning !== null) output.log(warning);
    }
  } catch (error) {
    if (!(error instanceof ServiceLoadError)) throw error;
    output.log(error.message);
    return 1;
  }

  const options: ServeListenerOptions = {
    maxConnections: command.maxConnections,
    maxInFlight: command.maxInFlight,
    maxExports: command.maxExports,
    maxStreams: command.maxStreams,
    maxFrameBytes: command.maxFrameBytes,
    frameTimeout: command.frameTimeout,
    handshakeTimeout: command.handshakeTimeout,
    idleTimeout: command.idleTimeout,
    includeStack: command.includeStack,
    onLog: report.event,
    // Spans and metrics when a provider is registered (OTEL_DENO=true).
    intercept: openTelemetry(),
    // As serve() does: RPyC clients are told apart by their first bytes.
    foreignProtocols: command.rpyc ? [rpycProtocol()] : [],
  };
  if (command.token !== undefined) options.token = command.token;
  let resolved: ResolvedServe;
  try {
    resolved = resolveServe(root, options); // Before anything listens.
  } catch (error) {
    output.log(`Cannot serve: ${(error as Error).message}`);
    return 1;
  }

  let listening: Listening;
  try {
    listening = await listenAs(command.listen, command, output.log);
  } catch (error) {
    output.log(
      error instanceof FlagFileError
        ? error.message
        : `Cannot listen on ${describeListen(command.listen)}: ${
          error instanceof Error ? error.message : error
        }`,
    );
    return 1;
  }
  const server = serveResolved(
    loggingListener(listening.listener, report.event),
    root,
    resolved,
  );

  const names = services.map((s) => s.name);
  const { address } = listening;
  // A TLS address is shown as --tls clients type it, host:port.
  const where = address.transport === "tls"
    ? formatHostPort(address.hostname, address.port)
    : formatAddress(address);
  const how = command.listen.transport !== "tls"
    ? ""
    : command.listen.caFile === undefined
    ? " (TLS)"
    : " (mutual TLS)";
  output.out(
    services.length === 1
      ? `${output.program}: serving ${names[0]} on ${where}${how}`
      : `${output.program}: serving ${names.join(", ")} on ${where} as ${
        names.map((n) => `root.${n}`).join(", ")
      }${how}`,
  );

  let registry: Registry | null = null;
  let registration: Registration | null = null;
  if (command.register !== null) {
    const { url, ttl, advertise, token } = command.register;
    try {
      registry = await openRegistry(url, { token, log: output.log });
      registration = await announce(tcpServer(server), registry, {
        names,
        ttl,
        address: advertise,
        log: output.log,
      });
      const [{ hostname, port }] = registration.instances;
      output.log(
        `registered ${names.join(", ")} as ${
          formatAddr({ transport: "tcp", hostname, port })
        } in ${registry.url} (ttl ${ttl} ms)`,
      );
    } catch (error) {
      output.log(
        `Cannot register ${names.join(", ")}: ${
          error instanceof Error ? error.message : error
        }`,
      );
      await server.shutdown({ deadline: 0 });
      await listening.release();
      await registry?.close();
      return 1;
    }
  }

  const stop = async (signal: Deno.Signal) => {
    if (registration !== null && registry !== null) {
      output.log(`${signal}: withdrawing from ${registry.url}`);
      await registration.withdraw();
      await delay(WITHDRAW_GRACE);
    }
    output.log(
      `${signal}: shutting down; ${server.connectionCount} connection(s) get up to ${command.shutdownDeadline} ms to finish their calls`,
    );
    await server.shutdown({ deadline: command.shutdownDeadline });
  };
  const finished = server.finished.then(async () => {
    await listening.release();
    await registry?.close();
  });
  const code = await runUntilSignal({ finished, stop, log: output.log });
  if (code === 0) output.log("stopped");
  return code;
}

/** Listens as the flags say, reading the TLS files they name. */
async function listenAs(
  listening: Listen,
  limits: { readonly handshakeTimeout: number },
  log: (line: string) => void,
): Promise<Listening> {
  switch (listening.transport) {
    case "tls":
      return await listen({
        transport: "tls",
        hostname: listening.host,
        port: listening.port,
        cert: await readFlagFile("--tls-cert", listening.certFile),
        key: await readFlagFile("--tls-key", listening.keyFile),
        ca: listening.caFile === undefined
          ? undefined
          : await readFlagFile("--tls-ca", listening.caFile),
        handshakeTimeout: limits.handshakeTimeout,
        log,
      });
    case "unix":
      return await listen(listening);
    default:
      return await listen({
        transport: listening.transport,
        hostname: listening.host,
        port: listening.port,
      });
  }
}

function describeListen(listen: Listen): string {
  switch (listen.transport) {
    case "unix":
      return listen.path;
    case "websocket":
      return `ws://${formatHostPort(listen.host, listen.port)}/`;
    case "tls":
      return `${formatHostPort(listen.host, listen.port)} (TLS)`;
    case "tcp":
      return formatHostPort(listen.host, listen.port);
  }
}

/** The server as `announce()` takes it: only TCP servers are announced. */
function tcpServer(server: Server<Deno.Addr>): Server {
  if (server.addr.transport !== "tcp") {
    throw new TypeError("Cannot announce a server that does not listen on TCP");
  }
  return server as Server;
}

/**
 * Wraps a listener so that each connection is logged when it opens and when
 * it closes, with the peer's address and the number open; this sees every
 * connection, including those refused at the limit.
 *
 * @param listener The listener to wrap.
 * @param log Receives one event per connection opened
 *   (`connection.open`) and closed (`connection.close`).
 * @returns The same listener, logging.
 *
 * @example
 * ```ts ignore
 * import { loggingListener } from "./serve.ts";
 * const logged = loggingListener(listener, console.error);
 * ```
 */
export function loggingListener<A extends Deno.Addr>(
  listener: StreamListener<A>,
  log: LogHook,
): StreamListener<A> {
  let open = 0;
  const logging: StreamListener<A> = {
    addr: listener.addr,
    close: () => listener.close(),
    async accept(): Promise<ByteStream> {
      const stream = await listener.accept();
      const label = stream.remoteAddr ? formatAddr(stream.remoteAddr) : "peer";
      open++;
      log(
        logEvent(
          "info",
          "connection.open",
          `connected ${label} (${open} open)`,
          {
            peer: label,
          },
        ),
      );
      let closed = false;
      return {
        read: (buffer) => stream.read(buffer),
        write: (data) => stream.write(data),
        remoteAddr: stream.remoteAddr,
        peerCertificateSubject: stream.peerCertificateSubject,
        close() {
          if (!closed) {
            closed = true;
            open--;
            log(logEvent(
              "info",
              "connection.close",
              `disconnected ${label} (${open} open)`,
              { peer: label },
            ));
          }
          stream.close();
        },
      };
    },
  };
  // A listener that counts its sockets from the TLS handshake keeps doing so.
  if ("useGate" in listener) {
    const gated = listener as GatedListener<A>;
    const kept: GatedListener<A> = {
      ...logging,
      useGate: (gate) => gated.useGate(gate),
    };
    return kept;
  }
  return logging;
}
