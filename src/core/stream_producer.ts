/**
 * The producing end of a stream: pulls items from a local iterable only as
 * far as the consumer's credit allows, and sends them in batches.
 *
 * @module
 */

import { STREAM_WINDOW_ITEMS } from "../defaults.ts";
import { type IncomingCall, runInCall } from "./context.ts";

/** Most items in one STREAM_ITEMS message. */
const MAX_BATCH_ITEMS = 4096;
/** A batch is sent once its binary and string items reach this many bytes. */
const MAX_BATCH_BYTES = 1024 * 1024;

/** An iterator of either kind, as the producer drives it. */
type AnyIterator = {
  next(): IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
  return?(): unknown;
};

/** The producing end of a stream, as its connection drives it. */
export interface Producer {
  readonly id: number;
  /** The consumer granted `items` more (a checked positive integer). */
  grant(items: number): void;
  /** The consumer stopped, or (`notify` false) the connection closed. */
  cancel(reason: Error, notify: boolean): void;
}

/** What a producer needs from its connection. */
export interface ProducerHost {
  /** Sends items; throws if they cannot be sent (a value that cannot travel). */
  sendItems(id: number, items: unknown[]): void;
  /** Sends the stream's last message, with the producer's error or null. */
  sendEnd(id: number, error: unknown): void;
  /** Whether so much waits to be written that producing should pause. */
  readonly congested: boolean;
  /** Resolves once the write queue has drained. */
  drained(): Promise<void>;
  /** The producer has ended and sent its STREAM_END (or the connection closed). */
  ended(producer: Producer): void;
}

const Writable = typeof WritableStream === "function" ? WritableStream : null;

/**
 * Whether `value` travels as a stream: an async iterable (`ReadableStream`
 * included), a sync iterator (a generator, a Map or Set iterator; not an
 * iterable collection, which travels by copy or by reference as before), or
 * a `WritableStream`.
 *
 * @param value An object about to be sent by reference.
 * @returns True if it travels as a stream instead.
 */
export function isStreamable(value: object): boolean {
  return Symbol.asyncIterator in value ||
    (Symbol.iterator in value &&
      typeof (value as { next?: unknown }).next === "function") ||
    (Writable !== null && value instanceof Writable);
}

/** One stream this side produces. */
export class StreamProducer implements Producer {
  /** Items the consumer may still receive. */
  #credit = 0;
  #iterator: AnyIterator | null = null;
  #started = false;
  #cancelled = false;
  #ended = false;
  #wake: (() => void) | null = null;
  #batch: unknown[] = [];
  #batchBytes = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The context `currentCall()` gives the iterable while it produces. */
  readonly #call: IncomingCall;

  /**
   * @param id The stream id.
   * @param source The iterable.
   * @param host The connection.
   * @param call The call context the iterable's code runs in.
   */
  constructor(
    readonly id: number,
    readonly source: object,
    readonly host: ProducerHost,
    call: IncomingCall,
  ) {
    this.#call = call;
  }

  /**
   * The consumer granted `items` more (already checked to be a positive
   * integer); the credit is clamped to the item window.
   */
  grant(items: number): void {
    if (this.#ended || this.#cancelled) return;
    this.#credit = Math.min(this.#credit + items, STREAM_WINDOW_ITEMS);
    if (!this.#started) {
      this.#started = true;
      this.#run();
    } else {
      this.#wakeUp();
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * Stops producing: the iterable's signal aborts with `reason` and its
   * `return()` runs; the consumer is then told the stream ended, unless
   * `notify` is false (the connection is closed).
   */
  cancel(reason: Error, notify: boolean): void {
    if (this.#ended || this.#cancelled) return;
    this.#cancelled = true;
    clearTimeout(this.#flushTimer);
    this.#batch = [];
    this.#call.cancelled = true;
    this.#call.controller?.abort(reason);
    this.#wakeUp();
    let closing: unknown;
    try {
      this.#iterator ??= this.#open();
      closing = runInCall(this.#call, () => this.#iterator!.return?.());
    } catch {
      // A failing return() or iterator: the stream ends all the same.
    }
    const end = () => this.#end(null, notify);
    if (closing instanceof Promise) closing.then(end, end);
    else end();
  }

  #open(): AnyIterator {
    const source = this.source as {
      [Symbol.asyncIterator]?: () => AnyIterator;
    };
    if (typeof source[Symbol.asyncIterator] === "function") {
      return source[Symbol.asyncIterator]!();
    }
    // A sync iterator (isStreamable): itself.
    return this.source as AnyIterator;
  }

  async #run(): Promise<void> {
    try {
      const iterator = this.#iterator = runInCall(
        this.#call,
        () => this.#open(),
      );
      const next = () => iterator.next();
      while (!this.#cancelled && !this.#ended) {
        if (this.#credit === 0 || this.host.congested) {
          this.#flush();
          if (this.#credit === 0) {
            await new Promise<void>((resolve) => this.#wake = resolve);
          } else {
            await this.host.drained();
          }
          continue;
        }
        let step = runInCall(this.#call, next);
        if (step instanceof Promise) {
          // Items already pulled leave if the next one takes a while.
          if (this.#batch.length > 0 && this.#flushTimer === undefined) {
            this.#flushTimer = setTimeout(() => this.#flushOrFail(), 0);
          }
          step = await step;
        }
        if (this.#cancelled || this.#ended) return;
        if (step.done) {
          this.#flush();
          return this.#end(null, true);
        }
        const value = step.value;
        this.#batch.push(value);
        this.#credit--;
        if (value instanceof Uint8Array) this.#batchBytes += value.byteLength;
        else if (typeof value === "string") this.#batchBytes += value.length;
        if (
          this.#batch.length >= MAX_BATCH_ITEMS ||
          this.#batchBytes >= MAX_BATCH_BYTES
        ) {
          this.#flush();
        }
      }
    } catch (error) {
      if (this.#cancelled || this.#ended) return;
      try {
        this.#flush();
      } catch {
        // The producer's own error is the one the consumer needs.
      }
      this.#fail(error);
    }
  }

  /** Sends the stream's error and finishes the iterable. */
  #fail(error: unknown): void {
    if (this.#cancelled || this.#ended) return;
    this.#end(error, true);
    try {
      const closing = runInCall(this.#call, () => this.#iterator?.return?.());
      if (closing instanceof Promise) closing.catch(() => {});
    } catch {
      // It failed already: nothing more to finish.
    }
  }

  #flushOrFail(): void {
    try {
      this.#flush();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Sends the items pulled so far; throws if they cannot travel. */
  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#batch.length === 0 || this.#ended || this.#cancelled) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    this.host.sendItems(this.id, batch);
  }

  #end(error: unknown, notify: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#flushTimer);
    if (notify) this.host.sendEnd(this.id, error);
    this.host.ended(this);
    this.#wakeUp();
  }
}
