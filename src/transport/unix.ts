/**
 * Unix domain sockets: `Deno.connect` and `Deno.listen` with
 * `transport: "unix"`. Needs `--allow-read` and `--allow-write` for the path.
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { explainListenError } from "./os_errors.ts";
import type { StreamListener } from "./types.ts";

/**
 * Opens a connection to the Unix socket at `path`.
 *
 * @param path The socket's path.
 * @param signal Gives up on connecting, rejecting with its reason.
 * @returns The connected stream.
 * @throws {Deno.errors.NotFound} If there is no socket at `path`.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens on it.
 *
 * @example
 * ```ts ignore
 * import { dialUnix } from "./unix.ts";
 * const conn = await dialUnix("/tmp/netref.sock");
 * conn.close();
 * ```
 */
export async function dialUnix(
  path: string,
  signal?: AbortSignal,
): Promise<Deno.UnixConn> {
  return await abortable(Deno.connect({ transport: "unix", path }), signal);
}

/**
 * Listens on a Unix socket at `path`. A socket file left behind by a server
 * that is gone (nothing accepts on it) is replaced; a live one, or any file
 * that is not a socket, is not touched. Closing the listener removes the
 * socket file.
 *
 * @param path Where to create the socket.
 * @param mode The socket file's mode, once bound: connecting needs write
 *   permission on it, so the default lets only its owner connect.
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} If a server already listens at `path`, or
 *   a file that is not a socket is there.
 *
 * @example
 * ```ts ignore
 * import { listenUnix } from "./unix.ts";
 * const listener = listenUnix("/tmp/netref.sock");
 * listener.close();
 * ```
 */
export async function listenUnix(
  path: string,
  mode: number = 0o600,
): Promise<StreamListener<Deno.UnixAddr>> {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(
      `Cannot use mode ${mode}: expected a file mode from 0 to 0o777`,
    );
  }
  let listener: Deno.UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) {
      throw explainListenError(error, path);
    }
    await removeStaleSocket(path, explainListenError(error, path) as Error);
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (error) {
      throw explainListenError(error, path);
    }
  }
  try {
    Deno.chmodSync(path, mode);
  } catch (error) {
    listener.close();
    throw error;
  }
  let closed = false;
  return {
    addr: listener.addr,
    accept: () => listener.accept(),
    close() {
      if (closed) return;
      closed = true;
      listener.close();
      try {
        Deno.removeSync(path);
      } catch {
        // Removed by someone else already: nothing to clean up.
      }
    },
  };
}

/** Removes the socket at `path` if no server accepts on it any more. */
async function removeStaleSocket(
  path: string,
  inUse: Error,
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    throw inUse; // Gone meanwhile: the error stands as it was.
  }
  if (!info.isSocket) {
    throw new Deno.errors.AddrInUse(
      `Cannot listen on ${path}: a file that is not a socket is there`,
    );
  }
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      Deno.removeSync(path);
      return;
    }
    throw inUse;
  }
  throw new Deno.errors.AddrInUse(
    `Cannot listen on ${path}: a server is already listening there`,
  );
}
