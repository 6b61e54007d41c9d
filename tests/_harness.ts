/**
 * Shared test harness: a served service on a free loopback port, a client
 * connection to it, and a check that both ends' reference tables drain.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  type ConnectOptions,
  serve,
  type ServeOptions,
  type Server,
} from "../mod.ts";

/** A served service, a connected client, and the server's side of it. */
export interface Harness<T> extends AsyncDisposable {
  server: Server;
  client: Connection<T>;
  /** The server's side of the client's connection. */
  serverSide: Connection;
  /** Waits (collecting garbage) until no refs are held on either side; fails if the connection closed. */
  assertNoRefs(): Promise<void>;
}

/** Options of {@linkcode harness}. */
export interface HarnessOptions {
  serve?: ServeOptions;
  connect?: ConnectOptions;
  /**
   * Check on dispose that the connection is still open and both ends' tables
   * drained; a test that closes the connection on purpose turns it off.
   * @default {true}
   */
  leakCheck?: boolean;
}

/** Collects garbage, if the test runs with `--v8-flags=--expose-gc`. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until `condition()` holds, collecting garbage between tries.
 *
 * @returns Whether it held before `ms` passed.
 */
export async function eventually(
  condition: () => boolean,
  ms = 3000,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (condition()) return true;
    collectGarbage();
    await delay(10);
  }
  return condition();
}

/** The server's connections to a service, recorded as they open. */
export interface Recorder<T> {
  /** A subclass of the service that records each connection in `sides`. */
  Service: new () => T;
  /** The server's side of every connection, in the order they opened. */
  sides: Connection[];
}

/** Wraps `Service` so that the server's side of each connection is kept. */
export function recordConnections<T extends object>(
  Service: new () => T,
): Recorder<T> {
  const sides: Connection[] = [];
  const Recorded = class extends (Service as new () => object) {
    onConnect(conn: Connection) {
      sides.push(conn);
      return (Service.prototype as { onConnect?: (c: Connection) => unknown })
        .onConnect?.call(this, conn);
    }
  };
  return { Service: Recorded as new () => T, sides };
}

/** Whether a connection's reference, held-result and stream tables are empty. */
function drained(conn: Connection): boolean {
  const s = conn.stats;
  return s.exports === 0 && s.imports === 0 && s.held === 0 &&
    s.streams === 0;
}

/**
 * Fails unless both ends of a connection are still open and their reference
 * tables (exports, imports, held pipelining results) drain to empty.
 *
 * A closed connection fails the check: closing empties the tables, so a
 * connection the peer killed would otherwise pass as "no refs left".
 */
export async function assertDrained(
  client: Connection,
  serverSide: Connection,
): Promise<void> {
  const stats = () => ({ client: client.stats, server: serverSide.stats });
  assert.ok(!client.isClosed, "the client's connection closed unexpectedly");
  assert.ok(
    !serverSide.isClosed,
    "the server's connection closed unexpectedly",
  );
  const ok = await eventually(() =>
    drained(client) && drained(serverSide) && !client.isClosed &&
    !serverSide.isClosed
  );
  assert.ok(
    ok,
    `refs leaked (or the connection closed): ${JSON.stringify(stats())}`,
  );
}

/**
 * Serves `Service` on a free loopback port and connects a client to it.
 *
 * @example
 * ```ts ignore
 * await using h = await harness(TestService);
 * assert.equal(await h.client.root.foo(), "foo");
 * ```
 */
export async function harness<T extends object>(
  Service: new () => T,
  options: HarnessOptions = {},
): Promise<Harness<T>> {
  const recorder = recordConnections(Service);
  const server = serve(recorder.Service, {
    port: 0,
    log: () => {},
    ...options.serve,
  });
  const client = await connect<T>(
    "127.0.0.1",
    server.addr.port,
    options.connect,
  );
  const ready = await eventually(() => recorder.sides.length > 0, 2000);
  assert.ok(ready, "the server never saw the client connect");
  const serverSide = recorder.sides[0];
  return {
    server,
    client,
    serverSide,
    assertNoRefs: () => assertDrained(client, serverSide),
    async [Symbol.asyncDispose]() {
      try {
        if (options.leakCheck !== false) {
          await assertDrained(client, serverSide);
        }
      } finally {
        await client.close();
        await server.shutdown({ deadline: 1000 });
      }
    },
  };
}
