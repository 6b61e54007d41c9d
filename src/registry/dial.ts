/**
 * Connecting with a deadline: `connect()` waits as long as the operating
 * system does (minutes, for a host that vanished), which a client choosing
 * among instances, or a heartbeat, cannot afford.
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { connect, type ConnectOptions } from "../client/connect.ts";
import { TimeoutError } from "../errors.ts";
import type { Connection } from "../core/types.ts";

/**
 * Connects like `connect()`, giving up after `within` milliseconds. A
 * connection that completes after the deadline is closed at once.
 *
 * @typeParam T The type of the server's service.
 * @param hostname The server's host.
 * @param port The server's port.
 * @param options As for `connect()`, and `within`: milliseconds to wait for
 *   the connection and handshake (`0` or `Infinity` waits as long as
 *   `connect()` does).
 * @returns The open connection.
 * @throws {TimeoutError} If the deadline passed first.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
 *
 * @example
 * ```ts ignore
 * import { connectWithin } from "./dial.ts";
 * await using conn = await connectWithin("127.0.0.1", 18811, { within: 3000 });
 * ```
 */
export function connectWithin<T>(
  hostname: string,
  port: number,
  options: ConnectOptions & { within: number },
): Promise<Connection<T>> {
  const { within, ...connectOptions } = options;
  const connecting = connect<T>(hostname, port, connectOptions);
  if (!(within > 0 && within < Infinity)) return connecting;
  return withTimeout(connecting, within, () => {
    connecting.then((late) => late.close(), () => {});
    throw new TimeoutError(
      `Cannot connect to ${hostname}:${port}: no answer within ${within} ms`,
    );
  });
}
