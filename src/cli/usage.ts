/**
 * The subcommands of `netref`, their flags and help texts, declared once:
 * the parser and the usage texts are both made from {@linkcode COMMANDS}.
 *
 * @module
 */

import {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_HOSTNAME,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_EXPORTS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_PORT,
  DEFAULT_REGISTRY_PORT,
  DEFAULT_REGISTRY_TIMEOUT,
  DEFAULT_SHUTDOWN_DEADLINE,
  DEFAULT_TIMEOUT,
  DEFAULT_TLS_PORT,
  DEFAULT_TTL,
  DEFAULT_WARMUP,
  DEFAULT_WEBSOCKET_PORT,
} from "../defaults.ts";

/** The subcommands. */
export type CommandName = "serve" | "call" | "inspect" | "registry" | "list";

/** One flag of a subcommand. */
export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder for the value in the usage text. */
  readonly value?: string;
  readonly help: string;
}

/** A subcommand: its synopsis, texts and flags. */
export interface CommandSpec {
  readonly synopsis: string;
  readonly summary: string;
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly notes?: string;
}

/** `--help`, which every subcommand has. */
export const HELP: FlagSpec = {
  type: "boolean",
  short: "h",
  help: "print this help",
};

/** Library defaults the CLI passes explicitly, and prints in its help. */
export const DEFAULTS = {
  host: DEFAULT_HOSTNAME,
  port: DEFAULT_PORT,
  tlsPort: DEFAULT_TLS_PORT,
  webSocketPort: DEFAULT_WEBSOCKET_PORT,
  registryPort: DEFAULT_REGISTRY_PORT,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxInFlight: DEFAULT_MAX_IN_FLIGHT,
  maxExports: DEFAULT_MAX_EXPORTS,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT,
  idleTimeout: DEFAULT_IDLE_TIMEOUT,
  frameTimeout: DEFAULT_FRAME_TIMEOUT,
  shutdownDeadline: DEFAULT_SHUTDOWN_DEADLINE,
  timeout: DEFAULT_TIMEOUT,
  ttl: DEFAULT_TTL,
  warmup: DEFAULT_WARMUP,
  registryTimeout: DEFAULT_REGISTRY_TIMEOUT,
} as const;

/** A default in milliseconds as the help prints it: `10s`. */
function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** A default in bytes as the help prints it: `16MiB`. */
function mebibytes(bytes: number): string {
  return `${bytes / (1024 * 1024)}MiB`;
}

const TOKEN_ENV: FlagSpec = {
  type: "string",
  value: "VAR",
  help: "send the shared secret held in $VAR",
};

/** The flags `call` and `inspect` share: TLS and the token. */
const CLIENT_FLAGS: Readonly<Record<string, FlagSpec>> = {
  tls: {
    type: "boolean",
    help: "connect over TLS, trusting the system's CAs",
  },
  "tls-ca": {
    type: "string",
    value: "FILE",
    help: "connect over TLS, trusting the CAs in FILE (PEM)",
  },
  "tls-cert": {
    type: "string",
    value: "FILE",
    help: "present this client certificate (PEM; with --tls-key)",
  },
  "tls-key": {
    type: "string",
    value: "FILE",
    help: "the private key (PEM) of --tls-cert",
  },
  "token-env": TOKEN_ENV,
  rpyc: {
    type: "boolean",
    help: "the server is a Python RPyC server: speak its protocol (TCP only)",
  },
};

/** The flags of the commands that print a result: call, inspect, list. */
const OUTPUT_FLAGS: Readonly<Record<string, FlagSpec>> = {
  quiet: {
    type: "boolean",
    short: "q",
    help: "print no result, only errors; the exit code tells",
  },
  format: {
    type: "string",
    value: "FORMAT",
    help: "errors as text (default) or json: one line on stderr",
  },
};

