/**
 * The `netref` command: serve netref services (over TCP, TLS, a Unix socket
 * or WebSocket, to netref and Python RPyC clients), call them and list their
 * members from the shell, and run and query a service registry.
 *
 * ```sh
 * deno run --allow-net jsr:@netref/netref/server serve --port 18811
 * deno run --allow-net jsr:@netref/netref/server call localhost:18811 foo
 * deno run --allow-net jsr:@netref/netref/server inspect localhost:18811
 * deno run --allow-net jsr:@netref/netref/server registry
 * deno run --allow-net jsr:@netref/netref/server list netref://127.0.0.1:18810
 * ```
 *
 * `deno task compile` builds it into one executable. To compile a server of
 * your own services, import {@linkcode main} in a small entry script and
 * pass them in:
 *
 * ```ts
 * import { main } from "@netref/netref/server";
 * import { Calculator } from "./examples/compile_own_server/calculator.ts";
 *
 * if (import.meta.main) {
 *   Deno.exit(await main(Deno.args, { services: [Calculator] }));
 * }
 * ```
 *
 * @module
 */

import type { ServiceSource } from "./mod.ts";
import { TestService } from "./examples/test_service.ts";
import {
  type OutputSettings,
  parseCommandLine,
  UsageError,
} from "./src/cli/args.ts";
import {
  EXIT_CODES,
  formatFailure,
  scanErrorFormat,
} from "./src/cli/failure.ts";
import { usage } from "./src/cli/usage.ts";
import { type ClientOutput, runCall } from "./src/cli/call.ts";
import { runInspect } from "./src/cli/inspect.ts";
import { runServe } from "./src/cli/serve.ts";
import { runList, runRegistry } from "./src/cli/registry.ts";
import { named } from "./src/cli/services.ts";

export type { ServiceSource } from "./mod.ts";
// The types of the server functions' options and results, and of the
// protocols a server answers besides netref's own (what `rpycProtocol`
// returns), for programs that name them; mod.ts exports the functions.
export type {
  ForeignContext,
  ForeignProtocol,
  ServedConnection,
  ServeListenerOptions,
  ShutdownOptions,
} from "./src/server/server.ts";
export type {
  MemoryServer,
  StdioServeOptions,
  TlsServeOptions,
  UnboundServer,
  UnixServeOptions,
} from "./src/server/transports.ts";
export type {
  WebSocketHandler,
  WebSocketHandlerOptions,
  WebSocketServeOptions,
} from "./src/server/websocket.ts";
export type { CallContext } from "./src/core/context.ts";

/**
 * The version `netref --version` prints.
 *
 * @example
 * ```ts
 * import { VERSION } from "@netref/netref/server";
 * console.assert(/^\d+\.\d+\.\d+$/.test(VERSION));
 * ```
 */
export const VERSION = "0.1.0";

/** Options of {@linkcode main}, for programs that embed the CLI. */
export interface MainOptions {
  /**
   * What `serve` serves when no `--service` flag is given: one service is
   * the root; several are members of the root by their `@service` names.
   *
   * @default {[TestService]} (the example)
   */
  services?: readonly ServiceSource[];
  /**
   * The program name in usage texts and messages.
   *
   * @default {"netref"}
   */
  name?: string;
  /**
   * What `--version` prints.
   *
   * @default {VERSION}
   */
  version?: string;
}

/**
 * Runs the CLI with `args` and returns the process exit code. `serve` and
 * `registry` run until SIGINT or SIGTERM. Secrets that `--token-env` names
 * are read from the environment (needs `--allow-env`).
 *
 * @param args The command-line arguments, without the program name.
 * @param options The services to serve by default, the program name and
 *   version, for programs that embed the CLI.
 * @returns 0 on success; on a failure, reported on stderr, the exit code
 *   of its class: 1 other failure, 2 usage error (printed with the usage),
 *   3 connection, 4 remote error, 5 timeout, 6 access refused (see
 *   `netref help` and docs/cli.md).
 * @throws {TypeError} If `options.services` holds something that is neither
 *   a class nor an object.
 *
 * @example Run the CLI
 * ```ts
 * import { main } from "@netref/netref/server";
 * if (import.meta.main) Deno.exit(await main(Deno.args));
 * ```
 *
 * @example A server of your own, compiled with `deno compile`
 * ```ts
 * import { main } from "@netref/netref/server";
 * import { Calculator } from "./examples/compile_own_server/calculator.ts";
 * if (import.meta.main) {
 *   Deno.exit(await main(Deno.args, { services: [Calculator], name: "calc" }));
 * }
 * ```
 */
export async function main(
  args: readonly string[],
  options: MainOptions = {},
): Promise<number> {
  const program = options.name ?? "netref";
  const version = options.version ?? VERSION;
  const defaults = (options.services ?? [TestService]).map((source) => {
    if (
      (typeof source !== "function" && typeof source !== "object") ||
      source === null
    ) {
      throw new TypeError(
        "Cannot run the CLI: each of options.services must be a class or an object",
      );
    }
    return named(source);
  });
  const texts = {
    program,
    version,
    defaults: options.services === undefined
      ? "the example TestService"
      : defaults.map((service) => service.origin).join(" and "),
  };
  const out = (text: string) => console.log(text);
  const log = (line: string) => console.error(`${program}: ${line}`);

  let invocation;
  try {
    invocation = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (scanErrorFormat(args) === "json") {
      console.error(formatFailure(program, "json", error.message, "usage"));
      return EXIT_CODES.usage;
    }
    const command = error.command === undefined ? "" : ` ${error.command}`;
    console.error(
      `${program}${command}: ${error.message}\n\n${
        usage(error.command, texts)
      }`,
    );
    return EXIT_CODES.usage;
  }
  // What call, inspect and list print: --quiet drops the result, --format
  // sets the form of the error line.
  const client = (settings: OutputSettings): ClientOutput => ({
    out: settings.quiet ? () => {} : out,
    log,
    fail: (message, kind) => {
      console.error(formatFailure(program, settings.format, message, kind));
      return EXIT_CODES[kind];
    },
  });
  switch (invocation.command) {
    case "version":
      out(version);
      return 0;
    case "help":
      out(usage(invocation.topic, texts));
      return 0;
    case "serve":
      return await runServe(invocation, defaults, {
        program,
        out,
        log,
        write: (line) => console.error(line),
      });
    case "call":
      return await runCall(invocation, client(invocation.output));
    case "inspect":
      return await runInspect(invocation, client(invocation.output));
    case "registry":
      return await runRegistry(invocation, { program, out, log });
    case "list":
      return await runList(invocation, client(invocation.output));
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
