/**
 * What the benchmark's processes share: the scenarios, the echo frame, the
 * one-line JSON messages `run.ts` exchanges with its client processes, and a
 * line reader for child stdout and stdin.
 *
 * @module
 */

/**
 * Bytes of the raw echo frame's payload. With its 4-byte header the frame is
 * 20 bytes: the size of a netref REQUEST for `root.foo()` (12 to 16 bytes of
 * msgpack, depending on the request id, plus the same header).
 */
export const ECHO_PAYLOAD_BYTES = 16;

/** Bytes of a frame header: a u32 big-endian payload length. */
export const HEADER_BYTES = 4;

/** What one timed loop does: each is one sequential round trip. */
export const SCENARIOS = {
  call: "`await root.foo()`",
  get: "`await root.version`",
} as const;

/** A scenario name: a key of {@linkcode SCENARIOS}. */
export type Scenario = keyof typeof SCENARIOS;

/** Tells a client process to run one timed loop (one JSON line on its stdin). */
export interface RunRequest {
  /** Which loop; the echo client ignores it (an echo is an echo). */
  scenario: Scenario;
  /** How long to loop, in milliseconds. */
  ms: number;
}

/** A client process's answer to a {@linkcode RunRequest} (one JSON line). */
export interface RunReply {
  /** Round trips completed. */
  calls: number;
  /** Milliseconds they took, measured by the client. */
  ms: number;
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
