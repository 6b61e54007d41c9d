/**
 * `netref registry`, which runs the embedded service registry, and
 * `netref list`, which prints what a registry (embedded or etcd) holds.
 *
 * @module
 */

import { RegistryError } from "../errors.ts";
import { formatInstances } from "../registry/format.ts";
import {
  serveRegistry,
  type ServeRegistryOptions,
} from "../registry/serve_registry.ts";
import { openRegistry } from "../registry/url.ts";
import type { Server } from "../server/server.ts";
import { formatAddr } from "../transport/tcp.ts";
import type { ListCommand, RegistryCommand } from "./args.ts";
import type { ClientOutput } from "./call.ts";
import type { ServeOutput } from "./serve.ts";
import { runUntilSignal } from "./signals.ts";

/**
 * Runs `netref registry` until SIGINT or SIGTERM.
 *
 * @param command The parsed command line.
 * @param output Where the URL line and logs go.
 * @returns 0 after a graceful shutdown, 1 if it cannot listen, 128 + the
 *   signal number if a second signal cut the shutdown short.
 *
 * @example
 * ```ts ignore
 * import { runRegistry } from "./registry.ts";
 * import { parseCommandLine, type RegistryCommand } from "./args.ts";
 * const command = parseCommandLine(["registry", "--port", "0"]) as RegistryCommand;
 * await runRegistry(command, { program: "netref", out: console.log, log: console.error });
 * ```
 */
export async function runRegistry(
  command: RegistryCommand,
  output: ServeOutput,
): Promise<number> {
  const options: ServeRegistryOptions = {
    hostname: command.host,
    port: command.port,
    warmup: command.warmup,
    log: output.log,
  };
  if (command.token !== undefined) options.token = command.token;
  let server: Server;
  try {
    server = serveRegistry(options);
  } catch (error) {
    output.log(
      `Cannot listen on ${
        formatAddr({
          transport: "tcp",
          hostname: command.host,
          port: command.port,
        })
      }: ${error instanceof Error ? error.message : error}`,
    );
    return 1;
  }
  output.out(
    `${output.program}: registry on netref://${formatAddr(server.addr)}`,
  );
  const code = await runUntilSignal({
    finished: server.finished,
    stop: async (signal) => {
      output.log(
        `${signal}: shutting down; ${server.connectionCount} connection(s) open`,
      );
      await server.shutdown({ deadline: 1000 });
    },
    log: output.log,
  });
  if (code === 0) output.log("stopped");
  return code;
}

/**
 * Runs `netref list`: prints the instances a registry holds as a table.
 *
 * @param command The parsed command line.
 * @param output Where the table and errors go.
 * @returns 0, or 1 if the registry could not be reached or refused.
 *
 * @example
 * ```ts ignore
 * import { runList } from "./registry.ts";
 * import { parseCommandLine, type ListCommand } from "./args.ts";
 * const command = parseCommandLine(["list", "netref://127.0.0.1:18810"]) as ListCommand;
 * await runList(command, { out: console.log, log: console.error });
 * ```
 */
export async function runList(
  command: ListCommand,
  output: ClientOutput,
): Promise<number> {
  const registry = await openRegistry(command.url, {
    token: command.token,
    timeout: command.timeout,
    log: output.log,
  });
  try {
    output.out(formatInstances(await registry.list(command.name)));
    return 0;
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    output.log(error.message);
    return 1;
  } finally {
    await registry.close();
  }
}
