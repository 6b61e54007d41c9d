/**
 * `netref serve`: listens, logs connects and disconnects, applies the
 * limits, and shuts down gracefully on SIGINT or SIGTERM.
 *
 * @module
 */

import {
  serveListener,
  type ServeListenerOptions,
  type ServiceSource,
  type StreamListener,
} from "../../mod.ts";
import { formatAddr, listenTcp, prepareAccepted } from "../transport/tcp.ts";
import type { ByteStream } from "../transport/types.ts";
import type { ServeCommand } from "./args.ts";
import {
  exposureWarning,
  loadService,
  type NamedService,
  ServiceLoadError,
  serviceRoot,
} from "./services.ts";

/** How `serve` reports: one line per call, without the trailing newline. */
export interface ServeOutput {
  /** The program name that starts the address line. */
  program: string;
  /** The address line (stdout). */
  out(line: string): void;
  /** Logs (stderr). */
  log(line: string): void;
}

/**
 * Runs `netref serve` until SIGINT or SIGTERM.
 *
 * @param command The parsed command line.
 * @param defaults What to serve when no `--service` is given.
 * @param output Where lines go.
 * @returns The exit code: 0 after a graceful shutdown, 1 if it cannot start,
 *   128 + the signal number if a second signal cut the shutdown short.
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
  output: ServeOutput,
): Promise<number> {
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

  let tcp: Deno.TcpListener;
  try {
    tcp = listenTcp(command.host, command.port);
  } catch (error) {
    output.log(
      `Cannot listen on ${command.host}:${command.port}: ${
        error instanceof Error ? error.message : error
      }`,
    );
    return 1;
  }
  const options: ServeListenerOptions = {
    maxConnections: command.maxConnections,
    maxInFlight: command.maxInFlight,
    maxFrameBytes: command.maxFrameBytes,
    handshakeTimeout: command.handshakeTimeout,
    idleTimeout: command.idleTimeout,
    includeStack: command.includeStack,
    log: output.log,
  };
  const server = serveListener(
    loggingListener(
      {
        addr: tcp.addr,
        accept: async () => prepareAccepted(await tcp.accept()),
        close: () => tcp.close(),
      },
      output.log,
    ),
    root,
    options,
  );

  const names = services.map((s) => s.name);
  output.out(
    services.length === 1
      ? `${output.program}: serving ${names[0]} on ${formatAddr(server.addr)}`
      : `${output.program}: serving ${names.join(", ")} on ${
        formatAddr(server.addr)
      } as ${names.map((n) => `root.${n}`).join(", ")}`,
  );

  let stopping = false;
  let forced: (code: number) => void = () => {};
  const cutShort = new Promise<number>((resolve) => forced = resolve);
  const signals: [Deno.Signal, number][] = [["SIGINT", 2], ["SIGTERM", 15]];
  const listeners: [Deno.Signal, () => void][] = [];
  for (const [signal, number] of signals) {
    const listener = () => {
      if (stopping) {
        output.log(`${signal} again: closing every connection now`);
        forced(128 + number);
        return;
      }
      stopping = true;
      output.log(
        `${signal}: shutting down; ${server.connectionCount} connection(s) get up to ${command.shutdownDeadline} ms to finish their calls`,
      );
      server.shutdown({ deadline: command.shutdownDeadline }).catch((error) =>
        output.log(`shutdown failed: ${error}`)
      );
    };
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch {
      // SIGTERM cannot be listened for on Windows; SIGINT still works.
    }
  }
  try {
    const code = await Promise.race([
      server.finished.then(() => 0),
      cutShort,
    ]);
    if (code === 0) output.log("stopped");
    return code;
  } finally {
    for (const [signal, listener] of listeners) {
      Deno.removeSignalListener(signal, listener);
    }
  }
}

/**
 * Wraps a listener so that each connection is logged when it opens and when
 * it closes, with the peer's address and the number open; this sees every
 * connection, including those refused at the limit.
 *
 * @param listener The listener to wrap.
 * @param log Receives one line per event.
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
  log: (line: string) => void,
): StreamListener<A> {
  let open = 0;
  return {
    addr: listener.addr,
    close: () => listener.close(),
    async accept(): Promise<ByteStream> {
      const stream = await listener.accept();
      const label = stream.remoteAddr ? formatAddr(stream.remoteAddr) : "peer";
      open++;
      log(`connected ${label} (${open} open)`);
      let closed = false;
      return {
        read: (buffer) => stream.read(buffer),
        write: (data) => stream.write(data),
        remoteAddr: stream.remoteAddr,
        close() {
          if (!closed) {
            closed = true;
            open--;
            log(`disconnected ${label} (${open} open)`);
          }
          stream.close();
        },
      };
    },
  };
}
