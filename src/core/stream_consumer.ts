/**
 * The consuming end of a stream: buffers the items the producer sends, never
 * more than the credit it granted, grants more as the user takes them (at
 * half the window, so a fast consumer is not paced by round trips), and
 * hands them out through an async iterator.
 *
 * @module
 */

import {
  STREAM_INITIAL_CREDIT,
  STREAM_WINDOW_BYTES,
  STREAM_WINDOW_ITEMS,
} from "../defaults.ts";
import { TimeoutError } from "../errors.ts";
import { withCallerStack } from "./caller_stack.ts";

/** What a consumer needs from its connection. */
export interface ConsumerHost {
  /** Describes the peer, for messages. */
  readonly label: string;
  /** Grants the producer `items` more. */
  sendCredit(id: number, items: number): void;
  /** Tells the producer to stop. */
  sendCancel(id: number): void;
}

interface Waiter {
  resolve(result: IteratorResult<unknown>): void;
  reject(error: unknown): void;
}

const DONE: IteratorResult<unknown> = Object.freeze({
  value: undefined,
  done: true,
});

/** One stream this side consumes. */
export class StreamConsumer {
  /** Batches received and not yet taken; the first from `#index` on. */
  #batches: unknown[][] = [];
  #index = 0;
  #granted = 0;
  #received = 0;
  #taken = 0;
  /** Bytes of the STREAM_ITEMS frames received, to size the window. */
  #bytes = 0;
  /** Set once the producer sent STREAM_END or the connection closed. */
  #ended = false;
  /** Set once this side cancelled; items still arriving are dropped. */
  #cancelled = false;
  /** What the next `next()` rejects with, once, after the items. */
  #error: unknown = undefined;
  #failed = false;
  #waiter: Waiter | null = null;
  #timeout = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #signal: AbortSignal | undefined = undefined;
  #onAbort: (() => void) | undefined = undefined;

  /**
   * @param id The stream id.
   * @param host The connection.
   */
  constructor(readonly id: number, readonly host: ConsumerHost) {}

  /** Whether this side cancelled the stream. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Tells the producer of a `WritableStream` that its sink has closed: the
   * answer its close() waits for.
   */
  acknowledge(): void {
    this.host.sendCancel(this.id);
  }

  /** Whether the producer has said its last word (or never will). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Grants the first credit: the producer may start. */
  start(): void {
    this.#granted = STREAM_INITIAL_CREDIT;
    this.host.sendCredit(this.id, STREAM_INITIAL_CREDIT);
  }

