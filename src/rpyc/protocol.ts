/**
 * One RPyC connection, both directions at once, as RPyC's
 * `core/protocol.py`: the requests this side sent (in core's call table,
 * under its one sweep timer) and their answers, the peer's requests served
 * in arrival order, reference counting (RPyC's DEL), and closing.
 *
 * The layers, bottom up, as RPyC lays them out: channel.ts (frames, zlib),
 * brine.ts (values, with py_values.ts), wire.ts (messages), link.ts (the
 * stream), then this file, which boxing.ts, netref.ts (operations on the
 * peer's objects), handlers.ts (serving the peer's requests) and vinegar.ts
 * (exceptions) work for through the one {@linkcode RpycHost}.
 *
 * @module
 */

import { type LogEvent, logEvent } from "../log.ts";
import { IdleWaiters, type IncomingCall } from "../core/context.ts";
import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
  TimeoutError,
} from "../errors.ts";
import { ConnectionHandle } from "../core/handle.ts";
import {
  CallTable,
  describeTarget,
  isThenable,
  PendingCall,
  thenableError,
  watchedResult,
} from "../core/pending_call.ts";
import { awaitResult } from "../core/awaiting.ts";
import { callOnClose, closedError, exportsFull } from "../core/closing.ts";
import { makeRefProxy } from "../core/proxy.ts";
import {
  checkUsable,
  type PendingResult,
  type ProxyHost,
  type ProxyState,
  proxyState,
} from "../core/proxy_state.ts";
import type {
  CallOptions,
  Connection,
  ConnectionStats,
  PeerInfo,
  ResolvedOptions,
} from "../core/types.ts";
import type { ByteStream } from "../transport/types.ts";
import { box, unbox } from "./boxing.ts";
import { Handle, Label, Msg, type WireVersion } from "./constants.ts";
import { answerOf, handleDel, rpycCallOf, serveRequest } from "./handlers.ts";
import { announceOpened, type CallPeer } from "../core/intercept.ts";
import { interceptIncoming, peerOf } from "../core/intercepted.ts";
import { Op } from "../protocol/constants.ts";
import { serviceName } from "../core/exposure.ts";
import { batches, copyArguments } from "./containers.ts";
import { closeIterations } from "./iteration.ts";
import { RpycLink, WireVersionError } from "./link.ts";
import { perform, pythonHosts } from "./netref.ts";
import { type BrineValue, PyTuple } from "./py_values.ts";
import {
  type IdPack,
  PackRef,
  packsIn,
  parsePack,
  RpycExports,
  RpycImports,
} from "./refs.ts";
import { loadException } from "./vinegar.ts";
import type { RpycMessage } from "./wire.ts";

/**
 * How an RPyC session behaves: netref's options (`handshakeTimeout` bounds
 * the wait for the peer's first message when the version is unknown), and
 * what only RPyC has.
 */
export interface RpycSessionOptions extends Omit<ResolvedOptions, "token"> {
  /** The object the peer reaches as its root, or null for none. */
  root: object | null;
  /** The wire version, or null to take it from the peer's first message. */
  version: WireVersion | null;
  /** How the peer is described in messages. */
  label: string;
  /** Runs once the peer's first message arrived, before it is served. */
  onReady?: (conn: Connection) => void | Promise<void>;
  /** Runs once, when the connection is closed. */
  onClose?: (conn: Connection, reason: Error | null) => void | Promise<void>;
  /**
   * A client serving nothing of its own: its socket lets the process exit
   * while no call is pending and the peer holds nothing of this side's.
   */
  unrefWhenIdle?: boolean;
}

/**
 * What boxing, the netref operations and the request handlers use of their
 * connection: the one interface between them and {@linkcode RpycSession}.
 */
