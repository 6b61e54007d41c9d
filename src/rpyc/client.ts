/**
 * A netref client for Python RPyC servers: `connectRpyc()` gives the same
 * `Connection` and `Remote` proxies as `connect()`, over RPyC's protocol.
 *
 * @example
 * ```ts ignore
 * import { connectRpyc } from "@netref/netref/rpyc";
 * await using conn = await connectRpyc("localhost", 18861);
 * console.log(await conn.root.foo()); // calls Python's exposed_foo()
 * ```
 *
 * @module
 */

import { ConnectionClosedError } from "../errors.ts";
import { logEvent, logNothing } from "../log.ts";
import { type ConnectionOptions, resolveOptions } from "../core/open.ts";
import {
  type ResolvedDeadline,
  resolveDeadline,
  withinDeadline,
} from "../core/deadline.ts";
import type { Connection, ResolvedOptions } from "../core/types.ts";
import { type Address, describeAddress } from "../transport/address.ts";
import { dial } from "../transport/dial.ts";
import { kwargs, PyKwargs } from "./boxing.ts";
import { WireVersion } from "./constants.ts";
import { loadChannelZlib } from "./channel.ts";
import { WireVersionError } from "./link.ts";
import { RpycSession } from "./protocol.ts";

export { kwargs, PyKwargs };
export {
  copy,
  type CopyOptions,
  iterate,
  type IterateOptions,
  MAX_COPIED_ITEMS,
} from "./containers.ts";

/**
 * Options of {@linkcode connectRpyc}.
 *
 * @example
 * ```ts
 * import type { RpycConnectOptions } from "./client.ts";
 * const options: RpycConnectOptions = { version: 5, timeout: 5000 };
 * ```
 */
export interface RpycConnectOptions
  extends Omit<ConnectionOptions, "token" | "idleTimeout"> {
  /**
   * Milliseconds that connecting may take, the dial and the first exchange
   * (fetching the root) together; past it, connecting fails with a
   * `TimeoutError`. Not given, `timeout` bounds it (at least 250 ms); `0`
   * leaves the dial to the operating system and the exchange to
   * `handshakeTimeout`.
   *
   * @default {timeout, at least 250}
   */
  connectTimeout?: number;
  /**
   * Gives up on connecting: connecting rejects with the signal's reason. No
   * effect once connected.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The object the Python side reaches as its `conn.root`: its `@exposed`
   * members are callable from Python.
   *
   * @default {an empty service}
   */
  service?: object;
  /**
   * The server's RPyC major version, 5 or 6 (their wire formats differ, and
   * no first message reads cleanly in both). By default the first request
   * is sent as RPyC 6, and the connection is opened again as RPyC 5 if the
   * server answers in that format: an RPyC 5 server then logs the first
   * attempt as an error, and an RPyC 5 `OneShotServer` has no second
   * connection to give. Pass `5` for an RPyC 5 server to skip the attempt.
   *
   * @default {undefined} (6, else 5)
   */
  version?: 5 | 6;
  /**
   * Connects over TLS, as Python's `rpyc.ssl_connect` does: `true` trusts
   * the system's CAs; an object gives the CAs to trust (`caCerts`, as
   * `ca_certs`) and this client's certificate and key (`cert` and `key`,
   * as `certfile` and `keyfile`) for a server that asks for one. Not for
   * {@linkcode connectRpycUnix}.
   *
   * @default {undefined} (plain TCP)
   */
  tls?: boolean | RpycTlsOptions;
}

/**
 * TLS settings of {@linkcode connectRpyc}.
 *
 * @example
 * ```ts
 * import type { RpycTlsOptions } from "./client.ts";
 * const tls: RpycTlsOptions = { caCerts: ["-----BEGIN CERTIFICATE-----..."] };
 * ```
 */
export interface RpycTlsOptions {
  /**
   * Certificates (PEM) of the CAs to trust for the server's certificate.
   *
   * @default {undefined} (the system's trusted CAs)
   */
  caCerts?: string[];
  /**
   * This client's certificate chain (PEM), for a server that requires one.
   *
   * @default {undefined}
   */
  cert?: string;
  /**
   * The private key (PEM) of `cert`.
   *
   * @default {undefined}
   */
  key?: string;
}

/** What Python reaches as this side's root when no service is given. */
class VoidService {}