/** What the exit codes mean, in the whole's usage and in the notes. */
export const EXIT_CODE_TEXT = "Exit codes:\n" +
  "  0  success\n" +
  "  1  other failure: a file a flag names, a service module, a port in use,\n" +
  "     an argument too large for the server\n" +
  "  2  usage: the command line, or the --data arguments, are wrong\n" +
  "  3  connection: cannot connect, refused (limits, token, TLS), or dropped\n" +
  "  4  remote error: the call ran on the server and threw\n" +
  "  5  timeout: --timeout passed while connecting or waiting for the answer\n" +
  "  6  access: the server does not expose the member, or not for reading\n" +
  "With --format json, a failure is one line on stderr:\n" +
  '  {"error":"<message>","code":"usage|connection|remote|timeout|access|failure"}';

const ADDRESSES = "Addresses:\n" +
  `  localhost:${DEFAULT_PORT}, [::1]:9000   TCP (a host alone: port ${DEFAULT_PORT}; with TLS, ${DEFAULT_TLS_PORT})\n` +
  `  tls://localhost:${DEFAULT_TLS_PORT}         TLS, as a TCP address with --tls\n` +
  "  unix:/run/netref.sock         a Unix socket (needs --allow-write)\n" +
  `  ws://127.0.0.1:${DEFAULT_WEBSOCKET_PORT}/         WebSocket (wss:// trusts the system's CAs;\n` +
  "                                http:// and https:// name the same endpoints)\n" +
  "  --tls, --tls-ca, --tls-cert and --tls-key apply to TCP and tls:// addresses.";

