/**
 * What `netref serve` was asked to do, read from its flags: the transport
 * (TCP, TLS, a Unix socket or WebSocket), who may connect, where to
 * announce itself, and the limits. Flags that cannot go together are
 * refused here, before anything listens.
 *
 * @module
 */

import { parseRegistryUrl } from "../registry/url.ts";
import { parseAddress, type TcpAddress } from "../transport/address.ts";
import {
  type EnvReader,
  exclude,
  type FlagValues,
  readTokenEnv,
} from "./settings.ts";
import { parseDuration, parseInteger, parseSize } from "./units.ts";
import { MAX_FRAME_LENGTH } from "../protocol/constants.ts";
import { DEFAULTS } from "./usage.ts";
import { LOG_FORMATS, type LogFormat } from "./log_format.ts";

/** Where `serve` listens. */
export type Listen =
  | { readonly transport: "tcp"; readonly host: string; readonly port: number }
  | {
    readonly transport: "tls";
    readonly host: string;
    readonly port: number;
    /** The certificate chain's file (PEM). */
    readonly certFile: string;
    /** The private key's file (PEM). */
    readonly keyFile: string;
    /** CAs whose client certificates are required (PEM), if any. */
    readonly caFile?: string;
  }
  | { readonly transport: "unix"; readonly path: string }
  | {
    readonly transport: "websocket";
    readonly host: string;
    readonly port: number;
  };

/** Where and how `serve` announces itself. */
export interface Registering {
  /** The registry's URL, as given. */
  readonly url: string;
  /** Milliseconds the entries live without a heartbeat. */
  readonly ttl: number;
  /** The address to announce, if not the one listened on. */
  readonly advertise?: TcpAddress;
  /** The registry's shared secret, if any. */
  readonly token?: string;
}

/** What `serve` was asked to do. */
export interface ServeCommand {
  readonly command: "serve";
  readonly listen: Listen;
  /** Whether Python RPyC clients are answered (not over WebSocket). */
  readonly rpyc: boolean;
  /** The secret clients must send, if any. */
  readonly token: string | undefined;
  /** Where to announce the services, or null. */
  readonly register: Registering | null;
  /** `MODULE[#EXPORT]` specs, in order. */
  readonly services: readonly string[];
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly maxExports: number;
  readonly maxStreams: number;
  readonly maxFrameBytes: number;
  readonly frameTimeout: number;
  readonly handshakeTimeout: number;
  readonly idleTimeout: number;
  readonly shutdownDeadline: number;
  readonly includeStack: boolean;
  /** How reports are written to stderr: lines of text, or JSON lines. */
  readonly logFormat: LogFormat;
}

/** The longest TTL a registry accepts: one day. */
const MAX_TTL = 86_400_000;
const TLS_FLAGS = ["tls-cert", "tls-key", "tls-ca"] as const;

/**
 * Reads `serve`'s flags.
 *
 * @param values The parsed flags.
 * @param positionals The words that are not flags (there must be none).
 * @param env Reads the environment, for `--token-env`.
 * @returns The command.
 * @throws {TypeError} On flags that cannot go together, a malformed value,
 *   or a token variable that is unset or empty.
 * @throws {RangeError} On a value out of range.
 *
 * @example
 * ```ts
 * import { buildServe } from "./serve_args.ts";
 * const command = buildServe({ unix: "/tmp/a.sock" }, [], () => undefined);
 * console.assert(command.listen.transport === "unix");
 * ```
 */
export function buildServe(
  values: FlagValues,
  positionals: readonly string[],
  env: EnvReader,
): ServeCommand {
  if (positionals.length > 0) {
    throw new TypeError(`unexpected argument '${positionals[0]}'`);
  }
  const str = (name: string) => values[name] as string | undefined;
  const max = 2 ** 31 - 1;
  const listen = buildListen(values);
  const register = buildRegister(values, listen, env);
  return {
    command: "serve",
    listen,
    rpyc: values["no-rpyc"] !== true && listen.transport !== "websocket",
    token: readTokenEnv(values, "token-env", env),
    register,
    services: (values.service as string[] | undefined) ?? [],
    maxConnections:
      parseInteger(str("max-connections"), "--max-connections", 1, max) ??
        DEFAULTS.maxConnections,
    maxInFlight:
      parseInteger(str("max-in-flight"), "--max-in-flight", 1, max) ??
        DEFAULTS.maxInFlight,
    maxExports: parseInteger(str("max-exports"), "--max-exports", 1, max) ??
      DEFAULTS.maxExports,
    maxStreams: parseInteger(str("max-streams"), "--max-streams", 0, max) ??
      DEFAULTS.maxStreams,
    maxFrameBytes: parseSize(
      str("max-frame-bytes"),
      "--max-frame-bytes",
      64,
      MAX_FRAME_LENGTH,
    ) ??
      DEFAULTS.maxFrameBytes,
    handshakeTimeout:
      parseDuration(str("handshake-timeout"), "--handshake-timeout", 1) ??
        DEFAULTS.handshakeTimeout,
    idleTimeout: parseDuration(str("idle-timeout"), "--idle-timeout", 0) ??
      DEFAULTS.idleTimeout,
    frameTimeout: parseDuration(str("frame-timeout"), "--frame-timeout", 0) ??
      DEFAULTS.frameTimeout,
    shutdownDeadline:
      parseDuration(str("shutdown-deadline"), "--shutdown-deadline", 0) ??
        DEFAULTS.shutdownDeadline,
    includeStack: values["include-stack"] === true,
    logFormat: buildLogFormat(str("log")),
  };
}

