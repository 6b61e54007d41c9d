/**
 * `WritableStream`s across the connection. The side that sends one consumes:
 * chunks written at the other end arrive as stream items and are written to
 * it, and credit is granted as its writes complete. The side that receives
 * one gets a `WritableStream` whose writes wait for that credit, batched as
 * a producer's items are.
 *
 * @module
 */

import type { Producer, ProducerHost } from "./stream_producer.ts";
import type { StreamConsumer } from "./stream_consumer.ts";

/** A batch is sent once its chunks reach this many bytes or items. */
const MAX_BATCH_BYTES = 1024 * 1024;
const MAX_BATCH_ITEMS = 4096;

/**
 * The producing end of a `WritableStream` the peer sent: the stream handed
 * to the user, whose chunks go out within the credit.
 */
export class WritableProducer implements Producer {
  #credit = 0;
  #batch: unknown[] = [];
  #batchBytes = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #wake: (() => void) | null = null;
  #ended = false;
  /** Set from a close until the consumer answers that its sink closed. */
  #closing: { resolve(): void; reject(error: unknown): void } | null = null;
  /**
   * Weak: the table holds this producer, and must not keep the stream from
   * being collected.
   */
  #controller: WeakRef<WritableStreamDefaultController> | null = null;

  /**
   * @param id The stream id.
   * @param host The connection.
   */
  constructor(readonly id: number, readonly host: ProducerHost) {}

  /**
   * Makes the stream the user writes to (once).
   *
   * @returns It.
   */
  makeStream(): WritableStream<unknown> {
    return new WritableStream({
      start: (controller) => {
        this.#controller = new WeakRef(controller);
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#close(null),
      abort: (reason) =>
        this.#close(
          reason instanceof Error ? reason : new Error(String(reason)),
        ),
    }, { highWaterMark: 1 });
  }

  /** The stream was collected unclosed: the consumer's end fails. */
  abandon(): void {
    this.#close(
      new Error(
        "The WritableStream was garbage-collected before it was closed",
      ),
    );
  }

  /** The consumer granted `items` more (a checked positive integer). */
  grant(items: number): void {
    if (this.#ended) return;
    this.#credit += items;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /**
   * The consumer stopped (or the connection closed): writes fail with
   * `reason` from now on.
   */
  cancel(reason: Error, notify: boolean): void {
    const closing = this.#closing;
    if (closing !== null) {
      // The consumer's answer to our END: its sink is closed (or, with
      // notify false, the connection closed first).
      this.#closing = null;
      this.host.ended(this);
      if (notify) closing.resolve();
      else closing.reject(reason);
      return;
    }
    if (this.#ended) return;
    this.#controller?.deref()?.error(reason);
    this.#finish(null, notify);
  }

  async #write(chunk: unknown): Promise<void> {
    while (this.#credit === 0 || this.host.congested) {
      if (this.#ended) return;
      this.#flush();
      if (this.#credit === 0) {
        await new Promise<void>((resolve) => this.#wake = resolve);
      } else {
        await this.host.drained();
      }
    }
    if (this.#ended) return;
    this.#credit--;
    this.#batch.push(chunk);
    if (chunk instanceof Uint8Array) this.#batchBytes += chunk.byteLength;
    if (
      this.#credit === 0 || this.#batchBytes >= MAX_BATCH_BYTES ||
      this.#batch.length >= MAX_BATCH_ITEMS
    ) {
      this.#flush();
    } else if (this.#flushTimer === undefined) {
      // More writes may follow at once: they leave together.
      this.#flushTimer = setTimeout(() => this.#flush(), 0);
    }
  }

  /**
   * A close resolves once the consumer has closed its sink (it answers the
   * END with a CANCEL); an abort at once.
   */
  #close(error: Error | null): Promise<void> | undefined {
    if (this.#ended) return;
    if (error !== null) {
      this.#finish(error, true);
      return;
    }
    this.#flush();
    if (this.#ended) return; // The flush failed: the stream errored.
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#closing = { resolve, reject };
    this.#finish(null, true, false);
    return promise;
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#batch.length === 0 || this.#ended) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    try {
      this.host.sendItems(this.id, batch);
    } catch (error) {
      // A chunk that cannot travel fails the stream, at both ends.
      const reason = error instanceof Error ? error : new Error(String(error));
      this.#controller?.deref()?.error(reason);
      this.#finish(reason, true);
    }
  }

  #finish(error: Error | null, notify: boolean, forget = true): void {
    this.#ended = true;
    clearTimeout(this.#flushTimer);
    this.#batch = [];
    if (notify) this.host.sendEnd(this.id, error);
    if (forget) this.host.ended(this);
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * Writes what the peer writes into a `WritableStream` this side sent: each
 * item taken from the consumer (which grants credit as they are taken) is
 * written, and awaited, before the next is taken, so the stream's own
 * backpressure reaches the peer. The peer's close closes it, the peer's
 * error aborts it, and a failed write cancels the peer's end.
 *
 * @param consumer The stream's consuming end.
 * @param target The `WritableStream` sent.
 */
export async function drainInto(
  consumer: StreamConsumer,
  target: WritableStream<unknown>,
): Promise<void> {
  let writer: WritableStreamDefaultWriter<unknown>;
  try {
    writer = target.getWriter();
  } catch {
    // Locked by someone else: nothing can be written to it.
    consumer.cancel();
    return;
  }
  for (;;) {
    let step: IteratorResult<unknown>;
    try {
      step = await consumer.next();
    } catch (error) {
      await writer.abort(error).catch(() => {});
      return;
    }
    try {
      if (step.done) {
        if (!consumer.cancelled) {
          await writer.close();
          // The writer's close() waits for this.
          consumer.acknowledge();
        }
        return;
      }
      await writer.write(step.value);
    } catch {
      // The sink failed: the writer's stream errors with a cancel.
      // After the producer's END, its close() waits for the answer instead.
      if (consumer.ended) consumer.acknowledge();
      else consumer.cancel();
      writer.releaseLock();
      return;
    }
  }
}
