/**
 * One connection's engine: its parts wired together, its life from the
 * handshake to closing, and this side's calls to the peer (their table,
 * timeouts and cancellation). The hellos are `opening.ts`'s; the peer's
 * frames are read, decoded and routed by `inbound.ts`, its requests served
 * by `dispatch.ts`; writing, releases and pings have a module each.
 *
 * @module
 */

import { type LogEvent, logEvent } from "../log.ts";
import { withTimeout } from "../timing.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import { Kind, Op } from "../protocol/constants.ts";
import { encodeBareRequest } from "../protocol/bare.ts";
import { encodeValue } from "../protocol/codec.ts";
import type { BlobFrame, OutgoingFrame } from "../protocol/frame.ts";
import type { ByteStream } from "../transport/types.ts";
import {
  ConnectionClosedError,
  errorMessage,
  TimeoutError,
} from "../errors.ts";
import { callOnClose, closedError, exportsFull } from "./closing.ts";
import { Dispatcher } from "./dispatch.ts";
import { Inbound, type InboundHost } from "./inbound.ts";
import { Opening } from "./opening.ts";
import { makeRefProxy } from "./proxy.ts";
import type { PendingResult } from "./proxy_state.ts";
import { ExportTable, ImportTable } from "./refs.ts";
import { ReleaseBatch } from "./releases.ts";
import { Pings, watchIdle } from "./liveness.ts";
import { ConnectionHandle } from "./handle.ts";
import { MessageEncoder } from "./outbound.ts";
import { StreamTable } from "./streams.ts";
import { FrameWriter } from "./writer.ts";
import {
  CallTable,
  describeTarget,
  PendingCall,
  settledCall,
} from "./pending_call.ts";
import type {
  CallOptions,
  Connection,
  ConnectionStats,
  PeerInfo,
  SessionOptions,
} from "./types.ts";
import type { CallPeer, TraceContext } from "./intercept.ts";
import {
  interceptOutgoing,
  peerOf,
  TRACE_CONTEXT,
  traceField,
} from "./intercepted.ts";

/**
 * The engine of one connection. Internal: users hold the
 * {@linkcode Connection} it exposes as `handle`.
 */
