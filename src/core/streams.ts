/**
 * The streams of one connection: those this side produces (async iterables,
 * sync iterators and `ReadableStream`s it sent) and those it consumes (sent
 * by the peer), their ids, their limit, and the STREAM_* messages between
 * them. The credit rule: a producer sends at most as many items as its
 * consumer granted; a consumer refuses, as a protocol error, any more.
 *
 * @module
 */

import { Kind, StreamKind } from "../protocol/constants.ts";
import { encodeValue, WireStream } from "../protocol/codec.ts";
import type { OutgoingFrame } from "../protocol/frame.ts";
import { ProtocolError } from "../errors.ts";
import type { Connection } from "./types.ts";
import type { MessageEncoder } from "./outbound.ts";
import type { FrameWriter } from "./writer.ts";
import { type Producer, StreamProducer } from "./stream_producer.ts";
import { drainInto, WritableProducer } from "./stream_writable.ts";
import { readableOf, RemoteStream, StreamConsumer } from "./stream_consumer.ts";

/** Whether a message field is a stream id. */
function isStreamId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/** The session's parts the stream table uses. */
export interface StreamTableOptions {
  /** Describes the peer in messages. */
  label: string;
  /** The connection the producers' `currentCall()` names. */
  handle: Connection;
  /** True on the accepting side, whose stream ids are even. */
  acceptor: boolean;
  /** maxStreams: most open streams each way. */
  maxStreams: number;
  encoder: MessageEncoder;
  writer: FrameWriter;
  /** Told when the table stops or starts being empty. */
  onBusy: (busy: boolean) => void;
}

/** The streams of one connection. */
export class StreamTable {
  readonly #options: StreamTableOptions;
  readonly #producers = new Map<number, Producer>();
  readonly #consumers = new Map<number, StreamConsumer>();
  /** Streams this side numbered, still open: it refuses to open more. */
  #opened = 0;
  /** Streams the peer numbered, still open: it refuses to accept more. */
  #accepted = 0;
  #nextId: number;
  /** Ids opened by the message being lowered, until it is sent. */
  #pending: number[] = [];
  /** Consumers made while decoding the current frame, to bind to a call. */
  imported: StreamConsumer[] = [];
  /** Local ends the user dropped unfinished: they stop. */
  readonly #collected = new FinalizationRegistry<
    StreamConsumer | WritableProducer
  >((end) => end instanceof StreamConsumer ? end.cancel() : end.abandon());
  #closed = false;

  constructor(options: StreamTableOptions) {
    this.#options = options;
    this.#nextId = options.acceptor ? 2 : 1;
  }

  /** Streams open either way. */
  get size(): number {
    return this.#producers.size + this.#consumers.size;
  }

  /** Starts lowering a message. */
  begin(): void {
    this.#pending.length = 0;
  }