function buildLogFormat(value: string | undefined): LogFormat {
  if (value === undefined) return "text";
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new TypeError(
      `--log takes ${LOG_FORMATS.join(" or ")}, got '${value}'`,
    );
  }
  return value as LogFormat;
}

function buildListen(values: FlagValues): Listen {
  const str = (name: string) => values[name] as string | undefined;
  exclude(
    values,
    "unix",
    ["host", "port", "websocket", ...TLS_FLAGS, "register"],
    "a Unix socket has no host or port, and is served without TLS",
  );
  exclude(
    values,
    "websocket",
    [...TLS_FLAGS, "register"],
    "WebSocket is served without TLS, and cannot be announced in a registry",
  );
  const unix = str("unix");
  if (unix !== undefined) {
    if (unix === "") throw new TypeError("--unix must not be empty");
    return { transport: "unix", path: unix };
  }
  const host = str("host") ?? DEFAULTS.host;
  if (host === "") throw new TypeError("--host must not be empty");
  const port = parseInteger(str("port"), "--port", 0, 65535);
  if (values.websocket === true) {
    return {
      transport: "websocket",
      host,
      port: port ?? DEFAULTS.webSocketPort,
    };
  }
  const certFile = str("tls-cert");
  const keyFile = str("tls-key");
  const caFile = str("tls-ca");
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined) {
      throw new TypeError("--tls-ca needs --tls-cert and --tls-key");
    }
    return { transport: "tcp", host, port: port ?? DEFAULTS.port };
  }
  if (certFile === undefined || keyFile === undefined) {
    throw new TypeError("--tls-cert and --tls-key go together: give both");
  }
  return {
    transport: "tls",
    host,
    port: port ?? DEFAULTS.tlsPort,
    certFile,
    keyFile,
    ...(caFile === undefined ? {} : { caFile }),
  };
}

function buildRegister(
  values: FlagValues,
  listen: Listen,
  env: EnvReader,
): Registering | null {
  const url = values.register as string | undefined;
  if (url === undefined) {
    for (const flag of ["ttl", "advertise", "registry-token-env"]) {
      if (values[flag] !== undefined) {
        throw new TypeError(`--${flag} needs --register`);
      }
    }
    return null;
  }
  if (listen.transport !== "tcp") {
    // connectByService() dials plain TCP: any other address would fail.
    throw new TypeError(
      "--register announces a TCP address: it cannot be used with TLS",
    );
  }
  parseRegistryUrl(url);
  const ttl = parseDuration(values.ttl as string | undefined, "--ttl", 100) ??
    DEFAULTS.ttl;
  if (ttl > MAX_TTL) {
    throw new RangeError(
      `--ttl must be a duration from 100 ms to ${MAX_TTL} ms (one day), got '${values.ttl}'`,
    );
  }
  const advertiseText = values.advertise as string | undefined;
  let advertise: TcpAddress | undefined;
  if (advertiseText !== undefined) {
    const parsed = parseAddress(advertiseText);
    if (parsed.transport !== "tcp" || !/:\d+$/.test(advertiseText)) {
      throw new TypeError(
        `--advertise takes HOST:PORT, such as 10.0.1.5:18811, got '${advertiseText}'`,
      );
    }
    advertise = parsed;
  } else if (listen.host === "0.0.0.0" || listen.host === "::") {
    throw new TypeError(
      `--register with --host ${listen.host} needs --advertise HOST:PORT: the address other hosts reach this one by`,
    );
  }
  const token = readTokenEnv(values, "registry-token-env", env);
  return {
    url,
    ttl,
    ...(advertise === undefined ? {} : { advertise }),
    ...(token === undefined ? {} : { token }),
  };
}
