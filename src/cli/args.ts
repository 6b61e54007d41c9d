/**
 * Parsing the command line of `netref` into what to do, with the flags of
 * usage.ts; every mistake is a {@linkcode UsageError}. Nothing here touches
 * the network.
 *
 * @module
 */

import { parseArgs } from "cli";
import { type Address, parseAddress } from "./address.ts";
import { type MemberPath, parseMemberPath } from "./path.ts";
import { parseJsonArg } from "./json.ts";
import { parseDuration, parseInteger, parseSize } from "./units.ts";
import {
  type CommandName,
  COMMANDS,
  DEFAULTS,
  type FlagSpec,
  HELP,
} from "./usage.ts";

export type { CommandName } from "./usage.ts";

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

/** What `serve` was asked to do. */
export interface ServeCommand {
  readonly command: "serve";
  readonly host: string;
  readonly port: number;
  /** `MODULE[#EXPORT]` specs, in order. */
  readonly services: readonly string[];
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly maxFrameBytes: number;
  readonly handshakeTimeout: number;
  readonly idleTimeout: number;
  readonly shutdownDeadline: number;
  readonly includeStack: boolean;
}

/** What `call` was asked to do. */
export interface CallCommand {
  readonly command: "call";
  readonly address: Address;
  readonly path: MemberPath;
  readonly args: readonly unknown[];
  readonly timeout: number;
  readonly compact: boolean;
}

/** What `inspect` was asked to do. */
export interface InspectCommand {
  readonly command: "inspect";
  readonly address: Address;
  readonly path: MemberPath;
  readonly timeout: number;
  readonly json: boolean;
}

/** The parsed command line. */
export type Invocation =
  | { readonly command: "help"; readonly topic: CommandName | undefined }
  | { readonly command: "version" }
  | ServeCommand
  | CallCommand
  | InspectCommand;

function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMANDS, name);
}

/**
 * Parses the command line.
 *
 * @param args The arguments, without the program name.
 * @returns What to do.
 * @throws {UsageError} On an unknown command or flag, a missing argument or a
 *   value out of range.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const parsed = parseCommandLine(["serve", "--port", "0"]);
 * console.assert(parsed.command === "serve" && parsed.port === 0);
 * ```
 */
export function parseCommandLine(args: readonly string[]): Invocation {
  const first = args[0];
  if (first === "help") {
    const topic = args[1];
    if (args.length > 2 || (topic !== undefined && !isCommand(topic))) {
      throw new UsageError(`no help for '${args.slice(1).join(" ")}'`);
    }
    return { command: "help", topic };
  }
  if (isCommand(first)) return parseSubcommand(first, args.slice(1));
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

type Values = Record<string, string | boolean | string[] | undefined>;

function parseOrThrow(
  command: CommandName | undefined,
  args: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
): { values: Values; positionals: string[] } {
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
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError(explainParseError(error), command, { cause: error });
  }
}

function explainParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
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
): Invocation {
  const { values, positionals } = parseOrThrow(
    command,
    args,
    COMMANDS[command].flags,
  );
  if (values.help === true) return { command: "help", topic: command };
  try {
    return build(command, values, positionals);
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
  values: Values,
  positionals: readonly string[],
): Invocation {
  const str = (name: string) => values[name] as string | undefined;
  const max = 2 ** 31 - 1;
  switch (command) {
    case "serve": {
      if (positionals.length > 0) {
        throw new TypeError(`unexpected argument '${positionals[0]}'`);
      }
      const host = str("host") ?? DEFAULTS.host;
      if (host === "") throw new TypeError("--host must not be empty");
      return {
        command,
        host,
        port: parseInteger(str("port"), "--port", 0, 65535) ?? DEFAULTS.port,
        services: (values.service as string[] | undefined) ?? [],
        maxConnections:
          parseInteger(str("max-connections"), "--max-connections", 1, max) ??
            DEFAULTS.maxConnections,
        maxInFlight:
          parseInteger(str("max-in-flight"), "--max-in-flight", 1, max) ??
            DEFAULTS.maxInFlight,
        maxFrameBytes: parseSize(
          str("max-frame-bytes"),
          "--max-frame-bytes",
          64,
          2 ** 32 - 1,
        ) ??
          DEFAULTS.maxFrameBytes,
        handshakeTimeout:
          parseDuration(str("handshake-timeout"), "--handshake-timeout", 1) ??
            DEFAULTS.handshakeTimeout,
        idleTimeout: parseDuration(str("idle-timeout"), "--idle-timeout", 0) ??
          DEFAULTS.idleTimeout,
        shutdownDeadline:
          parseDuration(str("shutdown-deadline"), "--shutdown-deadline", 0) ??
            DEFAULTS.shutdownDeadline,
        includeStack: values["include-stack"] === true,
      };
    }
    case "call": {
      const [address, path, ...rest] = positionals;
      if (address === undefined) throw new TypeError("missing <address>");
      if (path === undefined) throw new TypeError("missing <path>");
      return {
        command,
        address: parseAddress(address),
        path: parseMemberPath(path, false),
        args: rest.map((text, i) => parseJsonArg(text, i + 1)),
        timeout: parseDuration(str("timeout"), "--timeout", 0) ??
          DEFAULTS.timeout,
        compact: values.compact === true,
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
        address: parseAddress(address),
        path: parseMemberPath(path ?? "", true),
        timeout: parseDuration(str("timeout"), "--timeout", 0) ??
          DEFAULTS.timeout,
        json: values.json === true,
      };
    }
  }
}