  /**
   * Opens a stream of `value` to send: called while lowering a message.
   *
   * @param value An async iterable, sync iterator or `ReadableStream`.
   * @returns Its marker.
   * @throws {RangeError} When maxStreams streams sent are open.
   */
  open(value: object): WireStream {
    const max = this.#options.maxStreams;
    if (this.#opened >= max) {
      throw new RangeError(
        `Cannot send a stream: ${this.#opened} streams sent to ${this.#options.label} are open, the most maxStreams (${max}) allows; finish or cancel one first`,
      );
    }
    const id = this.#nextId;
    this.#nextId += 2;
    this.#opened++;
    this.#pending.push(id);
    if (
      typeof WritableStream === "function" && value instanceof WritableStream
    ) {
      return this.#openWritable(id, value);
    }
    const kind = typeof ReadableStream === "function" &&
        value instanceof ReadableStream
      ? StreamKind.READABLE
      : StreamKind.ITERABLE;
    this.#add(
      this.#producers,
      id,
      new StreamProducer(id, value, this, {
        controller: null,
        cancelled: false,
        connection: this.#options.handle,
      }),
    );
    return new WireStream(id, kind);
  }

  /**
   * A `WritableStream` sent: this side consumes what the peer writes, from
   * once the message carrying it has been queued.
   */
  #openWritable(id: number, target: WritableStream<unknown>): WireStream {
    const consumer = new StreamConsumer(id, this);
    this.#add(this.#consumers, id, consumer);
    queueMicrotask(() => {
      // Gone if the message failed to encode.
      if (this.#consumers.get(id) !== consumer) return;
      consumer.start();
      drainInto(consumer, target);
    });
    return new WireStream(id, StreamKind.WRITABLE);
  }

  /** Forgets the streams the failed message opened: they never started. */
  abort(): void {
    for (const id of this.#pending) {
      if (this.#producers.delete(id) || this.#consumers.delete(id)) {
        this.#changed(-1);
      }
      this.#opened--;
    }
    this.#pending.length = 0;
  }

  /**
   * A stream the peer opened: its local end, which grants the first credit.
   *
   * @param id The peer's stream id.
   * @param kind Its `StreamKind`.
   * @returns A `RemoteStream`, or a `ReadableStream` for a READABLE.
   * @throws {ProtocolError} For an id the peer may not use.
   */
  importStream(id: number, kind: number): unknown {
    if ((id % 2 === 0) !== !this.#options.acceptor) {
      throw new ProtocolError(
        `Cannot open stream #${id} from ${this.#options.label}: its ids are ${
          this.#options.acceptor ? "odd" : "even"
        }`,
      );
    }
    if (this.#consumers.has(id) || this.#producers.has(id)) {
      throw new ProtocolError(
        `Cannot open stream #${id} from ${this.#options.label}: it is open already`,
      );
    }
    const refusal = this.#accepted >= this.#options.maxStreams || this.#closed
      ? new RangeError(
        `Cannot receive a stream from ${this.#options.label}: ${this.#accepted} streams it sent are open, the most maxStreams (${this.#options.maxStreams}) allows`,
      )
      : null;
    if (kind === StreamKind.WRITABLE) return this.#importWritable(id, refusal);
    const consumer = new StreamConsumer(id, this);
    if (refusal !== null) {
      // Refused: the producer is told to stop, and the reader learns why.
      this.sendCancel(id);
      consumer.onEnd(refusal);
    } else {
      this.#accepted++;
      this.#add(this.#consumers, id, consumer);
      consumer.start();
      this.imported.push(consumer);
    }
    const local = kind === StreamKind.READABLE
      ? readableOf(consumer)
      : new RemoteStream(consumer);
    this.#collected.register(local, consumer);
    return local;
  }

  /** A `WritableStream` the peer sent: this side produces its chunks. */
  #importWritable(id: number, refusal: RangeError | null): unknown {
    if (refusal !== null) {
      // The peer consumes: it learns why from the stream's end.
      this.sendEnd(id, refusal);
      return new WritableStream({
        start(controller) {
          controller.error(refusal);
        },
      });
    }
    const producer = new WritableProducer(id, this);
    this.#accepted++;
    this.#add(this.#producers, id, producer);
    const stream = producer.makeStream();
    this.#collected.register(stream, producer);
    return stream;
  }

  /** `[STREAM_CREDIT, id, items]` */
  onCredit(message: unknown[]): void {
    const [, id, items] = message;
    if (
      message.length !== 3 || !isStreamId(id) || !isStreamId(items)
    ) {
      throw new ProtocolError(
        "Cannot handle STREAM_CREDIT: expected [STREAM_CREDIT, id, items > 0]",
      );
    }
    // Unknown: it ended meanwhile.
    this.#producers.get(id)?.grant(items);
  }

  /** `[STREAM_ITEMS, id, [item, ...]]` */
  onItems(message: unknown[], bytes: number): void {
    const [, id, items] = message;
    if (message.length !== 3 || !isStreamId(id) || !Array.isArray(items)) {
      throw new ProtocolError(
        "Cannot handle STREAM_ITEMS: expected [STREAM_ITEMS, id, [item, ...]]",
      );
    }
    const consumer = this.#consumers.get(id);
    if (consumer === undefined || !consumer.onItems(items, bytes)) {
      throw new ProtocolError(
        `${this.#options.label} sent ${items.length} items on stream #${id} beyond the credit it was granted`,
      );
    }
  }

  /** `[STREAM_END, id, error]` */
  onEnd(message: unknown[]): void {
    const [, id, error] = message;
    if (
      message.length !== 3 || !isStreamId(id) ||
      (error !== null && !(error instanceof Error))
    ) {
      throw new ProtocolError(
        "Cannot handle STREAM_END: expected [STREAM_END, id, error or nil]",
      );
    }
    const consumer = this.#consumers.get(id);
    // Unknown: a stream this side refused.
    if (consumer === undefined) return;
    this.#remove(this.#consumers, id);
    consumer.onEnd(error);
  }

  /** `[STREAM_CANCEL, id]` */
  onCancel(message: unknown[]): void {
    const [, id] = message;
    if (message.length !== 2 || !isStreamId(id)) {
      throw new ProtocolError(
        "Cannot handle STREAM_CANCEL: expected [STREAM_CANCEL, id]",
      );
    }
    this.#producers.get(id)?.cancel(
      new DOMException(
        `The stream was cancelled by ${this.#options.label}`,
        "AbortError",
      ),
      true,
    );
  }

  /** The connection closed: every producer stops, every consumer fails. */
  close(error: Error): void {
    this.#closed = true;
    const producers = [...this.#producers.values()];
    const consumers = [...this.#consumers.values()];
    this.#producers.clear();
    this.#consumers.clear();
    this.#opened = this.#accepted = 0;
    if (producers.length + consumers.length > 0) this.#options.onBusy(false);
    for (const producer of producers) producer.cancel(error, false);
    for (const consumer of consumers) consumer.close(error);
  }

  // ------------------------------------------------ what the ends call

  get label(): string {
    return this.#options.label;
  }

  get congested(): boolean {
    return this.#options.writer.congested;
  }

  drained(): Promise<void> {
    return this.#options.writer.drained();
  }

  sendItems(id: number, items: unknown[]): void {
    const encoder = this.#options.encoder;
    let frame: OutgoingFrame;
    encoder.begin();
    try {
      frame = encoder.finish([
        Kind.STREAM_ITEMS,
        id,
        encoder.lowerValue(items, "stream item"),
      ]);
    } catch (error) {
      encoder.abort();
      // Too large for one frame: in two halves.
      if (error instanceof RangeError && items.length > 1) {
        const half = items.length >> 1;
        this.sendItems(id, items.slice(0, half));
        return this.sendItems(id, items.slice(half));
      }
      throw error;
    }
    this.#options.writer.enqueue(frame);
  }

  sendEnd(id: number, error: unknown): void {
    if (this.#closed) return;
    const encoder = this.#options.encoder;
    let frame: OutgoingFrame;
    encoder.begin();
    try {
      frame = encoder.finish([
        Kind.STREAM_END,
        id,
        error === null ? null : encoder.lowerError(error),
      ]);
    } catch (encodeError) {
      encoder.abort();
      frame = encodeValue([
        Kind.STREAM_END,
        id,
        encoder.lowerError(
          new Error(
            `The stream failed, and its error could not be sent: ${
              String(encodeError)
            }`,
          ),
        ),
      ]);
    }
    this.#options.writer.enqueue(frame);
  }

  ended(producer: Producer): void {
    if (this.#producers.get(producer.id) === producer) {
      this.#remove(this.#producers, producer.id);
    }
  }

  sendCredit(id: number, items: number): void {
    if (this.#closed) return;
    this.#options.writer.enqueue(encodeValue([Kind.STREAM_CREDIT, id, items]));
  }

  sendCancel(id: number): void {
    if (this.#closed) return;
    this.#options.writer.enqueue(encodeValue([Kind.STREAM_CANCEL, id]));
  }

  // ------------------------------------------------------------ counting

  #add<V>(map: Map<number, V>, id: number, value: V): void {
    map.set(id, value);
    this.#changed(1);
  }

  #remove<V>(map: Map<number, V>, id: number): void {
    if (!map.delete(id)) return;
    if ((id % 2 === 0) === this.#options.acceptor) this.#opened--;
    else this.#accepted--;
    this.#changed(-1);
  }

  #changed(delta: 1 | -1): void {
    const size = this.size;
    if (delta === 1 && size === 1) this.#options.onBusy(true);
    if (delta === -1 && size === 0) this.#options.onBusy(false);
  }
}
