/**
 * netref in the benchmark: a service with `foo`, `echo`, `callBack` and
 * `make`, served by `serve()` and called through `connect()`.
 *
 * @module
 */

import {
  connect,
  type Connection,
  exposed,
  release,
  serve,
  service,
} from "../mod.ts";
import type { BenchClient, BenchServer, BenchSystem } from "./_system.ts";

/** Handed out by reference by `make()`. */
export class Item {
  /** Returns 1. */
  @exposed
  value(): number {
    return 1;
  }
}

const connections = new Set<Connection>();

/** The benchmark's service: one instance per connection. */
@service("bench")
export class BenchService {
  /** Tracks the connection, for the export count. */
  onConnect(conn: Connection): void {
    connections.add(conn);
  }

  /** Forgets the connection. */
  onDisconnect(conn: Connection): void {
    connections.delete(conn);
  }

  /** Returns "foo". */
  @exposed
  foo(): string {
    return "foo";
  }

  /** Returns `data`. */
  @exposed
  echo(data: Uint8Array): Uint8Array {
    return data;
  }

  /** Calls `fn(1)` on the caller's side and returns its result. */
  @exposed
  async callBack(fn: (x: number) => number): Promise<number> {
    return await fn(1);
  }

  /** Returns a new object, by reference. */
  @exposed
  make(): Item {
    return new Item();
  }
}

function identity(x: number): number {
  return x;
}

/** netref as a {@linkcode BenchSystem}. */
export const netref: BenchSystem = {
  serve(): Promise<BenchServer> {
    const server = serve(BenchService, {
      hostname: "127.0.0.1",
      port: 0,
      maxConnections: 4096,
    });
    return Promise.resolve({
      port: server.addr.port,
      exports() {
        let total = 0;
        for (const conn of connections) total += conn.stats.exports;
        return total;
      },
      connections: () => server.connectionCount,
    });
  },

  async connect(port: number): Promise<BenchClient> {
    const conn = await connect<BenchService>("127.0.0.1", port);
    const root = conn.root;
    return {
      foo: () => root.foo(),
      echo: (data) => root.echo(data),
      callback: () => root.callBack(identity),
      churnOne: async () => {
        release(await root.make());
      },
      imports: () => conn.stats.imports,
      close: () => conn.close(),
    };
  },
};