export interface RpycHost {
  readonly label: string;
  /** The local root, sent by reference without being counted; or null. */
  readonly localRoot: object | null;
  /** The local objects the peer holds. */
  readonly exports: RpycExports;
  /**
   * The id pack of one of this connection's netrefs, to send it back; or
   * undefined when `value` is no netref of this connection.
   * @throws {TypeError} For a released or still pending netref.
   */
  ownPack(value: object): PyTuple | undefined;
  /** The netref for a peer object, counting one more receipt of it. */
  importRef(pack: IdPack): object;
  /**
   * Sends a request and resolves with its unboxed reply; with `raw`, a
   * reference in the reply comes back as a {@linkcode PackRef}, not a netref.
   */
  call(
    handler: Handle,
    args: unknown[],
    options: CallOptions | undefined,
    raw?: boolean,
  ): Promise<unknown>;
  /** The pack of the peer's root object, asked for once and kept. */
  remoteRoot(options: CallOptions | undefined): Promise<IdPack>;
  /** The pack behind import id `target`. @throws {ReferenceError} If released. */
  packOf(target: number): IdPack;
  /** Gives `count` references to `pack` back to the peer (DEL). */
  sendDel(pack: IdPack, count: number): void;
  /** Reports what went wrong while nobody waited for it. */
  log(event: LogEvent): void;
}

/** A request waiting for its answer. */
class RpycCall extends PendingCall {
  /** Whether a reference in the reply stays a bare pack (no netref). */
  raw = false;
}

/** The engine of one RPyC connection. Users hold its `handle`. */
export class RpycSession implements ProxyHost, RpycHost {
  readonly handle: Connection;
  readonly label: string;
  readonly exports: RpycExports;
  readonly localRoot: object | null;
  readonly closed: Promise<void>;
  readonly #options: RpycSessionOptions;
  readonly #link: RpycLink;
  readonly #calls: CallTable<RpycCall>;
  /** The peer's requests still running. */
  readonly #running = new Set<IncomingCall>();
  readonly #idle = new IdleWaiters();
  readonly #imports: RpycImports;
  readonly #rootProxy: object;
  #nextSeq = 0;
  #rootPack: IdPack | null = null;
  #rootRequest: Promise<IdPack> | null = null;
  #ready: Promise<void> | null = null;
  #closed = false;
  #resolveClosed!: () => void;
  /** Whether the stream keeps the process alive (`unrefWhenIdle`). */
  #referenced = true;
  readonly #stream: ByteStream;
  #callPeer: CallPeer | null = null;
  #serviceName: string | null = null;

