/**
 * What each system measured in Deno gives the benchmark (a server and a
 * client), and the timed loops run on any client.
 *
 * @module
 */

import {
  checkEcho,
  IN_FLIGHT,
  type Loop,
  type LoopReply,
  makePayload,
  PAYLOAD_BYTES,
  type SlowReply,
  STREAM_BYTES,
  STREAM_CHUNK_BYTES,
} from "./_common.ts";

/** What a loop reports: calls and time, the CPU time is added by the caller. */
export type Timed = Omit<LoopReply, "cpuMs">;

/** A running benchmark server of one system. */
export interface BenchServer {
  /** The port it listens on, on 127.0.0.1. */
  port: number;
  /** Objects exported to peers, summed over connections, or null if none are kept. */
  exports(): number | null;
  /** Open connections, or null if unknown. */
  connections(): number | null;
}

/** One client connection of one system. */
export interface BenchClient {
  /** Calls `foo()`, which returns "foo". */
  foo(): Promise<unknown>;
  /** Calls `echo(data)`, which returns `data`. */
  echo(data: Uint8Array): Promise<unknown>;
  /** Calls `callBack(fn)`, whose handler calls the client's `fn(1)` once; null if the system cannot. */
  callback: (() => Promise<unknown>) | null;
  /** Creates one remote object and releases it; null if the system has no remote objects. */
  churnOne: (() => Promise<void>) | null;
  /** Remote objects this side still holds proxies for, or null if unknown. */
  imports(): number | null;
  /**
   * Reads a stream of small items (0, 1, 2, ...) for `ms`, then stops it;
   * absent if the system has no streams. Its calls are the items read.
   */
  streamItems?(ms: number): Promise<Timed>;
  /**
   * Reads one stream of {@linkcode STREAM_BYTES} in chunks of
   * {@linkcode STREAM_CHUNK_BYTES}; absent if the system has no streams.
   *
   * @returns The bytes read.
   */
  streamBytes?(): Promise<number>;
  /**
   * Reads a stream that could bring `SLOW_ITEMS` items of
   * `SLOW_ITEM_BYTES`, one item a millisecond, for `ms`, then
   * stops it; absent if the system has no streams.
   */
  readSlowly?(ms: number): Promise<SlowReply>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** A system's two halves, and loops of its own where the generic ones do not fit. */
export interface BenchSystem {
  /** Starts a server on 127.0.0.1, on a free port. */
  serve(): Promise<BenchServer>;
  /** Connects one client. */
  connect(port: number): Promise<BenchClient>;
  /** Loops of `client` replacing the generic ones, such as the raw echo's. */
  loopsOf?(
    client: BenchClient,
  ): Partial<Record<Loop, (ms: number) => Promise<Timed>>>;
}

/**
 * Runs `call` back to back for `ms` milliseconds.
 *
 * @param call One round trip.
 * @param ms How long.
 * @returns Calls done and the time they took.
 *
 * @example
 * ```ts
 * import { sequential } from "./_system.ts";
 * const { calls } = await sequential(() => Promise.resolve(), 10);
 * console.assert(calls > 0);
 * ```
 */
export async function sequential(
  call: () => Promise<unknown>,
  ms: number,
): Promise<Timed> {
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  do {
    await call();
    calls++;
    now = performance.now();
  } while (now < end);
  return { calls, ms: now - start };
}

/**
 * Keeps `window` calls in flight for `ms` milliseconds: each that settles
 * starts the next.
 *
 * @param call One call.
 * @param window Calls in flight.
 * @param ms How long.
 * @returns Calls done and the time until the last settled.
 *
 * @example
 * ```ts
 * import { pipelined } from "./_system.ts";
 * const { calls } = await pipelined(() => Promise.resolve(), 4, 10);
 * console.assert(calls >= 4);
 * ```
 */
export async function pipelined(
  call: () => Promise<unknown>,
  window: number,
  ms: number,
): Promise<Timed> {
  let calls = 0;
  // A timer, not a clock read per call: the clock is an op in Deno, and
  // at hundreds of thousands of calls a second it would weigh.
  let running = true;
  const timer = setTimeout(() => running = false, ms);
  const start = performance.now();
  async function lane(): Promise<void> {
    do {
      await call();
      calls++;
    } while (running);
  }
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < window; i++) lanes.push(lane());
  try {
    await Promise.all(lanes);
  } finally {
    clearTimeout(timer);
  }
  return { calls, ms: performance.now() - start };
}

/**
 * Runs one timed loop on `client`.
 *
 * @param client The connection.
 * @param loop Which loop.
 * @param ms How long.
 * @returns Calls done and the time they took.
 * @throws {TypeError} If the system cannot run that loop.
 *
 * @example
 * ```ts ignore
 * import { runLoop } from "./_system.ts";
 * console.log(await runLoop(client, "call", 1000));
 * ```
 */
export function runLoop(
  client: BenchClient,
  loop: Loop,
  ms: number,
): Promise<Timed> {
  switch (loop) {
    case "call":
      return sequential(async () => {
        const value = await client.foo();
        if (value !== "foo") throw new Error(`foo() returned ${value}`);
      }, ms);
    case "bytes1k":
    case "bytes1m": {
      const payload = makePayload(PAYLOAD_BYTES[loop]!);
      return sequential(async () => {
        checkEcho(payload, await client.echo(payload));
      }, ms);
    }
    case "callback": {
      const callback = client.callback;
      if (callback === null) {
        throw new TypeError(
          "Cannot run callback: this system has no callbacks",
        );
      }
      return sequential(async () => {
        const value = await callback();
        if (value !== 1) throw new Error(`callBack() returned ${value}`);
      }, ms);
    }
    case "inflight":
      return pipelined(() => client.foo(), IN_FLIGHT, ms);
    case "items":
      if (client.streamItems === undefined) {
        throw new TypeError("Cannot run items: this system has no streams");
      }
      return client.streamItems(ms);
    case "bytes256m":
      return byteStreams(client, ms);
  }
}

/**
 * Reads whole byte streams of {@linkcode STREAM_BYTES} back to back for
 * `ms` (at least one), counting chunks of {@linkcode STREAM_CHUNK_BYTES}.
 *
 * @param client The connection.
 * @param ms How long.
 * @returns Chunks read and the time they took.
 * @throws {TypeError} If the system has no streams.
 * @throws {Error} If a stream is shorter or longer than it should be.
 */
export async function byteStreams(
  client: Pick<BenchClient, "streamBytes">,
  ms: number,
): Promise<Timed> {
  const read = client.streamBytes?.bind(client);
  if (read === undefined) {
    throw new TypeError("Cannot run bytes256m: this system has no streams");
  }
  const { calls, ms: took } = await sequential(async () => {
    const bytes = await read();
    if (bytes !== STREAM_BYTES) {
      throw new Error(`A stream of ${STREAM_BYTES} bytes brought ${bytes}`);
    }
  }, ms);
  return { calls: calls * STREAM_BYTES / STREAM_CHUNK_BYTES, ms: took };
}

/**
 * Checks that `items` items read from a stream of 0, 1, 2, ... summed to
 * `sum`.
 *
 * @param items Items read.
 * @param sum Their sum.
 * @throws {Error} If they did not.
 *
 * @example
 * ```ts
 * import { checkCount } from "./_system.ts";
 * checkCount(4, 6);
 * ```
 */
export function checkCount(items: number, sum: number): void {
  if (sum !== items * (items - 1) / 2) {
    throw new Error(`${items} items of a count summed to ${sum}`);
  }
}
