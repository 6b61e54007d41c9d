/**
 * netref in the benchmark: a service with `foo`, `echo`, `callBack` and
 * `make`, and the streams `count`, `bytes` and `blocks`, served by
 * `serve()` and called through `connect()`; with interceptors on both
 * sides for the tracing rows (`_netref_otel.ts`).
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
import type { Interceptor } from "../observe.ts";
import {
  SLOW_ITEM_BYTES,
  SLOW_ITEMS,
  type SlowReply,
  STREAM_BYTES,
  STREAM_CHUNK_BYTES,
} from "./_common.ts";
import {
  type BenchClient,
  type BenchServer,
  type BenchSystem,
  checkCount,
  type Timed,
} from "./_system.ts";

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

  /** Yields 0 to `n - 1`: small items, one way. */
  @exposed
  async *count(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }

  /** Streams `total` bytes in chunks of {@linkcode STREAM_CHUNK_BYTES} (one chunk, sent again and again). */
  @exposed
  bytes(total: number): ReadableStream<Uint8Array> {
    let left = total;
    return new ReadableStream({
      pull(controller) {
        if (left <= 0) return controller.close();
        const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= chunk.length;
        controller.enqueue(chunk);
      },
    });
  }

  /**
   * Yields `n` fresh blocks of {@linkcode SLOW_ITEM_BYTES}, counting them
   * in {@linkcode BenchService.produced}.
   */
  @exposed
  async *blocks(n: number): AsyncGenerator<Uint8Array> {
    produced = 0;
    for (let i = 0; i < n; i++) {
      const block = new Uint8Array(SLOW_ITEM_BYTES);
      block[0] = i & 0xff;
      produced++;
      yield block;
    }
  }

  /** Blocks the last `blocks()` yielded. */
  @exposed
  produced(): number {
    return produced;
  }
}

const CHUNK = new Uint8Array(STREAM_CHUNK_BYTES).fill(7);
let produced = 0;

function identity(x: number): number {
  return x;
}

/** The service as a client sees it. */
type Root = Connection<BenchService>["root"];

async function streamItems(root: Root, ms: number): Promise<Timed> {
  let running = true;
  const timer = setTimeout(() => running = false, ms);
  let items = 0;
  let sum = 0;
  const start = performance.now();
  try {
    for await (const n of await root.count(Number.MAX_SAFE_INTEGER)) {
      sum += n;
      items++;
      if (!running) break;
    }
  } finally {
    clearTimeout(timer);
  }
  const took = performance.now() - start;
  checkCount(items, sum);
  return { calls: items, ms: took };
}

async function streamBytes(root: Root): Promise<number> {
  let bytes = 0;
  for await (const chunk of await root.bytes(STREAM_BYTES)) {
    bytes += chunk.length;
  }
  return bytes;
}

async function readSlowly(root: Root, ms: number): Promise<SlowReply> {
  let read = 0;
  const start = performance.now();
  const end = start + ms;
  for await (const block of await root.blocks(SLOW_ITEMS)) {
    if (block.length !== SLOW_ITEM_BYTES || block[0] !== (read & 0xff)) {
      throw new Error(`Block ${read} arrived with ${block.length} bytes`);
    }
    read++;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (performance.now() >= end) break;
  }
  const took = performance.now() - start;
  return { read, produced: await root.produced(), ms: took };
}

/** What the tracing rows change: the interceptors of both sides. */
export interface NetrefOptions {
  /** Makes each side's interceptors; absent: none, as plain netref. */
  intercept?: () => readonly Interceptor[];
}

/**
 * netref as a {@linkcode BenchSystem}, with `options` on both sides.
 *
 * @param options Interceptors.
 * @returns The system.
 *
 * @example
 * ```ts ignore
 * import { netrefWith } from "./_netref.ts";
 * const traced = netrefWith({ intercept: () => openTelemetry() });
 * ```
 */
export function netrefWith(options: NetrefOptions): BenchSystem {
  const intercept = options.intercept;
  return {
    serve: () => serveNetref(intercept?.()),
    connect: (port) => connectNetref(port, intercept?.()),
  };
}

/** netref as a {@linkcode BenchSystem}. */
export const netref: BenchSystem = netrefWith({});

function serveNetref(
  intercept: readonly Interceptor[] | undefined,
): Promise<BenchServer> {
  const server = serve(BenchService, {
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 4096,
    ...(intercept === undefined ? {} : { intercept }),
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
}

async function connectNetref(
  port: number,
  intercept: readonly Interceptor[] | undefined,
): Promise<BenchClient> {
  const conn = await connect<BenchService>(
    "127.0.0.1",
    port,
    intercept === undefined ? {} : { intercept },
  );
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
    streamItems: (ms) => streamItems(root, ms),
    streamBytes: () => streamBytes(root),
    readSlowly: (ms) => readSlowly(root, ms),
  };
}
