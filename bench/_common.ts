/**
 * What the benchmark's processes share: the systems and scenarios, the
 * one-line JSON messages `run.ts` exchanges with its child processes, and a
 * line reader for child stdout and stdin.
 *
 * Every child speaks JSON lines: `run.ts` writes one {@linkcode ClientCommand}
 * (to a client) or {@linkcode ServerCommand} (to a server) per line on its
 * stdin, and the child answers each with one JSON line on stdout. A child
 * exits when its stdin closes, so none outlives `run.ts`.
 *
 * @module
 */

/** Bytes of a frame header: a u32 big-endian payload length. */
export const HEADER_BYTES = 4;

/**
 * Bytes of the raw echo frame's payload for a small call. With its 4-byte
 * header the frame is 20 bytes: the size of a netref REQUEST for
 * `root.foo()` (12 to 16 bytes of msgpack, depending on the request id, plus
 * the same header).
 */
export const ECHO_PAYLOAD_BYTES = 16;

/** The systems compared, in the order of the table's columns. */
export const SYSTEMS = {
  netref: "netref",
  echo: "raw echo",
  minimal: "minimal RPC",
  rpyc: "RPyC 5.3",
  rpycClientNetref: "RPyC 5.3 client → netref server",
  netrefClientRpyc: "netref connectRpyc() → RPyC 5.3 server",
  capnweb: "capnweb",
  birpc: "birpc",
  grpc: "gRPC",
  otelNoop: "netref + openTelemetry(), no provider",
  otel: "netref + OpenTelemetry SDK",
} as const;

/** A system name: a key of {@linkcode SYSTEMS}. */
export type System = keyof typeof SYSTEMS;

/**
 * netref, the floor and the references that make plain calls, on either
 * wire, in the order of the calls tables' columns (tracing aside).
 */
export const CALL_SYSTEMS: readonly System[] = [
  "netref",
  "echo",
  "minimal",
  "rpyc",
  "rpycClientNetref",
  "netrefClientRpyc",
  "capnweb",
  "birpc",
  "grpc",
];

/**
 * Systems whose server is Python's: RPyC's `ThreadedServer`
 * (`_rpyc_server.py`), called by Python's client or by `connectRpyc()`.
 */
export const PYTHON_SERVERS: readonly System[] = ["rpyc", "netrefClientRpyc"];

/**
 * Systems whose client is Python's (`_rpyc_client.py`), calling RPyC's
 * server or netref's `serve()`, which answers RPyC on the same port.
 */
export const PYTHON_CLIENTS: readonly System[] = ["rpyc", "rpycClientNetref"];

/** What a timed loop does: each iteration is one call. */
export const LOOPS = {
  call: "sequential `await root.foo()`",
  bytes1k: "1 KiB `Uint8Array` echoed",
  bytes1m: "1 MiB `Uint8Array` echoed",
  callback: "call whose handler calls a client callback once",
  inflight: "100 calls in flight on one connection",
  items: "small items one way through `for await`",
  bytes256m: "256 MiB byte stream",
} as const;

/** A timed loop's name: a key of {@linkcode LOOPS}. */
export type Loop = keyof typeof LOOPS;

/** Every scenario: the timed loops, then 1,000 connections, ref churn and a slow stream reader. */
export const SCENARIOS = {
  ...LOOPS,
  conns: "1,000 client connections calling at once",
  churn: "ref churn: 100,000 remote objects created and released",
  slow: "a stream read one item a millisecond: the server's memory",
} as const;

/** A scenario name: a key of {@linkcode SCENARIOS}. */
export type Scenario = keyof typeof SCENARIOS;

/** Payload bytes of the `bytes1k` and `bytes1m` loops. */
export const PAYLOAD_BYTES: Partial<Record<Loop, number>> = {
  bytes1k: 1024,
  bytes1m: 1024 * 1024,
};

/** Calls kept in flight by the `inflight` loop. */
export const IN_FLIGHT = 100;

/**
 * Bytes of each chunk of the `bytes256m` stream. Its loop counts chunks, so
 * that its CPU time is per chunk.
 */
export const STREAM_CHUNK_BYTES = 64 * 1024;

