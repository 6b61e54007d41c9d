/**
 * One RPyC connection's engine, both directions at once as in RPyC:
 * requests sent and their answers, the peer's requests served, reference
 * counting (RPyC's DEL), and closing. It implements netref's `ProxyHost`,
 * so the peer's objects are ordinary netref proxies.
 *
 * @example
 * ```ts ignore
 * import { RpycSession } from "./engine.ts";
 * const session = new RpycSession(await Deno.connect({ port: 18861 }), options);
 * console.log(await session.handle.root.foo());
 * ```
 *
 * @module
 */

import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
} from "../../errors.ts";
import {
  makeRefProxy,
  type PendingResult,
  type ProxyHost,
  proxyState,
} from "../../core/proxy.ts";
import type { ImportEntry } from "../../core/refs.ts";
import { describeTarget, watchedResult } from "../../core/pending_call.ts";
import type {
  CallOptions,
  Connection,
  ConnectionStats,
  PeerInfo,
} from "../../core/types.ts";
import type { Op } from "../../protocol/constants.ts";
import type { ByteStream } from "../../transport/types.ts";
import { box, type BoxingHost, unbox } from "./boxing.ts";
import { type BrineValue, PyTuple } from "./brine.ts";
import { ConnectionHandle } from "../../core/handle.ts";
import { Handle, Label, Msg, type WireVersion } from "./constants.ts";
import { RpycLink, WireVersionError } from "./link.ts";
import { type IdPack, PackRef, RpycExports, RpycImports } from "./refs.ts";
import { perform, pythonHosts, type RemoteHost } from "./remote.ts";
import { RequestTable } from "./requests.ts";
import { Incoming } from "./incoming.ts";
import type { RpycMessage } from "./wire.ts";

/**
 * How an RPyC session behaves.
 *
 * @example
 * ```ts ignore
 * import type { RpycSessionOptions } from "./engine.ts";
 * const options: RpycSessionOptions = { root: null, version: 5, ...limits, label: "peer" };
 * ```
 */
export interface RpycSessionOptions {
  /** The object the peer reaches as its root, or null for none. */
  root: object | null;
  /** The wire version, or null to take it from the peer's first message. */
  version: WireVersion | null;
  /** Default call timeout in milliseconds; 0 or Infinity for none. */
  timeout: number;
  /** Largest frame accepted from the peer. */
  maxFrameBytes: number;
  /** Milliseconds for the peer's first message, when the version is unknown. */
  handshakeTimeout: number;
  /** Milliseconds of silence with nothing in flight before closing; 0: never. */
  idleTimeout: number;
  /** Most of the peer's requests running at once. */
  maxInFlight: number;
  /** Most local objects the peer may hold at once; one more disconnects it. */
  maxExports: number;
  /** Milliseconds a message may take to arrive once begun; 0: no limit. */
  frameTimeout: number;
  /** Whether exceptions sent to the peer carry the stack trace. */
  includeStack: boolean;
  /** Where protocol violations and hook failures are reported. */
  log: (message: string) => void;
  /** How the peer is described in messages. */
  label: string;
  /** Runs once the peer's first message arrived, before it is served. */
  onReady?: (conn: Connection) => void | Promise<void>;
  /** Runs once, when the connection is closed. */
  onClose?: (conn: Connection, reason: Error | null) => void | Promise<void>;
}

/**
 * The engine of one RPyC connection. Users hold its `handle`.
 *
 * @example
 * ```ts ignore
 * import { RpycSession } from "./engine.ts";
 * const session = new RpycSession(stream, options);
 * await session.close(null, true);
 * ```
 */
export class RpycSession implements ProxyHost, BoxingHost, RemoteHost {
  /** The public connection. */
  readonly handle: Connection;
  /** Describes the peer. */
  readonly label: string;
  /** Local objects the peer holds. */
  readonly exports: RpycExports;
  /** What the peer reaches as root. */
  readonly localRoot: object | null;
  /** Resolves once closed. */
  readonly closed: Promise<void>;
  readonly #options: RpycSessionOptions;
  readonly #link: RpycLink;
  readonly #requests: RequestTable;
  readonly #imports: RpycImports;
  readonly #incoming: Incoming;
  readonly #rootProxy: object;
  #ready: Promise<void> | null = null;
  #closed = false;
  #resolveClosed!: () => void;

