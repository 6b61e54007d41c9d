/**
 * Shared test harness: a served service on a free loopback port, a client
 * connection to it, and a check that both ends' reference tables drain.
 *
 * @module
 */

import assert from "assert";
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
  /** Waits (collecting garbage) until no refs are held on either side. */
  assertNoRefs(): Promise<void>;
}

/** Options of {@linkcode harness}. */
export interface HarnessOptions {
  serve?: ServeOptions;
  connect?: ConnectOptions;
  /** Check on dispose that both tables drained. @default {true} */
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
  const serverSides: Connection[] = [];
  const Recorded = class extends (Service as new () => object) {
    onConnect(conn: Connection) {
      serverSides.push(conn);
      return (Service.prototype as { onConnect?: (c: Connection) => unknown })
        .onConnect?.call(this, conn);
    }
  };
  const server = serve(Recorded, { port: 0, log: () => {}, ...options.serve });
  const client = await connect<T>(
    "127.0.0.1",
    server.addr.port,
    options.connect,
  );
  const ready = await eventually(() => serverSides.length > 0, 2000);
  assert.ok(ready, "the server never saw the client connect");
  const serverSide = serverSides[0];
  const stats = () => ({ client: client.stats, server: serverSide.stats });
  const clean = () => {
    const s = stats();
    return s.client.exports === 0 && s.client.imports === 0 &&
      s.server.exports === 0 && s.server.imports === 0;
  };
  async function assertNoRefs(): Promise<void> {
    const ok = await eventually(clean);
    assert.ok(ok, `refs leaked: ${JSON.stringify(stats())}`);
  }
  return {
    server,
    client,
    serverSide,
    assertNoRefs,
    async [Symbol.asyncDispose]() {
      try {
        if (options.leakCheck !== false && !client.isClosed) {
          await assertNoRefs();
        }
      } finally {
        await client.close();
        await server.shutdown({ deadline: 1000 });
      }
    },
  };
}
