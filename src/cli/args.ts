/**
 * Parsing the command line of `netref` into what to do, with the flags of
 * usage.ts; every mistake is a {@linkcode UsageError}. Nothing here touches
 * the network.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { parseArgs } from "node:util";
import { parseRegistryUrl } from "../registry/url.ts";
import { checkName } from "../registry/validate.ts";
import { parseAddress } from "../transport/address.ts";
import { type MemberPath, parseMemberPath } from "./path.ts";
import { parseJsonArg, parseJsonArgs } from "./json.ts";
import type { ErrorFormat } from "./failure.ts";
import { buildServe, type ServeCommand } from "./serve_args.ts";
import {
  type ClientSettings,
  type EnvReader,
  type FlagValues,
  readClientTls,
  readTokenEnv,
} from "./settings.ts";
import { parseDuration, parseInteger } from "./units.ts";
import {
  type CommandName,
  COMMANDS,
  DEFAULTS,
  type FlagSpec,
  HELP,
} from "./usage.ts";

export type { CommandName } from "./usage.ts";
export type { ServeCommand } from "./serve_args.ts";

/** A mistake on the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  /** The subcommand whose usage to print, or undefined for the whole. */
  readonly command: CommandName | undefined;

  /**
   * Makes a usage error.
   *
   * @param message What is wrong, such as "unknown option '--bogus'".
   * @param command The subcommand it concerns.
   * @param options The cause, if any.
   */
  constructor(message: string, command?: CommandName, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
    this.command = command;
  }
}

/** How `call`, `inspect` and `list` print: `--quiet` and `--format`. */
export interface OutputSettings {
  /** Print no result, only errors. */
  readonly quiet: boolean;
  /** Errors as a line of text, or of JSON. */
  readonly format: ErrorFormat;
}

/** What `call` was asked to do. */
export interface CallCommand {
  readonly command: "call";
  /** The server and how to reach it. */
  readonly client: ClientSettings;
  readonly path: MemberPath;
  readonly args: readonly unknown[];
  /** `-d @`: the arguments are a JSON array to read from stdin. */
  readonly argsFromStdin: boolean;
  readonly compact: boolean;
  readonly output: OutputSettings;
}

/** What `inspect` was asked to do. */
export interface InspectCommand {
  readonly command: "inspect";
  /** The server and how to reach it. */
  readonly client: ClientSettings;
  readonly path: MemberPath;
  readonly json: boolean;
  readonly output: OutputSettings;
}

/** What `registry` was asked to do. */
export interface RegistryCommand {
  readonly command: "registry";
  readonly host: string;
  readonly port: number;
  /** The secret clients must send, if any. */
  readonly token: string | undefined;
  /** Milliseconds after start during which `list` answers wait. */
  readonly warmup: number;
}

/** What `list` was asked to do. */
export interface ListCommand {
  readonly command: "list";
  /** The registry's URL. */
  readonly url: string;
  /** Only this service's instances, if given. */
  readonly name: string | undefined;
  /** The registry's secret, if any. */
  readonly token: string | undefined;
  /** Milliseconds to wait for the registry. */
  readonly timeout: number;
  /** Print the instances as JSON. */
  readonly json: boolean;
  readonly output: OutputSettings;
}

/** The parsed command line. */
export type Invocation =
  | { readonly command: "help"; readonly topic: CommandName | undefined }
  | { readonly command: "version" }
  | ServeCommand
  | CallCommand
  | InspectCommand
  | RegistryCommand
  | ListCommand;

function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/**
 * Parses the command line.
 *
 * @param args The arguments, without the program name.
 * @param env Reads the environment, for the secrets that `--token-env`
 *   names; `Deno.env.get` unless told otherwise.
 * @returns What to do.
 * @throws {UsageError} On an unknown command or flag, a missing argument, a
 *   value out of range, flags that cannot go together, or a `--token-env`
 *   variable that is unset or empty.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const parsed = parseCommandLine(["serve", "--port", "0"]);
 * console.assert(parsed.command === "serve" && parsed.listen.transport === "tcp");
 * ```
 */
export function parseCommandLine(
  args: readonly string[],
  env: EnvReader = (name) => Deno.env.get(name),
): Invocation {
  const first = args[0];
  if (first === "help") {
    const topic = args[1];
    if (args.length > 2 || (topic !== undefined && !isCommand(topic))) {
      throw new UsageError(`no help for '${args.slice(1).join(" ")}'`);
    }
    return { command: "help", topic };
  }
  if (isCommand(first)) return parseSubcommand(first, args.slice(1), env);
  if (first !== undefined && !first.startsWith("-")) {
    throw new UsageError(`unknown command '${first}'`);
  }
  const { values, positionals } = parseOrThrow(undefined, args, {
    help: HELP,
    version: { type: "boolean", help: "print the version" },
  });
  if (values.version === true) return { command: "version" };
  if (values.help === true) {
    const topic = positionals[0];
    return { command: "help", topic: isCommand(topic) ? topic : undefined };
  }
  throw new UsageError("no command given");
}

function parseOrThrow(
  command: CommandName | undefined,
  args: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
): { values: FlagValues; positionals: string[] } {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, flag] of Object.entries(flags)) {
    options[name] = { type: flag.type };
    if (flag.short !== undefined) options[name].short = flag.short;
    if (flag.multiple) options[name].multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as FlagValues, positionals };
  } catch (error) {
    throw new UsageError(explainParseError(error), command, { cause: error });
  }
}