/** RPyC connect options checked, with every default filled in. Internal. */
interface ResolvedRpycConnect extends ResolvedDeadline {
  /** The session's options; the version and label are added per attempt. */
  readonly session: ResolvedOptions & { readonly root: object };
  /** The wire versions to try, in order. */
  readonly versions: readonly WireVersion[];
}

/**
 * Checks {@linkcode connectRpyc}'s arguments and options and fills in the
 * defaults, once, before anything is dialled.
 */
function resolveRpycConnect(
  address: Address,
  options: RpycConnectOptions,
): ResolvedRpycConnect {
  if (address.transport === "unix") {
    if (typeof address.path !== "string" || address.path === "") {
      throw new TypeError("Cannot connect: path must be a non-empty string");
    }
  } else if (address.transport !== "websocket") {
    const { hostname, port } = address;
    if (typeof hostname !== "string" || hostname === "") {
      throw new TypeError(
        "Cannot connect: hostname must be a non-empty string",
      );
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(
        `Cannot connect to port ${port}: expected 1 to 65535`,
      );
    }
  }
  const resolved = resolveOptions(options, logNothing);
  const service = options.service ?? new VoidService();
  if (typeof service !== "object" && typeof service !== "function") {
    throw new TypeError("Cannot connect: service must be an object");
  }
  if (
    options.version !== undefined && options.version !== 5 &&
    options.version !== 6
  ) {
    throw new RangeError(
      `Cannot connect: RPyC version ${options.version} is neither 5 nor 6`,
    );
  }
  return {
    ...resolveDeadline(options, resolved.timeout),
    // RPyC has no idle timeout of its own to offer here.
    session: { ...resolved, idleTimeout: 0, root: service },
    versions: options.version === undefined
      ? [WireVersion.V6, WireVersion.V5]
      : [options.version],
  };
}

/**
 * Connects to a Python RPyC server (such as a `rpyc.ThreadedServer`) and
 * fetches its root. `conn.root` is a netref of the Python service: await
 * attributes, call methods, `setAttr`, `dir`, `using`/`release`, as with
 * `connect()`.
 *
 * Names: asking for `foo` asks Python for `foo`, which RPyC's attribute
 * policy resolves to `exposed_foo`; if Python still answers AttributeError,
 * `exposed_foo` is asked for once more. Keyword arguments are passed with
 * {@linkcode kwargs} as the last argument. Python exceptions reject the call
 * with a `RemoteError` whose `remoteName` is the Python class name and
 * `remoteStack` the Python traceback. RPyC's classic mode (remote eval,
 * exec, modules) is not offered.
 *
 * Versions: the first request is sent in RPyC 6's format; an RPyC 5 server
 * refuses it (and logs an error), and the connection is made again in 5's.
 * Pass `{ version: 5 }` for an RPyC 5 server to skip that, as an RPyC 5
 * `OneShotServer` requires.
 *
 * @typeParam T The type of the Python service, for a typed `root`.
 * @param hostname The server's host.
 * @param port The server's port.
 * @param options Timeouts, limits, the service Python may call back, the
 *   wire version.
 * @returns The open connection.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 * @throws {ConnectionClosedError} If the server closes the connection or
 *   does not answer the root request within `handshakeTimeout`.
 * @throws {RangeError} On an option out of range.
 *
 * @example The classic TestService, served by Python
 * ```ts
 * import { connectRpyc } from "@netref/netref/rpyc";
 * interface PythonTestService { foo(): string }
 * await using conn = await connectRpyc<PythonTestService>("localhost", 18861);
 * console.log(await conn.root.foo()); // "foo"
 * ```
 */
export async function connectRpyc<T = unknown>(
  hostname: string,
  port: number,
  options: RpycConnectOptions = {},
): Promise<Connection<T>> {
  const tls = options.tls ?? false;
  if (typeof tls !== "boolean" && (typeof tls !== "object" || tls === null)) {
    throw new TypeError("Cannot connect: tls must be a boolean or an object");
  }
  const address: Address = {
    transport: tls === false ? "tcp" : "tls",
    hostname,
    port,
  };
  return await connectRpycAt<T>(
    address,
    options,
    typeof tls === "object" ? tls : {},
  );
}