export class Session implements InboundHost {
  /** The public face of this session. */
  readonly handle: Connection;
  readonly label: string;
  readonly #stream: ByteStream;
  readonly #options: SessionOptions;
  readonly #exports: ExportTable;
  readonly #encoder: MessageEncoder;
  readonly #imports: ImportTable;
  readonly #calls: CallTable = new CallTable(
    (call, reason) => this.#abandon(call, reason),
    (call) =>
      new TimeoutError(
        `Call to ${call.label} on ${this.label} timed out after ${call.timeout} ms`,
      ),
  );
  readonly #dispatcher: Dispatcher;
  readonly #inbound: Inbound;
  readonly #writer: FrameWriter;
  readonly #releases: ReleaseBatch;
  readonly #pings: Pings;
  readonly #streams: StreamTable;
  #idleTimer: ReturnType<typeof setInterval> | undefined = undefined;
  #nextId = 1;

  /** Whether the peer reads a trace context in requests. */
  #peerTraces = false;
  #callPeer: CallPeer | null = null;
  readonly #opening: Opening;
  readonly #rootProxy: object;

  #closed = false;
  readonly #closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  /** Whether the handshake is done. */
  #established = false;
  /** Whether the stream keeps the process alive (see #keepAlive). */
  #referenced = true;

  /**
   * Starts the session: sends the hello and reads the peer's.
   *
   * @param stream The connected byte stream; the session owns it.
   * @param options Behaviour (see {@linkcode SessionOptions}).
   */
  constructor(stream: ByteStream, options: SessionOptions) {
    this.#stream = stream;
    this.#options = options;
    this.#writer = new FrameWriter(stream, (error) => {
      if (!this.#closed) {
        this.close(
          new ConnectionClosedError(
            `Cannot write to ${this.label}: ${errorMessage(error)}`,
            { cause: error },
          ),
          false,
        );
      }
    });
    this.label = options.label;
    this.#exports = new ExportTable(
      options.maxExports,
      exportsFull(this.label, options.maxExports, (error) => this.#fail(error)),
    );
    this.#encoder = new MessageEncoder(
      this.#exports,
      this,
      options.includeStack,
    );
    this.#releases = new ReleaseBatch(this.#writer);
    this.#pings = new Pings(this.#writer, this.label, () => this.#keepAlive());
    this.#imports = new ImportTable((id, count) =>
      this.#releases.ref(id, count)
    );
    this.#dispatcher = new Dispatcher(this, {
      root: options.root,
      maxInFlight: options.maxInFlight,
      exports: this.#exports,
      encoder: this.#encoder,
      writer: this.#writer,
      intercept: options.intercept,
    });
    this.#rootProxy = makeRefProxy(this, 0, null, false);
    this.#closedPromise = new Promise((resolve) =>
      this.#resolveClosed = resolve
    );
    this.handle = new ConnectionHandle(this);
    this.#streams = new StreamTable({
      label: this.label,
      handle: this.handle,
      acceptor: options.acceptor,
      maxStreams: options.maxStreams,
      encoder: this.#encoder,
      writer: this.#writer,
      onBusy: () => this.#keepAlive(),
    });
    this.#encoder.streams = this.#streams;
    this.#inbound = new Inbound(this, {
      stream,
      maxFrameBytes: options.maxFrameBytes,
      frameTimeout: options.frameTimeout,
      fail: (error) => this.#fail(error),
      root: options.root,
      dispatcher: this.#dispatcher,
      streams: this.#streams,
      imports: this.#imports,
      exports: this.#exports,
      writer: this.#writer,
      pings: this.#pings,
    });
    if (!options.acceptor && stream.unref !== undefined) {
      // A client's socket says whether the process stays (#keepAlive), so
      // timers that outlive their call or frame do not.
      this.#exports.onOccupied = () => this.#keepAlive();
      this.#calls.unrefTimer = true;
      this.#inbound.unrefTimers();
    }
    this.#opening = new Opening(options, {
      writer: this.#writer,
      encoder: this.#encoder,
      fail: (error) => this.#fail(error),
    });
    this.#readLoop();
  }

  get root(): object {
    return this.#rootProxy;
  }

  /** Resolves once the handshake is done; rejects if it failed. */
  get ready(): Promise<void> {
    return this.#opening.ready;
  }

  get peer(): PeerInfo {
    return this.#opening.peer ??
      { implementation: "unknown", maxFrameBytes: DEFAULT_MAX_FRAME_BYTES };
  }

  get remoteAddr(): Deno.Addr | null {
    return this.#stream.remoteAddr ?? null;
  }

  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get stats(): ConnectionStats {
    return {
      exports: this.#exports.size,
      imports: this.#imports.size,
      pendingCalls: this.#calls.size,
      inFlight: this.#dispatcher.inFlight,
      held: this.#dispatcher.held,
      streams: this.#streams.size,
    };
  }

  /** Resolves once every incoming call has settled (or the session closed). */
  idle(): Promise<void> {
    return this.#dispatcher.idle();
  }

  // ------------------------------------------- the handshake, then frames

  async #readLoop(): Promise<void> {
    try {
      const { hello, rest } = await this.#inbound.hello();
      this.#opening.received(hello);
      this.#peerTraces = hello.features.includes(TRACE_CONTEXT);
      if (this.#options.onReady !== undefined) {
        await this.#options.onReady(this.handle);
      }
      if (this.#closed) return;
      // An acceptor answers only now: its hello means "accepted".
      this.#opening.sendHello(null);
      this.#established = true;
      this.#keepAlive();
      this.#opening.done(this.handle);
      if (this.#options.idleTimeout > 0) this.#watchIdle();
      if (!(await this.#inbound.read(rest))) return;
      this.close(
        new ConnectionClosedError(`${this.label} closed the connection`),
        false,
      );
    } catch (error) {
      if (this.#closed) return; // Reads fail once the stream is closed.
      this.#fail(error);
    }
  }

  #watchIdle(): void {
    this.#idleTimer = watchIdle(this.#options.idleTimeout, {
      label: this.label,
      // A client's idle watch alone does not keep the process alive.
      unref: !this.#options.acceptor,
      framesReceived: () => this.#inbound.framesReceived,
      busy: () =>
        this.#calls.size > 0 || this.#dispatcher.inFlight > 0 ||
        this.#streams.size > 0,
    }, (error) => this.#fail(error));
  }

  // ------------------------------------------------------ calling the peer

  request(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
  ): PendingResult {
    const intercept = this.#options.intercept;
    if (intercept === null) {
      return this.send(target, op, path, payload, options, null);
    }
    return interceptOutgoing(this, intercept, {
      target,
      op,
      path,
      payload,
      options,
    });
  }

  /** Who the peer is, for interceptors; made once, when first asked for. */
  get callPeer(): CallPeer {
    return this.#callPeer ??= peerOf(
      this.#stream,
      this.peer.implementation,
      this.#opening.peerToken,
    );
  }

  /** The service this side announced, for interceptors. */
  get serviceName(): string {
    return this.#options.serviceName ?? "";
  }

  /**
   * Sends a request, past the interceptors: what `request` does without
   * them, and what their chain ends in.
   *
   * @param trace A trace context to send, where the peer reads one.
   */
  send(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
    trace: TraceContext | null,
  ): PendingCall {
    if (this.#closed) {
      return settledCall(
        target,
        path,
        new ConnectionClosedError(
          `Cannot call ${
            describeTarget(target, path)
          }: the connection is closed`,
        ),
        this,
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return settledCall(target, path, signal.reason, this);
    const id = this.#nextId++;
    const call = new PendingCall(id, target, path);
    let bytes: OutgoingFrame | null = null;
    const encoder = this.#encoder;
    // A call with no arguments, or a read, has nothing to lower: its bytes
    // are written directly when its path is simple.
    if (
      (trace === null || !this.#peerTraces) &&
      (op === Op.GET
        ? payload === null
        : op === Op.CALL && Array.isArray(payload) && payload.length === 0)
    ) {
      if (
        encodeBareRequest(id, target, op, path, call) &&
        call.end - call.start <= encoder.peerMaxFrame
      ) {
        bytes = call;
      }
    }
    if (bytes === null) {
      encoder.begin();
      try {
        const message = [
          Kind.REQUEST,
          id,
          target,
          op,
          path,
          op === Op.CALL
            ? encoder.lowerArgs(payload as unknown[])
            : encoder.lowerValue(payload, "value"),
          false,
        ];
        // The trace goes before the hold flag, which stays the last byte.
        if (trace !== null && this.#peerTraces) {
          message.splice(6, 0, traceField(trace));
        }
        bytes = encoder.finish(message);
      } catch (error) {
        encoder.abort();
        return settledCall(target, path, error, this);
      }
    }
    this.#calls.add(call, options?.timeout ?? this.#options.timeout, signal);
    if (this.#calls.size === 1) this.#keepAlive();
    // The hold flag is the last byte of the msgpack value, which ends a blob
    // frame's head as it ends a plain payload.
    if (bytes === call) {
      call.payload = call.bytes;
    } else {
      const head = bytes instanceof Uint8Array
        ? bytes
        : (bytes as BlobFrame).head;
      call.payload = head;
      call.end = head.length;
    }
    this.#writer.enqueue(bytes, call);
    return call;
  }

  /** Gives up on a call (timeout or abort) and tells the peer to cancel it. */
  #abandon(call: PendingCall, reason: unknown): void {
    if (call.settled) return;
    this.#settle(call);
    call.fail(reason, this);
    if (!this.#closed) {
      this.#writer.enqueue(encodeValue([Kind.CANCEL, call.id]));
    }
  }

  #settle(call: PendingCall): void {
    this.#calls.remove(call);
    if (this.#calls.size === 0) this.#keepAlive();
    if (call.held) {
      this.#releases.held(call.id);
    }
  }

  onAnswer(message: unknown[]): void {
    const call = this.#calls.get(message[1] as number);
    if (call === undefined) return; // Timed out or cancelled meanwhile.
    this.#settle(call);
    if (message[0] === Kind.RESPONSE) {
      // Streams in the result are bound to the call's signal and timeout.
      const imported = this.#streams.imported;
      for (const stream of imported) stream.bind(call.signal, call.timeout);
      call.deliver(message[2], this);
    } else call.fail(message[2], this);
  }

  /** Reports what the peer or a call nobody awaited did wrong. */
  log(event: LogEvent): void {
    this.#options.log(event);
  }

  release(proxy: object): void {
    this.#imports.release(proxy);
  }

  forwarding(proxy: object, delta: 1 | -1): void {
    this.#imports.forwarding(proxy, delta);
  }

  /**
   * Sends a PING and resolves with the round-trip time in milliseconds.
   *
   * @param options Timeout and signal.
   */
  ping(options?: CallOptions): Promise<number> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionClosedError("Cannot ping: the connection is closed"),
      );
    }
    return this.#pings.ping(
      this.#nextId++,
      options?.timeout ?? this.#options.timeout,
    );
  }

  /**
   * A client's socket keeps the process alive only while this side waits
   * for the peer (a call or ping pending, the handshake) or serves it (the
   * peer holds objects of ours, or this side has a service of its own), as
   * a Python RPyC connection does not keep the interpreter alive. Servers'
   * connections, and streams that cannot be unref'd, are left as they are.
   */
  #keepAlive(): void {
    const stream = this.#stream;
    if (
      this.#options.acceptor || stream.unref === undefined || this.#closed
    ) {
      return;
    }
    const wanted = !this.#established || this.#calls.size > 0 ||
      this.#exports.size > 0 || this.#pings.pending > 0 ||
      this.#streams.size > 0 ||
      this.#options.root !== null;
    if (wanted === this.#referenced) return;
    this.#referenced = wanted;
    try {
      if (wanted) stream.ref?.();
      else stream.unref();
    } catch {
      // Closed meanwhile: it keeps nothing alive any more.
    }
  }

  // -------------------------------------------------------------- closing

  /** Reports a peer's misbehaviour or a transport failure, then closes. */
  #fail(error: unknown): void {
    if (this.#closed) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    // A client's failed handshake is connect()'s rejection: not logged too.
    const connecting = !this.#options.acceptor && !this.#established;
    if (!(reason instanceof ConnectionClosedError) && !connecting) {
      this.#options.log(logEvent(
        "warn",
        "connection.closed",
        `closing connection to ${this.label}: ${reason.message}`,
        { peer: this.label, reason: reason.message, error: reason },
      ));
    }
    this.close(reason, true);
  }

  /**
   * Closes the session: fails every pending call, drops every reference,
   * optionally tells the peer why, and closes the stream.
   *
   * @param reason Why, or null for a normal close.
   * @param notifyPeer Whether to send CLOSE first.
   */
  async close(reason: Error | null, notifyPeer: boolean): Promise<void> {
    if (this.#closed) return this.#closedPromise;
    this.#closed = true;
    this.#releases.stop();
    this.#calls.stop();
    clearInterval(this.#idleTimer);
    this.#inbound.stop();
    const error = closedError(this.label, reason);
    this.#opening.close(reason ?? error);
    for (const call of this.#calls.values()) {
      this.#settle(call);
      call.fail(error, this);
    }
    this.#pings.clear();
    this.#dispatcher.close(error);
    this.#streams.close(error);
    this.#exports.clear();
    this.#imports.clear();
    if (notifyPeer) {
      const why = reason === null ? "closed" : reason.message;
      if (!this.#opening.helloSent && this.#options.acceptor) {
        // Refused before the handshake completed: the reason goes in the hello.
        this.#opening.sendHello(why);
      } else {
        this.#writer.enqueue(encodeValue([Kind.CLOSE, why]));
        this.#writer.flush();
      }
      await this.#writer.drain(1000);
    }
    this.#writer.stop();
    try {
      const closing = this.#stream.close();
      // A closing handshake (WebSocket) gets a moment, not a hang.
      if (closing instanceof Promise) await withTimeout(closing, 1000);
    } catch {
      // Already closed by the peer or the transport: nothing left to release.
    }
    callOnClose(this, this.#options.onClose, reason);
    this.#resolveClosed();
  }
}
