/**
 * `netref registry`, which runs the embedded service registry, and
 * `netref list`, which prints what a registry (embedded or etcd) holds.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { Registry } from "../registry/types.ts";
import { classifyFailure } from "./failure.ts";
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
 * Runs `netref list`: prints the instances a registry holds as a table, or
 * with `--json` as a JSON array.
 *
 * @param command The parsed command line.
 * @param output Where the table and errors go.
 * @returns 0, or the exit code of the failure's class (failure.ts): 3 if
 *   the registry could not be reached or refused, 5 on a timeout.
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
  let registry: Registry;
  try {
    registry = await openRegistry(command.url, {
      token: command.token,
      timeout: command.timeout,
      log: output.log,
    });
  } catch (error) {
    return output.fail(
      errorMessage(error),
      classifyFailure(error, "connection"),
    );
  }
  try {
    const instances = await registry.list(command.name);
    output.out(
      command.json ? JSON.stringify(instances) : formatInstances(instances),
    );
    return 0;
  } catch (error) {
    // A RegistryError names the registry; its cause tells the class.
    return output.fail(
      errorMessage(error),
      classifyFailure(error, "connection"),
    );
  } finally {
    await registry.close();
  }
}