/**
 * Connects to a Python RPyC server listening on a Unix domain socket (such
 * as `ThreadedServer(service, socket_path=path)`), as Python's
 * `rpyc.unix_connect` does, and fetches its root; otherwise as
 * {@linkcode connectRpyc}. Needs `--allow-read` and `--allow-write` for
 * the path.
 *
 * @typeParam T The type of the Python service, for a typed `root`.
 * @param path The socket's path.
 * @param options Timeouts, limits, the service Python may call back, the
 *   wire version (`tls` does not apply).
 * @returns The open connection.
 * @throws {Deno.errors.NotFound} If there is no socket at `path`.
 * @throws {ConnectionClosedError} If the server closes the connection or
 *   does not answer the root request within `handshakeTimeout`.
 * @throws {TypeError} If `tls` is given.
 *
 * @example
 * ```ts ignore
 * import { connectRpycUnix } from "@netref/netref/rpyc";
 * await using conn = await connectRpycUnix("/tmp/rpyc.sock");
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectRpycUnix<T = unknown>(
  path: string,
  options: RpycConnectOptions = {},
): Promise<Connection<T>> {
  if (options.tls !== undefined && options.tls !== false) {
    throw new TypeError(
      "Cannot connect over a Unix socket with TLS: leave out the tls option",
    );
  }
  return await connectRpycAt<T>({ transport: "unix", path }, options, {});
}

/**
 * The error of an attempt after the server refused the first one's
 * version: a server that then takes no connection, or drops it, is most
 * likely an RPyC `OneShotServer`, and the error says so and how to avoid it.
 */
function afterRefusal(
  error: unknown,
  label: string,
  versions: readonly WireVersion[],
  attempt: number,
): unknown {
  const lost = error instanceof ConnectionClosedError ||
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.ConnectionReset;
  if (attempt === 0 || !lost) return error;
  const version = versions[attempt];
  return new ConnectionClosedError(
    `Cannot connect to ${label}: the server speaks RPyC ${version}.x and refused the first request, sent in ${
      versions[attempt - 1]
    }.x; connecting again failed (an RPyC OneShotServer serves one connection only): ${
      error instanceof Error ? error.message : String(error)
    }; pass { version: ${version} } to connect in ${version}.x at once`,
    { cause: error },
  );
}

/** Dials `address` and opens an RPyC session on it, each version in turn. */
async function connectRpycAt<T>(
  address: Address,
  options: RpycConnectOptions,
  tls: RpycTlsOptions,
): Promise<Connection<T>> {
  const deadline = resolveRpycConnect(address, options);
  const { session: resolved, versions } = deadline;
  const label = describeAddress(address);
  await loadChannelZlib();
  return await withinDeadline(label, deadline, async (signal, progress) => {
    for (let i = 0;; i++) {
      const stream = await dial(address, {
        signal,
        caCerts: tls.caCerts,
        cert: tls.cert,
        key: tls.key,
      }).catch((error) => {
        throw afterRefusal(error, label, versions, i);
      });
      progress.dialed = true;
      const session = new RpycSession(stream, {
        ...resolved,
        version: versions[i],
        label,
        // As a Python script's would, the connection lets the process exit
        // when idle, unless it serves something of its own.
        unrefWhenIdle: options.service === undefined,
      });
      try {
        await session.remoteRoot({
          timeout: resolved.handshakeTimeout,
          signal,
        });
        return session.handle as Connection<T>;
      } catch (error) {
        await session.close(null, false);
        if (signal?.aborted) throw signal.reason;
        const mismatch = error instanceof ConnectionClosedError &&
          error.cause instanceof WireVersionError;
        if (!mismatch || i + 1 >= versions.length) {
          throw mismatch
            ? new ConnectionClosedError(
              `Cannot connect to ${label}: the server speaks RPyC ${
                (error.cause as WireVersionError).peerVersion
              }.x, not ${versions[i]}.x`,
              { cause: error },
            )
            : afterRefusal(error, label, versions, i);
        }
        resolved.log(logEvent(
          "warn",
          "rpyc.version-fallback",
          `${label} speaks RPyC ${versions[i + 1]}.x, not ${
            versions[i]
          }.x: connecting again in ${
            versions[i + 1]
          }.x (the server logged the first attempt as an error; pass { version: ${
            versions[i + 1]
          } } to connect without it)`,
          { peer: label, error },
        ));
      }
    }
  }, ", no answer from the server");
}
