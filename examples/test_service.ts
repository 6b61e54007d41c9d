/**
 * The classic RPyC example, in TypeScript: `TestService` served on
 * 127.0.0.1:18811. Run it with `deno task start`, then the client with
 * `deno task client`.
 *
 * @module
 */

import { type Connection, exposed, serve, service } from "../mod.ts";

/** A counter handed out by reference: its exposed members stay callable. */
export class Counter {
  #count = 0;

  /** Adds `by` (default 1) and returns the new count. */
  @exposed
  increment(by = 1): number {
    this.#count += by;
    return this.#count;
  }

  /** The current count. */
  @exposed
  get count(): number {
    return this.#count;
  }
}

/** The example service: `foo()`, `bar()`, a callback and a remote object. */
@service("test")
export class TestService {
  /** An exposed attribute. */
  @exposed
  version = "1.0";

  /** Called when a client connects. */
  onConnect(conn: Connection): void {
    console.log(`connected: ${describe(conn)}`);
  }

  /** Called when it goes away. */
  onDisconnect(conn: Connection): void {
    console.log(`disconnected: ${describe(conn)}`);
  }

  /** Returns "foo". */
  @exposed
  foo(): string {
    return "foo";
  }

  /** Returns "bar". */
  @exposed
  bar(): string {
    return "bar";
  }

  /** Calls `callback` with each of `items`, then returns how many it called. */
  @exposed
  async each(
    items: number[],
    callback: (item: number) => unknown,
  ): Promise<number> {
    for (const item of items) await callback(item);
    return items.length;
  }

  /** Returns a new counter, by reference. */
  @exposed
  makeCounter(): Counter {
    return new Counter();
  }

  /** Not exposed: never reachable remotely. */
  secret(): string {
    return "never reachable remotely";
  }
}

function describe(conn: Connection): string {
  const addr = conn.remoteAddr;
  return addr !== null && addr.transport === "tcp"
    ? `${addr.hostname}:${addr.port}`
    : "peer";
}

if (import.meta.main) {
  // An optional first argument picks another port (0: any free one).
  const server = serve(TestService, { port: Number(Deno.args[0] ?? 18811) });
  console.log(
    `TestService listening on ${server.addr.hostname}:${server.addr.port}; run the client with: npx -y deno@2.9.6 task client ${server.addr.port}`,
  );
  Deno.addSignalListener("SIGINT", () => server.shutdown());
  await server.finished;
}