function explainParseError(error: unknown): string {
  const message = errorMessage(error);
  const unknown = message.match(/^Unknown option '([^']+)'/);
  if (unknown !== null) {
    const option = unknown[1];
    return /^-\.?\d/.test(option)
      ? `unknown option '${option}': to pass a negative number, put the arguments after --, as in: call localhost add -- ${option} 3`
      : `unknown option '${option}'`;
  }
  return message.charAt(0).toLowerCase() + message.slice(1);
}

function parseSubcommand(
  command: CommandName,
  args: readonly string[],
  env: EnvReader,
): Invocation {
  const { values, positionals } = parseOrThrow(
    command,
    args,
    COMMANDS[command].flags,
  );
  if (values.help === true) return { command: "help", topic: command };
  try {
    return build(command, values, positionals, env);
  } catch (error) {
    // Value parsers throw TypeError or RangeError: mistakes on the line.
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new UsageError(error.message, command, { cause: error });
    }
    throw error;
  }
}

function build(
  command: CommandName,
  values: FlagValues,
  positionals: readonly string[],
  env: EnvReader,
): Invocation {
  const str = (name: string) => values[name] as string | undefined;
  switch (command) {
    case "serve":
      return buildServe(values, positionals, env);
    case "call": {
      const [address, path, ...rest] = positionals;
      if (address === undefined) throw new TypeError("missing <address>");
      if (path === undefined) throw new TypeError("missing <path>");
      const data = str("data");
      if (data !== undefined && rest.length > 0) {
        throw new TypeError(
          `unexpected argument '${
            rest[0]
          }': with --data, the arguments are its JSON array`,
        );
      }
      return {
        command,
        client: buildClient(values, address, env),
        path: data === undefined
          ? parseMemberPath(path, false)
          // Arguments given as an array are for a call, even `[]`.
          : parseMemberPath(path, false).map((step, i, steps) =>
            i === steps.length - 1 ? { ...step, call: true } : step
          ),
        args: data === undefined
          ? rest.map((text, i) => parseJsonArg(text, i + 1))
          : data === "@"
          ? []
          : parseJsonArgs(data, "--data"),
        argsFromStdin: data === "@",
        compact: values.compact === true,
        output: buildOutput(values),
      };
    }
    case "inspect": {
      const [address, path, ...rest] = positionals;
      if (address === undefined) throw new TypeError("missing <address>");
      if (rest.length > 0) {
        throw new TypeError(`unexpected argument '${rest[0]}'`);
      }
      return {
        command,
        client: buildClient(values, address, env),
        path: parseMemberPath(path ?? "", true),
        json: values.json === true,
        output: buildOutput(values),
      };
    }
    case "registry": {
      if (positionals.length > 0) {
        throw new TypeError(`unexpected argument '${positionals[0]}'`);
      }
      const host = str("host") ?? DEFAULTS.host;
      if (host === "") throw new TypeError("--host must not be empty");
      return {
        command,
        host,
        port: parseInteger(str("port"), "--port", 0, 65535) ??
          DEFAULTS.registryPort,
        token: readTokenEnv(values, "token-env", env),
        warmup: parseDuration(str("warmup"), "--warmup", 0) ?? DEFAULTS.warmup,
      };
    }
    case "list": {
      const [url, name, ...rest] = positionals;
      if (url === undefined) throw new TypeError("missing <registry-url>");
      if (rest.length > 0) {
        throw new TypeError(`unexpected argument '${rest[0]}'`);
      }
      parseRegistryUrl(url);
      if (name !== undefined) checkName(name, "service name");
      return {
        command,
        url,
        name,
        token: readTokenEnv(values, "token-env", env),
        timeout: parseDuration(str("timeout"), "--timeout", 1) ??
          DEFAULTS.registryTimeout,
        json: values.json === true,
        output: buildOutput(values),
      };
    }
  }
}

function buildOutput(values: FlagValues): OutputSettings {
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new TypeError(
      `--format must be text or json, not '${String(format)}'`,
    );
  }
  return { quiet: values.quiet === true, format };
}

function buildClient(
  values: FlagValues,
  text: string,
  env: EnvReader,
): ClientSettings {
  const tlsAsked = values.tls === true || values["tls-ca"] !== undefined ||
    values["tls-cert"] !== undefined;
  const parsed = parseAddress(
    text,
    tlsAsked ? DEFAULTS.tlsPort : DEFAULTS.port,
  );
  const tls = readClientTls(values, parsed);
  const rpyc = values.rpyc === true;
  const rpycVersion = readRpycVersion(values, rpyc);
  if (
    rpyc &&
    (parsed.transport !== "tcp" || tls !== null ||
      values["token-env"] !== undefined)
  ) {
    throw new TypeError(
      "--rpyc takes a TCP address (host:port), without TLS or a token: Python RPyC servers speak plain TCP",
    );
  }
  return {
    address: tls !== null && parsed.transport === "tcp"
      ? { ...parsed, transport: "tls" }
      : parsed,
    timeout:
      parseDuration(values.timeout as string | undefined, "--timeout", 0) ??
        DEFAULTS.timeout,
    token: readTokenEnv(values, "token-env", env),
    tls,
    rpyc,
    rpycVersion,
  };
}

/** `--rpyc-version`: 5, 6, or undefined when not given. */
function readRpycVersion(values: FlagValues, rpyc: boolean): 5 | 6 | undefined {
  const text = values["rpyc-version"];
  if (text === undefined) return undefined;
  if (!rpyc) throw new TypeError("--rpyc-version goes with --rpyc");
  if (text !== "5" && text !== "6") {
    throw new TypeError(`--rpyc-version must be 5 or 6, not '${String(text)}'`);
  }
  return text === "5" ? 5 : 6;
}
