/**
 * The `netref` command: serve netref services from the shell.
 *
 * ```sh
 * deno run --allow-net jsr:@netref/netref/server serve --port 18811
 * ```
 *
 * Compiled into one executable with `deno task compile` (see the README).
 *
 * @module
 */

import { parseArgs } from "cli";
import { serve } from "./mod.ts";
import { TestService } from "./examples/test_service.ts";

/** The version `netref --version` prints. */
export const VERSION = "0.1.0";

const USAGE = `netref ${VERSION}: remote-object RPC for Deno

Usage:
  netref serve [--host HOST] [--port PORT]   serve the example TestService
  netref --version                            print the version
  netref --help                               print this help

Options of serve:
  --host HOST   address to listen on (default 127.0.0.1)
  --port PORT   TCP port (default 18811; 0 picks a free one)
`;

/**
 * Runs the CLI with `args` and returns the process exit code.
 *
 * @param args The command-line arguments, without the program name.
 * @returns 0 on success, 2 on a usage error.
 *
 * @example
 * ```ts ignore
 * import { main } from "./server.ts";
 * Deno.exit(await main(["--version"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "18811" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    });
  } catch (error) {
    console.error(
      `netref: ${error instanceof Error ? error.message : error}\n\n${USAGE}`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    console.log(VERSION);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (positionals[0] !== "serve" || positionals.length > 1) {
    console.error(
      `netref: unknown command '${positionals.join(" ")}'\n\n${USAGE}`,
    );
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `netref: --port must be an integer from 0 to 65535, got '${values.port}'`,
    );
    return 2;
  }
  const server = serve(TestService, { hostname: values.host, port });
  console.log(
    `netref: serving TestService on ${server.addr.hostname}:${server.addr.port}`,
  );
  const stop = () => {
    console.log("netref: shutting down");
    server.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
