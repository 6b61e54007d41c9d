/**
 * Connecting `call` and `inspect` to a server over the transport their
 * address and flags name: TCP, TLS, a Unix socket or WebSocket.
 *
 * @module
 */

import { DEFAULT_HANDSHAKE_TIMEOUT } from "../defaults.ts";
import { ConnectionClosedError, errorMessage } from "../errors.ts";
import {
  connect,
  type ConnectOptions,
  connectStream,
} from "../client/connect.ts";
import { connectTls, connectUnix } from "../client/transports.ts";
import type { Connection } from "../core/types.ts";
import { WebSocketByteStream } from "../transport/websocket.ts";
import { formatAddress } from "./address.ts";
import type { ClientSettings } from "./settings.ts";

/** Longest wait for a WebSocket's close handshake after `close()`. */
const CLOSE_HANDSHAKE_WAIT = 1000;

/** An open connection, and how to wait until its transport has closed. */
export interface Dialed {
  /** The connection. */
  readonly conn: Connection;
  /**
   * Resolves once the transport has finished closing after
   * `conn.close()`: the WebSocket close handshake (at most 1 s), at once
   * for the other transports. A process that exits before then leaves the
   * server logging an unexpected end of stream.
   */
  transportClosed(): Promise<void>;
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
 *
 * @example
 * ```ts ignore
 * import { readFlagFile } from "./dial.ts";
 * const ca = await readFlagFile("--tls-ca", "ca.pem");
 * ```
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
 * Connects as the settings say.
 *
 * @param settings The address, timeout, token and TLS files.
 * @returns The open connection.
 * @throws {FlagFileError} If a TLS file cannot be read.
 * @throws {Error} Whatever connecting throws (refused, handshake failed).
 *
 * @example
 * ```ts ignore
 * import { dial } from "./dial.ts";
 * const { conn, transportClosed } = await dial({
 *   address: { transport: "unix", path: "/tmp/netref.sock" },
 *   timeout: 30_000,
 *   token: undefined,
 *   tls: null,
 * });
 * await conn.close();
 * await transportClosed();
 * ```
 */
export async function dial(settings: ClientSettings): Promise<Dialed> {
  const { address, tls } = settings;
  const options: ConnectOptions = { timeout: settings.timeout };
  if (settings.token !== undefined) options.token = settings.token;
  const now = () => Promise.resolve();
  switch (address.transport) {
    case "unix":
      return {
        conn: await connectUnix(address.path, options),
        transportClosed: now,
      };
    case "websocket":
      return await dialWebSocket(address.url, options);
    case "tcp":
      if (tls === null) {
        return {
          conn: await connect(address.hostname, address.port, options),
          transportClosed: now,
        };
      }
      return {
        conn: await connectTls(address.hostname, address.port, {
          ...options,
          ...(tls.caFile === undefined
            ? {}
            : { caCerts: [await readFlagFile("--tls-ca", tls.caFile)] }),
          ...(tls.certFile === undefined || tls.keyFile === undefined ? {} : {
            cert: await readFlagFile("--tls-cert", tls.certFile),
            key: await readFlagFile("--tls-key", tls.keyFile),
          }),
        }),
        transportClosed: now,
      };
  }
}

/**
 * `connectWebSocket()`, keeping hold of the WebSocket so that the caller can
 * wait for its close handshake.
 */
async function dialWebSocket(
  url: string,
  options: ConnectOptions,
): Promise<Dialed> {
  const socket = new WebSocket(url);
  const stream = new WebSocketByteStream(socket);
  const closed = new Promise<void>((resolve) =>
    socket.addEventListener("close", () => resolve(), { once: true })
  );
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const opened = await Promise.race([
    new Promise<true>((resolve) =>
      socket.addEventListener("open", () => resolve(true), { once: true })
    ),
    closed.then(() => "closed" as const),
    new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), timeout)
    ),
  ]).finally(() => clearTimeout(timer));
  if (opened !== true) {
    stream.close();
    throw new ConnectionClosedError(
      opened === "closed"
        ? `Cannot connect to ${url}: the WebSocket closed before opening`
        : `Cannot connect to ${url}: the WebSocket did not open within ${timeout} ms`,
    );
  }
  let conn: Connection;
  try {
    conn = await connectStream(stream, { ...options, label: url });
  } catch (error) {
    stream.close();
    throw error;
  }
  return {
    conn,
    transportClosed: async () => {
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        closed,
        new Promise((resolve) =>
          wait = setTimeout(resolve, CLOSE_HANDSHAKE_WAIT)
        ),
      ]).finally(() => clearTimeout(wait));
    },
  };
}

/**
 * Describes where the settings connect, for messages.
 *
 * @param settings The client's settings.
 * @returns Such as `localhost:18821 over TLS` or `unix:/tmp/netref.sock`.
 *
 * @example
 * ```ts
 * import { describeTarget } from "./dial.ts";
 * const text = describeTarget({
 *   address: { transport: "tcp", hostname: "localhost", port: 1 },
 *   timeout: 0,
 *   token: undefined,
 *   tls: {},
 * });
 * console.assert(text === "localhost:1 over TLS");
 * ```
 */
export function describeTarget(settings: ClientSettings): string {
  const address = formatAddress(settings.address);
  return settings.tls === null ? address : `${address} over TLS`;
}
