/**
 * The TypeScript service Python clients call in the RPyC server tests, and a
 * server for it that records its connections.
 *
 * @module
 */

import {
  type Connection,
  exposed,
  type RemoteError,
  serve,
  type ServeOptions,
  service,
} from "../mod.ts";
import { delay } from "./_rpyc.ts";

class Counter {
  #count = 0;
  @exposed
  increment(by = 1): number {
    return this.#count += by;
  }
  @exposed
  get count(): number {
    return this.#count;
  }
}

class QuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuotaError";
  }
}

/** What Python clients reach in these tests. */
@service("py-facing")
export class PyFacingService {
  #conn: Connection<{ hello(name: string): string }> | null = null;
  @exposed
  version = "1.0";
  onConnect(conn: Connection): void {
    this.#conn = conn as Connection<{ hello(name: string): string }>;
  }
  @exposed
  foo(): string {
    return "foo";
  }
  @exposed({ params: ["a", "b"], options: true })
  add(a: number, b: number, options?: { scale?: number }): number {
    return (a + b) * (options?.scale ?? 1);
  }
  @exposed
  async each(items: number[], callback: (x: number) => unknown) {
    const out = [];
    for (const item of items) out.push(await callback(item));
    return out;
  }
  @exposed
  fail(kind: string): never {
    if (kind === "range") throw new RangeError("too big");
    if (kind === "quota") throw new QuotaError("over quota");
    throw new Error("plain");
  }
  @exposed
  async callAndReport(callback: () => unknown): Promise<unknown> {
    try {
      await callback();
      return "no error";
    } catch (error) {
      const remote = error as RemoteError;
      return [
        remote.name,
        remote.remoteName,
        /in bad/.test(remote.remoteStack ?? ""),
      ];
    }
  }
  @exposed
  async callAndPropagate(callback: () => unknown): Promise<unknown> {
    return await callback();
  }
  @exposed
  makeCounter(): Counter {
    return new Counter();
  }
  @exposed
  data(): unknown {
    return {
      name: "x",
      tags: ["a", "b"],
      when: new Date(0),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2]),
      ratio: 0.5,
    };
  }
  @exposed
  keep(callback: unknown): string {
    return typeof callback;
  }
  @exposed
  async greetBack(name: string): Promise<unknown> {
    return await this.#conn!.root.hello(name);
  }
  /** A Map, as Python sees it. */
  @exposed
  ports(): Map<number, string> {
    return new Map([[80, "http"], [443, "https"]]);
  }
  /** How a value arrived, as JSON with sets named (keywords: one object). */
  @exposed({ options: true })
  shape(value: unknown): string {
    return JSON.stringify(
      value,
      (_, v) =>
        v instanceof Set
          ? { set: [...v] }
          : typeof v === "bigint"
          ? `${v}n`
          : v,
    );
  }
  secret(): string {
    return "never reachable remotely";
  }
}

/** A served PyFacing, and what its connections did. */
export interface Served extends AsyncDisposable {
  port: number;
  /** Lines the server logged. */
  logs: string[];
  /** The server's side of each connection, from `onConnect`. */
  connections: Connection[];
  /** Connections passed to `onDisconnect`. */
  disconnected: Connection[];
}

/** Serves PyFacing on a free loopback port. */
export function served(options: ServeOptions = {}): Served {
  const connections: Connection[] = [];
  const disconnected: Connection[] = [];
  const logs: string[] = [];
  // Named as its parent: Python's messages name the class.
  const Recorded = class PyFacing extends PyFacingService {
    override onConnect(conn: Connection): void {
      super.onConnect(conn);
      connections.push(conn);
    }
    onDisconnect(conn: Connection): void {
      disconnected.push(conn);
    }
  };
  const server = serve(Recorded, {
    port: 0,
    log: (message) => logs.push(message),
    ...options,
  });
  return {
    port: server.addr.port,
    logs,
    connections,
    disconnected,
    [Symbol.asyncDispose]: () => server.shutdown({ deadline: 1000 }),
  };
}

/** A Python client script: `c` is connected to the port in argv[1]. */
export function client(body: string): string {
  return `import sys, gc, rpyc
c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
${body}`;
}

/** Waits until `check()` holds, collecting garbage between tries. */
export async function eventually(
  check: () => boolean,
  ms = 5000,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    (globalThis as { gc?: () => void }).gc?.();
    if (check()) return true;
    await delay(20);
  }
  return check();
}