  /**
   * Starts a session on a connected stream.
   *
   * @param stream The stream; the session owns it.
   * @param options Behaviour.
   */
  constructor(stream: ByteStream, options: RpycSessionOptions) {
    this.#options = options;
    this.label = options.label;
    this.localRoot = options.root;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.handle = new ConnectionHandle(this);
    pythonHosts.add(this);
    this.exports = new RpycExports(options.maxExports, () =>
      // After the message being boxed has failed, not in its middle.
      queueMicrotask(() =>
        this.#fail(
          new ProtocolError(
            `${this.label} exceeded maxExports: it holds references to ${options.maxExports} objects of this side, and one more was to be sent`,
          ),
        )
      ));
    this.#requests = new RequestTable({
      label: options.label,
      timeout: options.timeout,
      isClosed: () => this.#closed,
      box: (args) => box(this, args),
      send: (seq, request) => this.#link.send(Msg.REQUEST, seq, request),
      giveBack: (pack) => this.sendDel(pack, 1),
      log: options.log,
    });
    this.#incoming = new Incoming(
      {
        localRoot: options.root,
        exports: this.exports,
        handle: this.handle,
        unbox: (boxed) => unbox(this, boxed),
        includeStack: options.includeStack,
        box: (value) => box(this, value),
        send: (msg, seq, args) => this.#send(msg, seq, args),
        isClosed: () => this.#closed,
        closedByPeer: () =>
          this.close(
            new ConnectionClosedError(`${this.label} closed the connection`),
            false,
          ),
      },
      options.maxInFlight,
      () => this.#ready ?? Promise.resolve(),
    );
    this.#imports = new RpycImports((pack, count) => this.sendDel(pack, count));
    this.#rootProxy = makeRefProxy(this, 0, null, false);
    this.#link = new RpycLink(stream, {
      version: options.version,
      maxFrameBytes: options.maxFrameBytes,
      label: options.label,
      firstMessageTimeout: options.handshakeTimeout,
      idleTimeout: options.idleTimeout,
      frameTimeout: options.frameTimeout,
      isBusy: () => this.#requests.size > 0 || this.#incoming.size > 0,
    }, {
      onMessage: (message) => this.#onMessage(message),
      onEnd: (reason) => this.#fail(reason),
    });
  }

  /** The peer's root, as a netref. */
  get root(): object {
    return this.#rootProxy;
  }

  /** Whether the session is closed. */
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

  /** The wire version, once known. */
  get version(): WireVersion | null {
    return this.#link.version;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr | null {
    return this.#link.remoteAddr;
  }

  /** Live counts. */
  get stats(): ConnectionStats {
    return {
      exports: this.exports.size,
      imports: this.#imports.size,
      pendingCalls: this.#requests.size,
      inFlight: this.#incoming.size,
      // RPyC has no pipelining, so nothing is ever held.
      held: 0,
    };
  }

  /** Resolves once every request of the peer has been answered. */
  async idle(): Promise<void> {
    while (this.#incoming.size > 0 && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Sends RPyC's PING and waits for the echo.
   *
   * @param options Timeout and signal.
   * @returns The round trip in milliseconds.
   */
  async ping(options?: CallOptions): Promise<number> {
    const start = performance.now();
    await this.call(Handle.PING, ["netref"], options);
    return performance.now() - start;
  }

  // --------------------------------------------------- netref proxies

  /**
   * Sends a proxy's operation; RPyC has no pipelining. A failure nobody
   * awaits is logged.
   */
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

  /** Reports what the peer or a call nobody awaited did wrong. */
  log(message: string): void {
    this.#options.log(message);
  }

  /** The Python class of a peer object, for inspection. */
  refName(target: number): string | undefined {
    return this.#imports.packOf(target)?.name;
  }

  /** Fails for a released netref; on a closed connection, calls reject. */
  checkUsable(entry: ImportEntry | null): void {
    if (entry !== null && entry.released && !this.#closed) {
      throw new ReferenceError(
        `Cannot use netref #${entry.id} of ${this.label}: it was released`,
      );
    }
  }

  /** Gives a netref back to the peer now. */
  release(proxy: object): void {
    this.#imports.release(proxy);
  }

  /** Counts an export of one of this connection's netrefs on another. */
  forwarding(proxy: object, delta: 1 | -1): void {
    this.#imports.forwarding(proxy, delta);
  }

  /** Whether call arguments hold the peer's root before its pack is known. */
  #mentionsRoot(payload: unknown): boolean {
    if (this.#requests.rootPack !== null || !Array.isArray(payload)) {
      return false;
    }
    return payload.some((item) => {
      const state = proxyState(item);
      return state !== undefined && state.host === this && state.target === 0;
    });
  }

  // ------------------------------------------------------ requests out

  /** Sends one request and resolves with its unboxed answer. */
  call(
    handler: Handle,
    args: unknown[],
    options: CallOptions | undefined,
    raw = false,
  ): Promise<unknown> {
    return this.#requests.call(handler, args, options, raw);
  }

  /** The pack of the peer's root, asked for once and kept. */
  remoteRoot(options: CallOptions | undefined): Promise<IdPack> {
    return this.#requests.remoteRoot(options);
  }

  /** The pack behind an import id. */
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
   * Sends DEL: `count` references to `pack` go back to the peer. Nothing
   * waits for its answer (dropped on arrival, as any answer nobody waits
   * for), so a peer that never answers DELs cannot pile them up here.
   */
  sendDel(pack: IdPack, count: number): void {
    if (this.#closed) return;
    this.#requests.notify(Handle.DEL, [new PackRef(pack), count]);
  }

  // ------------------------------------------------------------ boxing

  /** The pack of one of this connection's netrefs, to send it back. */
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
      const root = this.#requests.rootPack;
      if (root === null) {
        throw new TypeError(
          `Cannot send the root of ${this.label} before it was reached`,
        );
      }
      return root.tuple;
    }
    this.checkUsable(state.entry);
    return this.packOf(state.target).tuple;
  }

  /** The netref for a peer object, counting one more receipt. */
  importRef(pack: IdPack): object {
    return this.#imports.get(
      pack,
      (id, entry, callable) => makeRefProxy(this, id, entry, callable),
    );
  }

  // ------------------------------------------------------- messages in

  #onMessage({ msg, seq, args }: RpycMessage): void {
    if (this.#ready === null) this.#startReady();
    if (msg === Msg.REQUEST) return this.#incoming.onRequest(seq, args);
    this.#requests.answer(msg, seq, args, (boxed) => unbox(this, boxed));
  }

  #startReady(): void {
    const onReady = this.#options.onReady;
    this.#ready = onReady === undefined
      ? Promise.resolve()
      : Promise.resolve().then(() => onReady(this.handle));
    this.#ready.catch((error) => this.#fail(error));
  }

  /** Sends an answer; one that cannot be encoded ends the connection. */
  #send(msg: Msg, seq: number, args: BrineValue): void {
    try {
      this.#link.send(msg, seq, args);
    } catch (error) {
      this.#fail(error);
    }
  }

  // ------------------------------------------------------------ closing

  #fail(error: unknown): void {
    if (this.#closed) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    // A client that fixed its version reports a mismatch to its caller.
    const quiet = reason instanceof ConnectionClosedError ||
      (reason instanceof WireVersionError && this.#options.version !== null);
    if (!quiet) {
      this.#options.log(
        `closing RPyC connection to ${this.label}: ${reason.message}`,
      );
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
        this.#requests.nextSeq(),
        PyTuple.of(Handle.CLOSE, PyTuple.of(Label.VALUE, PyTuple.of())),
      );
    }
    this.#closed = true;
    const error = reason instanceof ConnectionClosedError
      ? reason
      : new ConnectionClosedError(
        reason === null
          ? `Connection to ${this.label} closed`
          : `Connection to ${this.label} closed: ${reason.message}`,
        reason === null ? undefined : { cause: reason },
      );
    this.#requests.failAll(error);
    this.#incoming.cancelAll(error);
    this.exports.clear();
    this.#imports.clear();
    await this.#link.close(1000);
    // An async onDisconnect that fails is reported as one that throws.
    const report = (hookError: unknown) =>
      this.#options.log(
        `onDisconnect hook failed for ${this.label}: ${
          errorMessage(hookError)
        }`,
      );
    try {
      const done: unknown = this.#options.onClose?.(this.handle, reason);
      if (done instanceof Promise) done.catch(report);
    } catch (hookError) {
      report(hookError);
    }
    this.#resolveClosed();
  }
}
