/**
 * `netref call`: one connection, one call (or read), the result printed as
 * JSON, the connection closed.
 *
 * @module
 */

import { dir, isNetref } from "../core/proxy.ts";
import type { Connection } from "../core/types.ts";
import {
  type ConnectOptions,
  connectTo,
  resolveConnect,
} from "../client/connect.ts";
import { connectRpyc } from "../rpyc/client.ts";
import type { DialTlsOptions } from "../transport/tls.ts";
import type { CallCommand } from "./args.ts";
import { AccessError, errorMessage } from "../errors.ts";
import { classifyFailure, type FailureKind } from "./failure.ts";
import { formatJson, parseJsonArgs } from "./json.ts";
import { follow, formatMemberPath, type MemberPath } from "./path.ts";
import {
  type ClientSettings,
  type ClientTls,
  describeTarget,
  FlagFileError,
  readFlagFile,
} from "./settings.ts";

/** Where `call` and `inspect` print: stdout and stderr lines. */
export interface ClientOutput {
  /** The result (stdout). */
  out(text: string): void;
  /** Warnings (stderr). */
  log(line: string): void;
  /**
   * Reports a failure (stderr, as text or JSON) and gives its exit code.
   *
   * @param message What failed, on one line.
   * @param kind Its class, which sets the exit code.
   * @returns The exit code.
   */
  fail(message: string, kind: FailureKind): number;
}

/**
 * Runs `netref call`: calls the member at the path with the arguments (or,
 * with no arguments and no `()`, reads it if it is not a method) and prints
 * the result as JSON; a stream's items one JSON value per line as they
 * arrive (JSON Lines), until it ends or SIGINT cancels it.
 *
 * @param command The parsed command line.
 * @param output Where the result and errors go.
 * @returns 0, or the exit code of the failure's class (failure.ts): 2 for
 *   arguments on stdin that are not a JSON array, 3 if the server could not
 *   be reached, 4 if the call threw, 5 on a timeout, 6 if not exposed,
 *   130 if SIGINT stopped a stream.
 *
 * @example
 * ```ts ignore
 * import { runCall } from "./call.ts";
 * import { parseCommandLine, type CallCommand } from "./args.ts";
 * const command = parseCommandLine(["call", "localhost", "foo"]) as CallCommand;
 * await runCall(command, { out: console.log, log: console.error });
 * ```
 */
export async function runCall(
  command: CallCommand,
  output: ClientOutput,
): Promise<number> {
  let args = command.args;
  if (command.argsFromStdin) {
    try {
      args = parseJsonArgs(await readStdin(), "stdin");
    } catch (error) {
      return output.fail(errorMessage(error), "usage");
    }
  }
  let interrupted = false;
  const code = await withConnection(
    command.client,
    output,
    async (conn) => {
      const result = await invoke(conn.root, command.path, args);
      if (isStream(result)) {
        interrupted = await printStream(result, output);
      } else {
        output.out(formatJson(result, command.compact));
      }
    },
  );
  return code === 0 && interrupted ? 130 : code;
}

/** Whether a result is a stream the peer produces (not a netref). */
function isStream(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && !isNetref(value) &&
    Symbol.asyncIterator in value;
}

/**
 * Prints a stream's items as JSON Lines while they arrive. SIGINT cancels
 * the stream (the server's producer stops) and ends the printing.
 *
 * @returns Whether SIGINT stopped it.
 */
async function printStream(
  stream: AsyncIterable<unknown>,
  output: ClientOutput,
): Promise<boolean> {
  const iterator = stream[Symbol.asyncIterator]();
  const { promise: interrupted, resolve: interrupt } = Promise
    .withResolvers<"interrupted">();
  const onSignal = () => interrupt("interrupted");
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    for (;;) {
      const step = await Promise.race([iterator.next(), interrupted]);
      if (step === "interrupted") {
        // The CANCEL goes out before the connection's CLOSE.
        iterator.return?.()?.catch(() => {});
        return true;
      }
      if (step.done) return false;
      output.out(formatJson(step.value, true));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    text += chunk;
  }
  return text;
}