/** Bytes of one `bytes256m` stream: 4,096 chunks. */
export const STREAM_BYTES = 256 * 1024 * 1024;

/**
 * Items of each frame the raw floor streams in the `items` loop: netref's
 * largest batch of stream items.
 */
export const FLOOR_BATCH_ITEMS = 4096;

/** Bytes of each item the `slow` scenario's producer yields, fresh each time. */
export const SLOW_ITEM_BYTES = 64 * 1024;

/** Items the `slow` scenario's producer could yield: 1 GiB of them. */
export const SLOW_ITEMS = 1024 * 1024 * 1024 / SLOW_ITEM_BYTES;

/** Commands a client process accepts, one JSON line each. */
export type ClientCommand =
  /** Runs a timed loop on the main connection: answers {@linkcode LoopReply}. */
  | { op: "loop"; loop: Loop; ms: number }
  /** Opens connections until `total` are open: answers `{open, ms}`. */
  | { op: "open"; total: number }
  /** Every open connection calls `foo()` in a loop at once: answers {@linkcode LoopReply}. */
  | { op: "load"; ms: number }
  /** Closes every connection but the main one: answers `{open}`. */
  | { op: "shrink" }
  /** Creates and releases `count` remote objects, `window` at a time: answers {@linkcode ChurnReply}. */
  | { op: "churn"; count: number; window: number }
  /** Reads a stream of {@linkcode SLOW_ITEMS} one item a millisecond for `ms`: answers {@linkcode SlowReply}. */
  | { op: "slow"; ms: number };

/** A client's answer to a timed loop. */
export interface LoopReply {
  /** Calls completed. */
  calls: number;
  /** Milliseconds they took, measured by the client. */
  ms: number;
  /** CPU milliseconds (user and system) the client process used meanwhile. */
  cpuMs: number;
}

/** A client's answer to a churn. */
export interface ChurnReply {
  /** Objects created and released. */
  objects: number;
  /** Milliseconds it took, until the last release was handed to the library. */
  ms: number;
  /** Remote objects the client held proxies for before, or null if unknown. */
  clientImportsBefore: number | null;
  /** Remote objects the client still holds proxies for, or null if unknown. */
  clientImports: number | null;
}

/** A client's answer to a slow read. */
export interface SlowReply {
  /** Items read. */
  read: number;
  /** Items the server's producer yielded, read or not. */
  produced: number;
  /** Milliseconds the reading took. */
  ms: number;
}

/** Commands a server process accepts, one JSON line each. */
export type ServerCommand =
  /** Collects garbage if it can, then reports {@linkcode MemoryReport}. */
  | { op: "memory" }
  /** Reports the CPU time the process has used so far: `{cpuMs}`. */
  | { op: "cpu" };

/** A server's report of its memory and its references. */
export interface MemoryReport {
  /** Resident set size in bytes. */
  rss: number;
  /** Bytes of live heap after collection (JavaScript or Python objects), or null. */
  heapUsed: number | null;
  /** Bytes outside the JavaScript heap (ArrayBuffer contents), or null. */
  external: number | null;
  /** Whether a full garbage collection ran before measuring. */
  collected: boolean;
  /** Objects exported to the peers, summed over connections, or null if the system has none. */
  exports: number | null;
  /** Open connections, or null if unknown. */
  connections: number | null;
}

/**
 * Whether `value` names a scenario.
 *
 * @param value Any value.
 * @returns True for a key of {@linkcode SCENARIOS}.
 *
 * @example
 * ```ts
 * import { isScenario } from "./_common.ts";
 * console.assert(isScenario("call") && !isScenario("then"));
 * ```
 */
export function isScenario(value: unknown): value is Scenario {
  return typeof value === "string" && Object.hasOwn(SCENARIOS, value);
}

/**
 * Whether `value` names a system.
 *
 * @param value Any value.
 * @returns True for a key of {@linkcode SYSTEMS}.
 *
 * @example
 * ```ts
 * import { isSystem } from "./_common.ts";
 * console.assert(isSystem("netref") && !isSystem("toString"));
 * ```
 */