  /**
   * Ties the stream to the call it came from: its signal cancels the stream,
   * and a wait for the next item longer than its timeout fails.
   *
   * @param signal The call's signal.
   * @param timeout The call's timeout in milliseconds; 0 for none.
   */
  bind(signal: AbortSignal | undefined, timeout: number): void {
    if (this.#ended || this.#cancelled) return;
    this.#timeout = timeout > 0 && Number.isFinite(timeout) ? timeout : 0;
    if (signal === undefined) return;
    if (signal.aborted) return this.abort(signal.reason);
    this.#signal = signal;
    this.#onAbort = () => this.abort(signal.reason);
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Receives a batch.
   *
   * @param items The items.
   * @param bytes The size of the frame that carried them.
   * @returns False if they exceed the credit granted: the peer broke the
   *   protocol.
   */
  onItems(items: unknown[], bytes: number): boolean {
    if (this.#received + items.length > this.#granted) return false;
    this.#received += items.length;
    this.#bytes += bytes;
    if (this.#cancelled || items.length === 0) return true;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#settleWait();
      this.#batches.push(items);
      this.#index = 1;
      this.#taken++;
      this.#topUp();
      waiter.resolve({ value: items[0], done: false });
      if (items.length === 1) this.#shift();
      return true;
    }
    this.#batches.push(items);
    return true;
  }

  /**
   * The producer finished: with `error`, or normally when it is null.
   *
   * @param error The producer's error, or null.
   */
  onEnd(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#unbind();
    if (this.#cancelled) return;
    if (error !== null) {
      this.#error = error;
      this.#failed = true;
    }
    this.#wakeEnded();
  }

  /**
   * The connection closed: items received are still handed out, then
   * `error`.
   *
   * @param error Why the connection closed.
   */
  close(error: Error): void {
    if (this.#ended) return;
    this.onEnd(error);
  }

  /** Takes the next item, waiting for it if none is buffered. */
  next(): Promise<IteratorResult<unknown>> {
    const batches = this.#batches;
    if (batches.length > 0) {
      const batch = batches[0];
      const value = batch[this.#index++];
      if (this.#index === batch.length) this.#shift();
      this.#taken++;
      this.#topUp();
      return Promise.resolve({ value, done: false });
    }
    if (this.#failed) {
      this.#failed = false;
      const error = this.#error;
      this.#error = undefined;
      return withCallerStack(Promise.reject(error)) as Promise<never>;
    }
    if (this.#ended || this.#cancelled) return Promise.resolve(DONE);
    if (this.#waiter !== null) {
      return Promise.reject(
        new TypeError(
          "Cannot read the stream: another read of it is still waiting (read one item at a time)",
        ),
      );
    }
    // Its failure gets the stack of the code that awaits it.
    return withCallerStack(
      new Promise((resolve, reject) => {
        this.#waiter = { resolve, reject };
        if (this.#timeout > 0) {
          const timeout = this.#timeout;
          this.#timer = setTimeout(
            () =>
              this.abort(
                new TimeoutError(
                  `Stream from ${this.host.label} sent no item within ${timeout} ms`,
                ),
              ),
            timeout,
          );
        }
      }),
    ) as Promise<IteratorResult<unknown>>;
  }

  /**
   * Stops consuming: the producer is told to stop, and items buffered or
   * still arriving are dropped.
   */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#batches = [];
    this.#index = 0;
    this.#unbind();
    if (!this.#ended) this.host.sendCancel(this.id);
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#settleWait();
      waiter.resolve(DONE);
    }
  }

  /**
   * Cancels, and fails the read waiting (or the next one) with `reason`.
   *
   * @param reason An abort signal's reason or a timeout.
   */
  abort(reason: unknown): void {
    if (this.#cancelled || this.#ended) return;
    const waiter = this.#waiter;
    this.#settleWait();
    this.cancel();
    if (waiter !== null) waiter.reject(reason);
    else {
      this.#error = reason;
      this.#failed = true;
    }
  }

  #shift(): void {
    this.#batches.shift();
    this.#index = 0;
  }

  #settleWait(): void {
    this.#waiter = null;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #wakeEnded(): void {
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#settleWait();
    if (this.#failed) {
      this.#failed = false;
      waiter.reject(this.#error);
      this.#error = undefined;
    } else {
      waiter.resolve(DONE);
    }
  }

  #unbind(): void {
    if (this.#onAbort !== undefined) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
      this.#onAbort = undefined;
      this.#signal = undefined;
    }
  }

  /** Grants more once what is granted and not taken is down to half a window. */
  #topUp(): void {
    if (this.#ended || this.#cancelled) return;
    const outstanding = this.#granted - this.#taken;
    const window = this.#received === 0 ? STREAM_INITIAL_CREDIT : Math.max(
      1,
      Math.min(
        STREAM_WINDOW_ITEMS,
        Math.floor(STREAM_WINDOW_BYTES * this.#received / this.#bytes),
      ),
    );
    if (outstanding > window >> 1) return;
    this.#granted += window - outstanding;
    this.host.sendCredit(this.id, window - outstanding);
  }
}

/**
 * What the user holds of a stream the peer produces: an async iterator,
 * for `for await`. Leaving the loop early (or `return()`, or disposing it)
 * stops the producer; when it is garbage-collected unfinished, so does it.
 */
export class RemoteStream<T = unknown> implements AsyncIterableIterator<T> {
  readonly #consumer: StreamConsumer;

  /** @param consumer The stream's state, kept by the connection. */
  constructor(consumer: StreamConsumer) {
    this.#consumer = consumer;
  }

  /** The next item. */
  next(): Promise<IteratorResult<T>> {
    return this.#consumer.next() as Promise<IteratorResult<T>>;
  }

  /** Stops the stream: the producer's `return()` runs. */
  return(): Promise<IteratorResult<T>> {
    this.#consumer.cancel();
    return Promise.resolve(DONE as IteratorResult<T>);
  }

  /** Stops the stream and rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.#consumer.cancel();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#consumer.cancel();
    return Promise.resolve();
  }

  [Symbol.for("Deno.customInspect")](): string {
    return `RemoteStream(#${this.#consumer.id} from ${this.#consumer.host.label}${
      this.#consumer.ended ? ", ended" : ""
    })`;
  }
}

/**
 * A `ReadableStream` reading a stream the peer produces.
 *
 * @param consumer The stream's state.
 * @returns The readable stream.
 */
export function readableOf(consumer: StreamConsumer): ReadableStream<unknown> {
  return new ReadableStream({
    async pull(controller) {
      const result = await consumer.next();
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel() {
      consumer.cancel();
    },
  }, { highWaterMark: 0 });
}
