/**
 * Flag values several subcommands share: the shared secret named by
 * `--token-env`, and the client's TLS settings. Secrets come only from the
 * environment, never from the command line, where any user of the machine
 * could read them (`ps`, `/proc/PID/cmdline`).
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { type Address, formatAddress } from "../transport/address.ts";
import { formatHostPort } from "../transport/tcp.ts";

/** The values parseArgs gives, by flag name (without `--`). */
export type FlagValues = Readonly<
  Record<string, string | boolean | string[] | undefined>
>;

/** Reads an environment variable: its value, or undefined if it is unset. */
export type EnvReader = (name: string) => string | undefined;

/** How a client reaches a TLS server: files to read when connecting. */
export interface ClientTls {
  /** CA certificates (PEM) to trust instead of the system's. */
  readonly caFile?: string;
  /** This client's certificate chain (PEM), for mutual TLS. */
  readonly certFile?: string;
  /** The private key (PEM) of `certFile`. */
  readonly keyFile?: string;
}

/** How `call` and `inspect` connect. */
export interface ClientSettings {
  /** The server; `tls` when a TLS flag or `tls://` asked for TLS. */
  readonly address: Address;
  /** The call timeout, in milliseconds; 0 waits forever. */
  readonly timeout: number;
  /** The shared secret to send, if any. */
  readonly token: string | undefined;
  /** TLS files, or null for none. */
  readonly tls: ClientTls | null;
  /** Whether the server is a Python RPyC server (`--rpyc`). */
  readonly rpyc: boolean;
  /** The RPyC server's version (`--rpyc-version`), or undefined to guess. */
  readonly rpycVersion: 5 | 6 | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reads the secret that a `--token-env`-like flag names.
 *
 * @param values The parsed flags.
 * @param flag The flag's name, without `--`.
 * @param env Reads the environment.
 * @returns The secret, or undefined if the flag was not given.
 * @throws {TypeError} If the flag's value is not a variable name, or the
 *   variable is unset, empty, or cannot be read (no `--allow-env`).
 *
 * @example
 * ```ts
 * import { readTokenEnv } from "./settings.ts";
 * const env = (name: string) => name === "SECRET" ? "s3cret" : undefined;
 * console.assert(readTokenEnv({ "token-env": "SECRET" }, "token-env", env) === "s3cret");
 * ```
 */
export function readTokenEnv(
  values: FlagValues,
  flag: string,
  env: EnvReader,
): string | undefined {
  const name = values[flag];
  if (name === undefined) return undefined;
  if (typeof name !== "string" || !ENV_NAME.test(name)) {
    // The value is not echoed: it may be the secret itself, typed by mistake.
    throw new TypeError(
      `--${flag} takes the name of an environment variable, such as NETREF_TOKEN`,
    );
  }
  let value: string | undefined;
  try {
    value = env(name);
  } catch (error) {
    throw new TypeError(
      `--${flag} ${name}: cannot read the environment: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  if (value === undefined) {
    throw new TypeError(`--${flag} ${name}: ${name} is not set`);
  }
  if (value === "") throw new TypeError(`--${flag} ${name}: ${name} is empty`);
  return value;
}

/**
 * Reads a client's TLS flags (`--tls`, `--tls-ca`, `--tls-cert`,
 * `--tls-key`) for a connection to `address`.
 *
 * @param values The parsed flags.
 * @param address Where the client connects.
 * @returns The TLS settings, or null if no TLS flag was given.
 * @throws {TypeError} If only one of `--tls-cert` and `--tls-key` is given,
 *   or TLS is asked for with an address that is not TCP.
 *
 * @example
 * ```ts
 * import { readClientTls } from "./settings.ts";
 * const address = { transport: "tcp", hostname: "localhost", port: 18821 } as const;
 * console.assert(readClientTls({ tls: true }, address) !== null);
 * console.assert(readClientTls({}, address) === null);
 * ```
 */
export function readClientTls(
  values: FlagValues,
  address: Address,
): ClientTls | null {
  const caFile = values["tls-ca"] as string | undefined;
  const certFile = values["tls-cert"] as string | undefined;
  const keyFile = values["tls-key"] as string | undefined;
  if (
    values.tls !== true && caFile === undefined && certFile === undefined &&
    keyFile === undefined
  ) {
    return null;
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new TypeError("--tls-cert and --tls-key go together: give both");
  }
  if (address.transport !== "tcp" && address.transport !== "tls") {
    throw new TypeError(
      address.transport === "unix"
        ? "--tls and the other TLS flags need a host:port address, not unix:"
        : "--tls and the other TLS flags need a host:port address; for a WebSocket over TLS use wss://",
    );
  }
  return { caFile, certFile, keyFile };
}

/**
 * Fails if two flags that exclude each other were both given.
 *
 * @param values The parsed flags.
 * @param flag A flag, without `--`.
 * @param others Flags it cannot be combined with.
 * @param why What to add to the message, such as "a Unix socket has no port".
 * @throws {TypeError} If `flag` and one of `others` were both given.
 *
 * @example
 * ```ts
 * import { exclude } from "./settings.ts";
 * exclude({ unix: "/a.sock" }, "unix", ["port"], "it replaces them");
 * ```
 */
export function exclude(
  values: FlagValues,
  flag: string,
  others: readonly string[],
  why: string,
): void {
  if (values[flag] === undefined || values[flag] === false) return;
  const other = others.find((name) =>
    values[name] !== undefined && values[name] !== false
  );
  if (other !== undefined) {
    throw new TypeError(`--${flag} cannot be used with --${other}: ${why}`);
  }
}

/** A file a flag names could not be read: exit code 1, with the reason. */
export class FlagFileError extends Error {
  /**
   * Makes the error.
   *
   * @param message Which flag and file, and why.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FlagFileError";
  }
}

/**
 * Reads a PEM file that a flag names.
 *
 * @param flag The flag, such as `--tls-ca`.
 * @param path The file.
 * @returns Its text.
 * @throws {FlagFileError} If it cannot be read.
 */
export async function readFlagFile(
  flag: string,
  path: string,
): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new FlagFileError(
      `Cannot read ${flag} ${path}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * Describes where the settings connect, for messages.
 *
 * @param settings The client's settings.
 * @returns Such as `localhost:18821 over TLS` or `unix:/tmp/netref.sock`.
 */
export function describeTarget(settings: ClientSettings): string {
  const { address } = settings;
  return address.transport === "tls"
    ? `${formatHostPort(address.hostname, address.port)} over TLS`
    : formatAddress(address);
}