/** Every subcommand, its flags and its help texts. */
export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = {
  serve: {
    synopsis: "serve [options]",
    summary: "serve services over TCP, TLS, a Unix socket or WebSocket",
    description: "Serves {defaults}, or the services named with --service,\n" +
      "until SIGINT or SIGTERM; then it stops accepting, lets calls in flight\n" +
      "finish (up to --shutdown-deadline) and exits 0. Connects and disconnects\n" +
      "are logged to stderr; the address it listens on is printed to stdout.\n" +
      "Python RPyC clients (rpyc.connect) are answered too, except over WebSocket.",
    flags: {
      host: {
        type: "string",
        value: "HOST",
        help: `address to listen on (default: ${DEFAULTS.host})`,
      },
      port: {
        type: "string",
        value: "PORT",
        help: `TCP port, 0 for any free one (default: ${DEFAULTS.port})`,
      },
      unix: {
        type: "string",
        value: "PATH",
        help: "listen on a Unix socket instead of host and port",
      },
      websocket: {
        type: "boolean",
        help: "serve over WebSocket (netref clients only)",
      },
      "tls-cert": {
        type: "string",
        value: "FILE",
        help: "serve over TLS with this certificate chain (PEM)",
      },
      "tls-key": {
        type: "string",
        value: "FILE",
        help: "the private key (PEM) of --tls-cert",
      },
      "tls-ca": {
        type: "string",
        value: "FILE",
        help: "require client certificates signed by these CAs",
      },
      "token-env": {
        type: "string",
        value: "VAR",
        help: "require the shared secret held in $VAR",
      },
      "no-rpyc": {
        type: "boolean",
        help: "answer netref clients only, not Python RPyC ones",
      },
      service: {
        type: "string",
        multiple: true,
        value: "MODULE[#EXPORT]",
        help: "serve a module's service; repeatable (see below)",
      },
      register: {
        type: "string",
        value: "URL",
        help: "announce the services in a registry (see below)",
      },
      ttl: {
        type: "string",
        value: "DURATION",
        help: `entry lifetime without heartbeats (default: ${
          seconds(DEFAULTS.ttl)
        })`,
      },
      advertise: {
        type: "string",
        value: "HOST:PORT",
        help: "address to announce (default: the one listened on)",
      },
      "registry-token-env": {
        type: "string",
        value: "VAR",
        help: "send the registry the shared secret held in $VAR",
      },
      "max-connections": {
        type: "string",
        value: "N",
        help:
          `most connections open at once (default: ${DEFAULTS.maxConnections})`,
      },
      "max-in-flight": {
        type: "string",
        value: "N",
        help:
          `most calls running per connection (default: ${DEFAULTS.maxInFlight})`,
      },
      "max-exports": {
        type: "string",
        value: "N",
        help:
          `most objects a client may hold references to (default: ${DEFAULTS.maxExports})`,
      },
      "max-frame-bytes": {
        type: "string",
        value: "SIZE",
        help: `largest message accepted (default: ${
          mebibytes(DEFAULTS.maxFrameBytes)
        })`,
      },
      "frame-timeout": {
        type: "string",
        value: "DURATION",
        help: `time a message has to arrive once begun (default: ${
          seconds(DEFAULTS.frameTimeout)
        }; 0: never)`,
      },
      "handshake-timeout": {
        type: "string",
        value: "DURATION",
        help: `time a client has to say hello (default: ${
          seconds(DEFAULTS.handshakeTimeout)
        })`,
      },
      "idle-timeout": {
        type: "string",
        value: "DURATION",
        help:
          `close connections silent this long (default: ${DEFAULTS.idleTimeout}, never)`,
      },
      "shutdown-deadline": {
        type: "string",
        value: "DURATION",
        help: `time calls get to finish at shutdown (default: ${
          seconds(DEFAULTS.shutdownDeadline)
        })`,
      },
      "include-stack": {
        type: "boolean",
        help: "send stack traces with errors (default: off)",
      },
      log: {
        type: "string",
        value: "FORMAT",
        help: "text (default), or json: a JSON object per line",
      },
      help: HELP,
    },
    notes: "Services:\n" +
      "  --service ./calc.ts          the module's default export, else its only @service class\n" +
      "  --service ./calc.ts#Calc     the export named Calc (a class: one instance per\n" +
      "                               connection; an object: shared by all)\n" +
      "  One --service is the root (root.add(1, 2)); several are served under one root\n" +
      "  whose members are the services by their @service names (root.calc.add(1, 2)).\n" +
      "  Modules load relative to the current directory; file paths need --allow-read.\n\n" +
      "Transports (one at a time):\n" +
      "  (default)                    TCP on --host and --port\n" +
      `  --tls-cert F --tls-key F     TLS (port ${DEFAULTS.tlsPort} unless --port); with --tls-ca C,\n` +
      "                               clients need a certificate signed by a CA in C\n" +
      "  --unix PATH                  a Unix socket, mode 0600, removed at shutdown;\n" +
      "                               needs --allow-write\n" +
      `  --websocket                  WebSocket at ws://HOST:PORT/ (port ${DEFAULTS.webSocketPort}\n` +
      "                               unless --port)\n\n" +
      "Security: with --token-env, clients must send the same secret (call\n" +
      "--token-env VAR); RPyC clients, which cannot, are refused. Without TLS the\n" +
      "secret travels in clear text. The variable must be set and not empty.\n\n" +
      "Registry: --register URL, with URL netref://host:port (netref registry),\n" +
      "etcd://host:port[,host:port...][/prefix] or rpyc://host:port (Python's\n" +
      "rpyc_registry --mode TCP), announces each service name with\n" +
      "the address clients dial (--advertise when listening on 0.0.0.0), renews it\n" +
      "every third of --ttl, and at SIGINT or SIGTERM withdraws it, waits 250 ms\n" +
      "for clients already on their way, then drains. Plain TCP only: clients that\n" +
      "look a service up connect over TCP.\n\n" +
      "Limits: a client over a limit is refused (connections) or disconnected, with\n" +
      "the reason logged and sent to it; other clients never notice. A client silent\n" +
      "past --handshake-timeout is taken for an RPyC client (they say nothing until\n" +
      "first used) and only --idle-timeout bounds it, unless --no-rpyc. Sizes take\n" +
      "KiB, MiB or GiB (65536, 4MiB); durations ms, s, m or h (500, 10s, 5m).\n\n" +
      "Logs: --log json writes each report as one JSON object per line, with\n" +
      "time, level, event (connection.open, connection.close, connection.closed,\n" +
      "connection.refused, ...), peer, reason and message.\n\n" +
      "Observability: with OTEL_DENO=true, Deno exports a span per call and the\n" +
      "call, connection and reference metrics over OTLP to\n" +
      "OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318), named by\n" +
      "OTEL_SERVICE_NAME.",
  },
  call: {
    synopsis: "call <address> <path> [args...]",
    summary: "call a remote method and print the result as JSON",
    description:
      `Connects to <address> (host:port, [::1]:port, host for port ${DEFAULT_PORT},\n` +
      "unix:PATH or ws://host:port/path), calls the member at <path> with the JSON\n" +
      "arguments, prints the result as JSON and exits 0. A remote error is printed\n" +
      "to stderr with exit code 4 (see 'netref help' for the others).",
    flags: {
      timeout: {
        type: "string",
        value: "DURATION",
        help: `time the call may take; 0 waits forever (default: ${
          seconds(DEFAULTS.timeout)
        })`,
      },
      compact: { type: "boolean", help: "print the JSON on one line" },
      data: {
        type: "string",
        short: "d",
        value: "JSON|@",
        help: "the arguments as one JSON array; @ reads it from stdin",
      },
      ...OUTPUT_FLAGS,
      ...CLIENT_FLAGS,
      help: HELP,
    },
    notes: "Paths:\n" +
      "  foo                  root.foo(args...); with no args, a field or getter is read\n" +
      "  settings.theme       members of members\n" +
      "  makeCounter().count  call on the way (pipelined: one round trip)\n\n" +
      "Arguments are JSON, one per shell word: 1 '\"text\"' '{\"a\":[1,2]}'. Put\n" +
      "negative numbers after --: netref call localhost add -- -5 3. Or all of them\n" +
      "as one JSON array with --data (then none follow the path, and the member is\n" +
      "called): -d '[1,2]', or -d @ to read the array from stdin:\n" +
      "  echo '[1, 2]' | netref call localhost calc.add -d @\n\n" +
      "A result that is a stream (an async generator, a ReadableStream) prints one\n" +
      "JSON value per line as its items arrive; Ctrl-C cancels it and exits 130.\n\n" +
      "Values JSON lacks are tagged, in arguments and results:\n" +
      '{"$bigint":"9007199254740993"},\n' +
      '{"$bytes":"AQID"} (base64), {"$date":"2024-01-01T00:00:00.000Z"},\n' +
      '{"$map":[[key,value]]}, {"$set":[values]}, {"$number":"NaN"|"-0"},\n' +
      '{"$typed":["Float64Array","<base64>"]} (any typed array, ArrayBuffer or\n' +
      "DataView, its bytes little-endian); results may also\n" +
      'hold {"$netref":"object"|"function"} (a remote object) and {"$error":{...}};\n' +
      "undefined prints as null.\n\n" + ADDRESSES,
  },
  inspect: {
    synopsis: "inspect <address> [path]",
    summary: "list the exposed members of a remote object",
    description:
      "Connects to <address> and lists the members of the root object, or of the\n" +
      "object at <path> (same paths as call), that the server exposes, with their\n" +
      "kinds: method, field (read and write), getter (read only), setter (write only).\n" +
      "Methods show their parameters: the names the method declares, or, where its\n" +
      "source does not show them (native or bound functions), how many it takes.\n" +
      'With --json: [{"name","kind","params"?: [names], "arity"?: N}, ...].',
    flags: {
      timeout: {
        type: "string",
        value: "DURATION",
        help: `time the listing may take; 0 waits forever (default: ${
          seconds(DEFAULTS.timeout)
        })`,
      },
      json: { type: "boolean", help: "print the members as a JSON array" },
      ...OUTPUT_FLAGS,
      ...CLIENT_FLAGS,
      help: HELP,
    },
    notes: ADDRESSES,
  },
  registry: {
    synopsis: "registry [options]",
    summary: "run the embedded service registry",
    description:
      "Serves the embedded registry (in memory) that serve --register and list\n" +
      "reach as netref://HOST:PORT, until SIGINT or SIGTERM; then it exits 0. Its\n" +
      "URL is printed to stdout. Entries are lost when it stops: servers register\n" +
      "again once it is back, and it holds list answers back for --warmup meanwhile.",
    flags: {
      host: {
        type: "string",
        value: "HOST",
        help: `address to listen on (default: ${DEFAULTS.host})`,
      },
      port: {
        type: "string",
        value: "PORT",
        help:
          `TCP port, 0 for any free one (default: ${DEFAULTS.registryPort})`,
      },
      "token-env": {
        type: "string",
        value: "VAR",
        help: "require the shared secret held in $VAR",
      },
      warmup: {
        type: "string",
        value: "DURATION",
        help: `time list waits after a start (default: ${
          seconds(DEFAULTS.warmup)
        })`,
      },
      help: HELP,
    },
  },
  list: {
    synopsis: "list <registry-url> [name]",
    summary: "list the services registered in a registry",
    description:
      "Prints the instances registered at <registry-url> (netref://host:port,\n" +
      "etcd://host:port[,host:port...][/prefix] or rpyc://host:port), or only\n" +
      "those of the service\n" +
      "[name], one per line, and exits 0; exits 3 if the registry cannot be\n" +
      "reached or refuses, 5 if it does not answer within --timeout. With --json:\n" +
      '[{"name","id","hostname","port","metadata"}, ...].',
    flags: {
      "token-env": {
        type: "string",
        value: "VAR",
        help: "send the registry's shared secret held in $VAR",
      },
      timeout: {
        type: "string",
        value: "DURATION",
        help: `time the registry may take to answer (default: ${
          seconds(DEFAULTS.registryTimeout)
        })`,
      },
      json: {
        type: "boolean",
        help: "print the instances as a JSON array",
      },
      ...OUTPUT_FLAGS,
      help: HELP,
    },
  },
};