  constructor(stream: ByteStream, options: RpycSessionOptions) {
    this.#stream = stream;
    this.#options = options;
    this.label = options.label;
    this.localRoot = options.root;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.handle = new ConnectionHandle(this);
    pythonHosts.add(this);
    this.exports = new RpycExports(
      options.maxExports,
      exportsFull(this.label, options.maxExports, (error) => this.#fail(error)),
    );
    // RPyC has no cancellation: a request given up on is only forgotten,
    // and its late reply dropped (after giving back what it carries).
    this.#calls = new CallTable(
      (call, reason) => {
        this.#calls.remove(call);
        call.reject(reason);
      },
      (call) =>
        new TimeoutError(
          `Call to ${this.label} timed out after ${call.timeout} ms`,
        ),
    );
    this.#imports = new RpycImports((pack, count) => this.sendDel(pack, count));
    this.#rootProxy = makeRefProxy(this, 0, null, false);
    this.#link = new RpycLink(stream, options, {
      onMessage: (message) => this.#onMessage(message),
      onEnd: (reason) => this.#fail(reason),
      isBusy: () => this.#calls.size > 0 || this.#running.size > 0,
    });
    if (options.unrefWhenIdle && stream.unref !== undefined) {
      const keepAlive = () => {
        const wanted = this.#calls.size > 0 || this.exports.size > 0;
        if (wanted === this.#referenced || this.#closed) return;
        this.#referenced = wanted;
        try {
          if (wanted) stream.ref?.();
          else stream.unref?.();
        } catch {
          // Closed meanwhile: it keeps nothing alive any more.
        }
      };
      this.#calls.onBusy = keepAlive;
      this.exports.onOccupied = keepAlive;
      this.#calls.unrefTimer = true;
      this.#link.unrefTimers();
    }
  }

  /** The peer's root, as a netref. */
  get root(): object {
    return this.#rootProxy;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** `rpyc/5` or `rpyc/6` once known; RPyC frames may be up to 4 GiB. */
  get peer(): PeerInfo {
    const version = this.version;
    return {
      implementation: version === null ? "rpyc" : `rpyc/${version}`,
      maxFrameBytes: 0xffffffff,
    };
  }

  /** Who the peer is, for interceptors; made once, when first asked for. */
  get callPeer(): CallPeer {
    return this.#callPeer ??= peerOf(
      this.#stream,
      this.peer.implementation,
      false,
    );
  }

  /** The service this side serves, for interceptors; named once. */
  get serviceName(): string {
    return this.#serviceName ??= this.localRoot === null
      ? ""
      : serviceName(this.localRoot);
  }

  get version(): WireVersion | null {
    return this.#link.version;
  }

  get remoteAddr(): Deno.Addr | null {
    return this.#link.remoteAddr;
  }

  get stats(): ConnectionStats {
    return {
      exports: this.exports.size,
      imports: this.#imports.size,
      pendingCalls: this.#calls.size,
      streams: 0,
      inFlight: this.#running.size,
      // RPyC has no pipelining, so nothing is ever held.
      held: 0,
    };
  }

  /** Resolves once every request of the peer has been answered. */
  idle(): Promise<void> {
    return this.#idle.wait(this.#running.size > 0 && !this.#closed);
  }

  /** Sends RPyC's PING; resolves with the round trip in milliseconds. */
  async ping(options?: CallOptions): Promise<number> {
    const start = performance.now();
    await this.call(Handle.PING, ["netref"], options);
    return performance.now() - start;
  }

  // ------------------------------------------------------- netref proxies

  /** A proxy's operation; RPyC has no pipelining. */
  request(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
  ): PendingResult {
    const promise = this.#mentionsRoot(payload)
      ? this.remoteRoot(options).then(() =>
        perform(this, target, op, path, payload, options)
      )
      : perform(this, target, op, path, payload, options);
    return watchedResult(promise, this, describeTarget(target, path));
  }

  log(event: LogEvent): void {
    this.#options.log(event);
  }

  /** The Python class of a peer object, for inspection. */
  refName(target: number): string | undefined {
    return this.#imports.packOf(target)?.name;
  }

  release(proxy: object): void {
    this.#imports.release(proxy);
  }

  /** `for await` on a netref: Python's `iter()`, then BUFFITER batches. */
  iterate(state: ProxyState): AsyncIterator<unknown> {
    return batches(this, state.target);
  }

  forwarding(proxy: object, delta: 1 | -1): void {
    this.#imports.forwarding(proxy, delta);
  }

  /** Whether call arguments hold the peer's root before its pack is known. */
  #mentionsRoot(payload: unknown): boolean {
    if (this.#rootPack !== null || !Array.isArray(payload)) return false;
    return payload.some((item) => {
      const state = proxyState(item);
      return state !== undefined && state.host === this && state.target === 0;
    });
  }

  // --------------------------------------------------------- requests out

  call(
    handler: Handle,
    args: unknown[],
    options: CallOptions | undefined,
    raw = false,
  ): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionClosedError(
          `Cannot call ${this.label}: the connection is closed`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let request: PyTuple;
    try {
      request = PyTuple.of(handler, box(this, args));
    } catch (error) {
      return Promise.reject(error);
    }
    const call = new RpycCall(this.#nextSeq++, 0, []);
    call.raw = raw;
    this.#calls.add(call, options?.timeout ?? this.#options.timeout, signal);
    try {
      this.#link.send(Msg.REQUEST, call.id, request);
    } catch (error) {
      this.#calls.remove(call);
      call.reject(error);
    }
    return call.promise;
  }

  /**
   * The pack of the peer's root, asked for once and kept, as Python keeps
   * `conn.root`, until the connection closes.
   */
  remoteRoot(options: CallOptions | undefined): Promise<IdPack> {
    if (this.#rootPack !== null) return Promise.resolve(this.#rootPack);
    if (this.#rootRequest === null) {
      this.#rootRequest = this.call(Handle.GETROOT, [], options, true).then(
        (root) => {
          if (!(root instanceof PackRef)) {
            throw new ProtocolError(
              `Cannot use the root of ${this.label}: it did not arrive by reference`,
            );
          }
          return this.#rootPack = root.pack;
        },
      );
      this.#rootRequest.catch(() => this.#rootRequest = null);
    }
    return this.#rootRequest;
  }

  packOf(target: number): IdPack {
    const pack = this.#imports.packOf(target);
    if (pack === undefined) {
      throw new ReferenceError(
        `Cannot use netref #${target} of ${this.label}: it was released`,
      );
    }
    return pack;
  }

  /**
   * Sends DEL. Nothing waits for its answer (dropped on arrival, as any
   * answer nobody waits for), so a peer that never answers DELs cannot pile
   * them up here.
   */
  sendDel(pack: IdPack, count: number): void {
    if (this.#closed) return;
    const seq = this.#nextSeq++;
    try {
      const args = box(this, [new PackRef(pack), count]);
      this.#link.send(Msg.REQUEST, seq, PyTuple.of(Handle.DEL, args));
    } catch (error) {
      // Called from finalizers too, where a throw would end the process.
      const why = errorMessage(error);
      this.log(logEvent(
        "warn",
        "rpyc.release-failed",
        `cannot send DEL to ${this.label}: ${why}`,
        { peer: this.label, reason: why, error },
      ));
    }
  }

  #onAnswer(msg: Msg, seq: number, args: BrineValue): void {
    const call = this.#calls.get(seq);
    if (call === undefined) {
      // Timed out or cancelled: give back what the late reply carries.
      if (msg === Msg.REPLY) {
        for (const pack of packsIn(args)) this.sendDel(pack, 1);
      }
      return;
    }
    this.#calls.remove(call);
    try {
      if (msg === Msg.EXCEPTION) {
        call.reject(loadException(args));
      } else if (
        call.raw && args instanceof PyTuple &&
        args.items[0] === Label.REMOTE_REF
      ) {
        call.resolve(new PackRef(parsePack(args.items[1])));
      } else {
        const value = unbox(this, args);
        // One of ours the peer names, with a `then` method: never called.
        if (isThenable(value)) {
          call.reject(thenableError("the reply", this));
        } else {
          call.resolve(value);
        }
      }
    } catch (error) {
      call.reject(error);
      if (error instanceof ProtocolError) throw error;
    }
  }

  // ------------------------------------------------------------- boxing

  ownPack(value: object): PyTuple | undefined {
    if (value instanceof PackRef) return value.pack.tuple;
    const state = proxyState(value);
    if (state === undefined || state.host !== this) return undefined;
    // Mode 0: a proxy of a remote object itself, not a member or result.
    if (state.mode !== 0) {
      throw new TypeError(
        "Cannot send a netref member or call result that is still pending: await it first",
      );
    }
    if (state.target === 0) {
      if (this.#rootPack === null) {
        throw new TypeError(
          `Cannot send the root of ${this.label} before it was reached`,
        );
      }
      return this.#rootPack.tuple;
    }
    checkUsable(state.entry, this);
    return this.packOf(state.target).tuple;
  }

  importRef(pack: IdPack): object {
    return this.#imports.get(
      pack,
      (id, entry, callable) => makeRefProxy(this, id, entry, callable),
    );
  }

  // ---------------------------------------------------------- requests in

  #onMessage({ msg, seq, args }: RpycMessage): void {
    if (this.#ready === null) this.#startReady();
    if (msg === Msg.REQUEST) this.#onRequest(seq, args);
    else this.#onAnswer(msg, seq, args);
  }

  #startReady(): void {
    const onReady = this.#options.onReady;
    this.#ready = onReady === undefined
      ? Promise.resolve()
      : Promise.resolve().then(() => onReady(this.handle));
    const intercept = this.#options.intercept;
    if (intercept !== null) {
      this.#ready = this.#ready.then(() =>
        announceOpened(
          intercept,
          this.handle,
          (error) =>
            this.#options.log(logEvent(
              "error",
              "intercept.failed",
              `an interceptor's opened() failed for ${this.label}: ${error}`,
              { peer: this.label, error },
            )),
        )
      );
    }
    this.#ready.catch((error) => this.#fail(error));
  }

  /**
   * DEL and CLOSE are handled at once; other requests are unboxed in
   * arrival order, then served once the connection is ready (after
   * `onConnect`), each as the current call for `currentCall()`.
   */
  #onRequest(seq: number, args: BrineValue): void {
    if (
      !(args instanceof PyTuple) || args.length !== 2 ||
      typeof args.items[0] !== "number"
    ) {
      throw new ProtocolError(
        `Cannot handle RPyC request ${seq}: expected (handler, boxed_args)`,
      );
    }
    const [handler, boxed] = args.items as [number, BrineValue];
    if (handler === Handle.DEL) {
      const refused = handleDel(this, boxed);
      return this.#answer(seq, refused === null, refused);
    }
    if (handler === Handle.CLOSE) {
      this.#answer(seq, true, null);
      this.close(
        new ConnectionClosedError(`${this.label} closed the connection`),
        false,
      );
      return;
    }
    const max = this.#options.maxInFlight;
    if (this.#running.size >= max) {
      throw new ProtocolError(
        `The peer exceeded maxInFlight: more than ${max} requests in flight`,
      );
    }
    let values: unknown;
    try {
      // Unboxed now, in arrival order, so that a later DEL cannot free an
      // object this request names.
      values = unbox(this, boxed);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      return this.#answer(seq, false, error);
    }
    if (!Array.isArray(values)) {
      throw new ProtocolError(
        `Cannot handle RPyC request ${seq}: its arguments are not a tuple`,
      );
    }
    const call: IncomingCall = {
      controller: null,
      cancelled: false,
      connection: this.handle,
    };
    this.#running.add(call);
    const settle = (ok: boolean, value: unknown) => {
      this.#running.delete(call);
      this.#idle.wake(this.#running.size > 0);
      if (!call.cancelled) this.#answer(seq, ok, value);
    };
    // Boxed: a thenable among the peer's arguments, returned by a handler,
    // is sent back, never called.
    (this.#ready ?? Promise.resolve())
      .then(() => copyArguments(this, handler, values))
      .then(() => this.#serve(call, handler, values as unknown[]))
      .then(
        (result) => settle(true, result.value),
        (error) => settle(false, error),
      );
  }

  /** Serves a request, through the interceptors if it calls something. */
  #serve(call: IncomingCall, handler: number, values: unknown[]) {
    const intercept = this.#options.intercept;
    const shape = intercept === null ? null : rpycCallOf(this, handler, values);
    if (shape === null) {
      return awaitResult(serveRequest(this, call, handler, values));
    }
    return interceptIncoming(this, intercept!, call, {
      target: shape.target,
      op: Op.CALL,
      path: shape.path,
      payload: shape.args,
      trace: null,
      protocol: "rpyc",
    }, () => awaitResult(serveRequest(this, call, handler, values)));
  }

  #answer(seq: number, ok: boolean, value: unknown): void {
    if (this.#closed) return;
    const [msg, args] = answerOf(this, ok, value, this.#options.includeStack);
    this.#send(msg, seq, args);
  }

  /** Sends an answer; one that cannot be encoded ends the connection. */
  #send(msg: Msg, seq: number, args: BrineValue): void {
    try {
      this.#link.send(msg, seq, args);
    } catch (error) {
      this.#fail(error);
    }
  }

  // -------------------------------------------------------------- closing

  #fail(error: unknown): void {
    if (this.#closed) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    // A client that fixed its version reports a mismatch to its caller.
    const quiet = reason instanceof ConnectionClosedError ||
      (reason instanceof WireVersionError && this.#options.version !== null);
    if (!quiet) {
      this.log(logEvent(
        "warn",
        "connection.closed",
        `closing RPyC connection to ${this.label}: ${reason.message}`,
        { peer: this.label, reason: reason.message, error: reason },
      ));
    }
    this.close(reason, false);
  }

  /**
   * Closes the session: fails every pending call, drops every reference,
   * optionally sends RPyC's CLOSE first, and closes the stream.
   *
   * @param reason Why, or null for a normal close.
   * @param notifyPeer Whether to send CLOSE first.
   */
  async close(reason: Error | null, notifyPeer: boolean): Promise<void> {
    if (this.#closed) return this.closed;
    if (notifyPeer && this.#link.version !== null) {
      // Not waited for: RPyC 5 closes without answering CLOSE.
      this.#send(
        Msg.REQUEST,
        this.#nextSeq++,
        PyTuple.of(Handle.CLOSE, PyTuple.of(Label.VALUE, PyTuple.of())),
      );
    }
    this.#closed = true;
    const error = closedError(this.label, reason);
    this.#calls.stop();
    for (const call of this.#calls.values()) {
      this.#calls.remove(call);
      call.reject(error);
    }
    for (const call of this.#running) {
      call.cancelled = true;
      call.controller?.abort(error);
    }
    this.#running.clear();
    this.#idle.wake(false);
    this.exports.clear();
    closeIterations(this);
    this.#imports.clear();
    await this.#link.close(1000);
    callOnClose(this, this.#options.onClose, reason);
    this.#resolveClosed();
  }
}
