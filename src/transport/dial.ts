/**
 * `dial(address)`: the one way a client opens a byte stream, whatever the
 * transport the address names. Every `connect*` function and the command
 * line's `call` and `inspect` dial through it.
 *
 * @module
 */

import { type Address, describeAddress } from "./address.ts";
import { explainDialError } from "./os_errors.ts";
import { dialTls, type DialTlsOptions } from "./tls.ts";
import { dialTcp } from "./tcp.ts";
import type { ByteStream } from "./types.ts";
import { dialUnix } from "./unix.ts";
import { dialWebSocket } from "./websocket.ts";

/** Settings of {@linkcode dial}. */
export interface DialOptions extends DialTlsOptions {
  /**
   * Milliseconds a WebSocket may take to open (`connect*` give their
   * `handshakeTimeout`); 0 waits forever. Other transports wait as long as
   * the operating system does, unless `signal` aborts first.
   *
   * @default {0}
   */
  openTimeout?: number;
}

/**
 * Opens a byte stream to `address`: TCP (Nagle's algorithm off), TLS
 * (handshake done, and mutual TLS with `cert` and `key`), a Unix socket,
 * or a WebSocket (open).
 *
 * @param address Where to connect, as `parseAddress()` gives it.
 * @param options TLS settings, how long a WebSocket may take to open, and a
 *   signal that gives up on the whole dial.
 * @returns The connected stream.
 * @throws {TypeError} If TLS settings are given for an address that is not
 *   `tls://`.
 * @throws {ConnectionClosedError} If a TLS handshake fails, or a WebSocket
 *   does not open.
 * @throws {Deno.errors.ConnectionRefused} If nothing listens there; this
 *   and the other operating-system errors are said again with the address
 *   and a plain sentence (`Cannot connect to 127.0.0.1:18811: connection
 *   refused; is the server running?`), the original as `cause`.
 * @throws {unknown} `signal.reason`, if the signal aborts first.
 */
export function dial(
  address: Address,
  options: DialOptions = {},
): Promise<ByteStream> {
  const { signal } = options;
  if (
    address.transport !== "tls" &&
    (options.caCerts !== undefined || options.cert !== undefined ||
      options.key !== undefined)
  ) {
    return Promise.reject(
      new TypeError(
        `Cannot connect to ${address.transport} address: TLS settings (caCerts, cert, key) need a TLS address`,
      ),
    );
  }
  return open(address, options).catch((error) => {
    throw signal?.aborted && error === signal.reason
      ? error
      : explainDialError(error, describeAddress(address));
  });
}

function open(address: Address, options: DialOptions): Promise<ByteStream> {
  const { signal } = options;
  switch (address.transport) {
    case "tcp":
      return dialTcp(address.hostname, address.port, signal);
    case "tls":
      return dialTls(address.hostname, address.port, options);
    case "unix":
      return dialUnix(address.path, signal);
    case "websocket":
      return dialWebSocket(address.url, options.openTimeout ?? 0, signal);
  }
}