export function isSystem(value: unknown): value is System {
  return typeof value === "string" && Object.hasOwn(SYSTEMS, value);
}

/**
 * Whether `value` names a timed loop.
 *
 * @param value Any value.
 * @returns True for a key of {@linkcode LOOPS}.
 *
 * @example
 * ```ts
 * import { isLoop } from "./_common.ts";
 * console.assert(isLoop("inflight") && !isLoop("conns"));
 * ```
 */
export function isLoop(value: unknown): value is Loop {
  return typeof value === "string" && Object.hasOwn(LOOPS, value);
}

/**
 * A payload of `size` bytes with a recognisable pattern.
 *
 * @param size Bytes.
 * @returns The payload.
 *
 * @example
 * ```ts
 * import { makePayload } from "./_common.ts";
 * console.assert(makePayload(3)[2] === 2);
 * ```
 */
export function makePayload(size: number): Uint8Array {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = i & 0xff;
  return payload;
}

/**
 * Checks that `echoed` is `sent` back: length, first and last byte (a full
 * comparison would cost more than the call being measured).
 *
 * @param sent What was sent.
 * @param echoed What came back.
 * @throws {Error} If they differ.
 *
 * @example
 * ```ts
 * import { checkEcho, makePayload } from "./_common.ts";
 * checkEcho(makePayload(4), makePayload(4));
 * ```
 */
export function checkEcho(sent: Uint8Array, echoed: unknown): void {
  if (
    !(echoed instanceof Uint8Array) || echoed.length !== sent.length ||
    echoed[0] !== sent[0] || echoed[sent.length - 1] !== sent[sent.length - 1]
  ) {
    throw new Error(
      `echo returned ${
        echoed instanceof Uint8Array ? `${echoed.length} bytes` : typeof echoed
      } for ${sent.length} bytes sent`,
    );
  }
}

/**
 * Splits a byte stream into text lines. It reads in the background from the
 * moment it is made, so a child's pipe never fills up, and keeps the lines
 * until asked for them.
 *
 * @example
 * ```ts
 * import { LineReader } from "./_common.ts";
 * const bytes = new TextEncoder().encode("a\nb\n");
 * const lines = new LineReader(new Blob([bytes]).stream());
 * console.assert((await lines.next(1000)) === "a");
 * ```
 */
export class LineReader {
  #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #ended = false;
  #error: unknown = null;

  /**
   * @param stream The bytes to split; the reader owns it.
   */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (partial + text).split("\n");
        partial = parts.pop()!;
        this.#lines.push(...parts);
        this.#wake();
      }
      if (partial !== "") this.#lines.push(partial);
    } catch (error) {
      this.#error = error;
    }
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /**
   * The next line, waiting for it at most `timeoutMs`.
   *
   * @param timeoutMs Longest wait in milliseconds.
   * @returns The line without its newline, or null at the end of the stream.
   * @throws {Error} If no line arrives in time or the stream failed.
   */
  async next(timeoutMs: number): Promise<string | null> {
    const deadline = performance.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#ended) {
        if (this.#error !== null) throw this.#error;
        return null;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`No line received within ${timeoutMs} ms`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return this.#lines.shift()!;
  }
}

/**
 * Answers JSON-line commands on stdin with JSON lines on stdout until stdin
 * closes: the loop of every child process.
 *
 * @param handle Answers one parsed command.
 * @param idleMs Longest wait for the next command.
 *
 * @example
 * ```ts ignore
 * import { serveCommands } from "./_common.ts";
 * await serveCommands(async (command) => ({ ok: true }), 600_000);
 * ```
 */
export async function serveCommands(
  handle: (command: Record<string, unknown>) => Promise<unknown>,
  idleMs: number,
): Promise<void> {
  const commands = new LineReader(Deno.stdin.readable);
  const encoder = new TextEncoder();
  while (true) {
    const line = await commands.next(idleMs);
    if (line === null) return;
    if (line.trim() === "") continue;
    let reply: unknown;
    try {
      reply = await handle(JSON.parse(line));
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) };
      console.error(error);
    }
    await Deno.stdout.write(encoder.encode(JSON.stringify(reply) + "\n"));
  }
}