/** Options of {@linkcode usage}: what differs between programs. */
export interface UsageOptions {
  /** The program name to show. */
  program: string;
  /** The version to show in the whole's usage. */
  version: string;
  /** What `serve` serves without --service, such as "TestService". */
  defaults: string;
}

/**
 * The usage text of the whole CLI, or of one subcommand.
 *
 * @param command The subcommand, or undefined for the whole.
 * @param options The program name, version and default services.
 * @returns The text, ending without a newline.
 *
 * @example
 * ```ts
 * import { usage } from "./usage.ts";
 * const text = usage("serve", { program: "netref", version: "0.1.0", defaults: "TestService" });
 * console.assert(text.startsWith("Usage: netref serve"));
 * ```
 */
export function usage(
  command: CommandName | undefined,
  { program, version, defaults }: UsageOptions,
): string {
  if (command === undefined) {
    const rows: [string, string][] = [
      ...Object.values(COMMANDS).map((
        spec,
      ) => [`${program} ${spec.synopsis}`, spec.summary] as [string, string]),
      [`${program} help [command]`, "print the help of a command"],
      [`${program} --version`, "print the version"],
    ];
    return `${program} ${version}: remote-object RPC for Deno\n\n` +
      `Usage:\n${table(rows)}\n\n` +
      `Run '${program} <command> --help' for the options of a command.\n\n` +
      EXIT_CODE_TEXT;
  }
  const spec = COMMANDS[command];
  const rows: [string, string][] = Object.entries(spec.flags).map((
    [name, flag],
  ) => [
    `${flag.short === undefined ? "" : `-${flag.short}, `}--${name}${
      flag.value === undefined ? "" : ` ${flag.value}`
    }`,
    flag.help,
  ]);
  const description = spec.description.replace("{defaults}", defaults);
  return `Usage: ${program} ${spec.synopsis}\n\n${description}\n\nOptions:\n${
    table(rows)
  }${spec.notes === undefined ? "" : `\n\n${spec.notes}`}`;
}

function table(rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join(
    "\n",
  );
}