/**
 * Connects, runs `use`, closes, and turns failures into an exit code and a
 * line on stderr.
 *
 * @param settings The server, the transport, the timeout and the token.
 * @param output Where errors go.
 * @param use What to do with the connection.
 * @returns 0, or the exit code of the failure's class: the error's, or by
 *   default 3 (connection) when connecting failed and 1 when `use` did.
 *
 * @example
 * ```ts ignore
 * import { withConnection } from "./call.ts";
 * await withConnection(command.client, output, async (conn) => {
 *   output.out(String(await conn.ping()));
 * });
 * ```
 */
export async function withConnection(
  settings: ClientSettings,
  output: ClientOutput,
  use: (conn: Connection) => Promise<void>,
): Promise<number> {
  let conn: Connection;
  try {
    const options: ConnectOptions = { timeout: settings.timeout };
    if (settings.token !== undefined) options.token = settings.token;
    conn = settings.rpyc && settings.address.transport === "tcp"
      ? await connectRpyc(settings.address.hostname, settings.address.port, {
        timeout: settings.timeout,
      })
      : await connectTo(
        settings.address,
        resolveConnect(options),
        await readTlsFiles(settings.tls),
      );
  } catch (error) {
    const reason = describeError(error);
    return output.fail(
      error instanceof FlagFileError
        ? error.message
        // Transports that name the server already need no second prefix.
        : /^\w+: Cannot connect to /.test(reason)
        ? reason
        : `Cannot connect to ${describeTarget(settings)}: ${reason}`,
      error instanceof FlagFileError
        ? "failure"
        : classifyFailure(error, "connection"),
    );
  }
  try {
    await use(conn);
    return 0;
  } catch (error) {
    // Only RemoteError (and AccessError) come from the server: anything
    // else not classed was raised here, such as a message over its limit.
    return output.fail(
      describeError(error),
      classifyFailure(error, "failure"),
    );
  } finally {
    // Waits for a WebSocket's closing handshake too (briefly), so that the
    // server does not see the connection cut.
    await conn.close();
  }
}

/** Reads the TLS files the flags name. */
async function readTlsFiles(tls: ClientTls | null): Promise<DialTlsOptions> {
  if (tls === null) return {};
  return {
    ...(tls.caFile === undefined
      ? {}
      : { caCerts: [await readFlagFile("--tls-ca", tls.caFile)] }),
    ...(tls.certFile === undefined || tls.keyFile === undefined ? {} : {
      cert: await readFlagFile("--tls-cert", tls.certFile),
      key: await readFlagFile("--tls-key", tls.keyFile),
    }),
  };
}

/** What a call, read or listing failed with, on one line. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof Deno.errors.ConnectionRefused) return error.message;
  const code = (error as { code?: unknown }).code;
  return `${error.name}: ${error.message}${
    code === undefined || code === null ? "" : ` (code ${String(code)})`
  }`;
}

async function invoke(
  root: unknown,
  path: MemberPath,
  args: readonly unknown[],
): Promise<unknown> {
  const last = path[path.length - 1];
  const owner = follow(root, path.slice(0, -1)) as Record<
    string,
    (...args: unknown[]) => unknown
  >;
  if (args.length > 0 || last.call) return await owner[last.name](...args);
  // No arguments: a method is called, a field or getter read (as RPyC's
  // `conn.root.version` and `conn.root.foo()` both are, from Python).
  const members = await dir(owner);
  const kind = members.find((m) => m.name === last.name)?.kind;
  if (kind === "setter") {
    throw new AccessError(
      `Cannot read '${formatMemberPath(path)}': it is exposed for writing only`,
    );
  }
  return kind === "field" || kind === "getter"
    ? await owner[last.name]
    : await owner[last.name]();
}
