/**
 * One connection's engine: handshake, the read loop, the request table,
 * dispatch of incoming requests through the exposure policy, reference
 * counting, timeouts, cancellation, and coalesced writes.
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../defaults.ts";
import { Kind, MAX_FRAME_LENGTH, Op, RefKind } from "../protocol/constants.ts";
import {
  type DecodeContext,
  decodeValue,
  encodeValue,
  splitBlobFrame,
  WireError,
} from "../protocol/codec.ts";
import { FrameDecoder, type OutgoingFrame } from "../protocol/frame.ts";
import {
  checkToken,
  encodeHello,
  type Hello,
  readHello,
} from "../protocol/handshake.ts";
import type { ByteStream } from "../transport/types.ts";
import {
  applyInCall,
  controllerOf,
  IdleWaiters,
  type IncomingCall,
} from "./context.ts";
import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
  rebuildError,
  type RemoteErrorInit,
  TimeoutError,
} from "../errors.ts";
import { checkMember, isPlainData } from "./exposure.ts";
import {
  awaitResult,
  type Boxed,
  isAwaitable,
  makeRefProxy,
  type PendingResult,
  type ProxyHost,
  proxyState,
  relay,
} from "./proxy.ts";
import { ExportTable, ImportTable } from "./refs.ts";
import { FrameDeadline } from "./frame_deadline.ts";
import { ConnectionHandle } from "./handle.ts";
import { listMembers } from "./members.ts";
import { MessageEncoder } from "./outbound.ts";
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
  ResolvedOptions,
} from "./types.ts";

/** Name and version this implementation announces. */
export const IMPLEMENTATION = "netref-deno/0.1.0";

/** Longest member path in one request. */
const MAX_PATH = 64;
/** Most results one peer may ask to be held for pipelining at once. */
const MAX_HELD = 4096;
/**
 * The read buffer starts small, so that idle connections cost little, and
 * doubles up to the maximum while reads fill it.
 */
const READ_BUFFER_START_BYTES = 4 * 1024;
const READ_BUFFER_MAX_BYTES = 64 * 1024;

/**
 * How a session behaves: the connection's options as a resolver checked and
 * completed them (`resolveOptions`), and what ties it to its peer.
 */
export interface SessionOptions extends ResolvedOptions {
  /** The object the peer reaches as `root`, or null to serve nothing. */
  root: object | null;
  /** Service name announced in the hello. */
  serviceName?: string;
  /** Called once the handshake is done, before any request is served. */
  onReady?: (conn: Connection) => void | Promise<void>;
  /** Called once, when the connection is closed. */
  onClose?: (conn: Connection, reason: Error | null) => void | Promise<void>;
  /**
   * True on the accepting side: its hello goes out only once the peer's hello
   * is valid and `onReady` succeeded, or carries the reason it refuses.
   */
  acceptor: boolean;
  /** How the peer is described in messages, such as its address. */
  label: string;
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

function isPath(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length > MAX_PATH) return false;
  for (const name of value) if (typeof name !== "string") return false;
  return true;
}

/**
 * The engine of one connection. Internal: users hold the
 * {@linkcode Connection} it exposes as `handle`.
 */
export class Session implements ProxyHost, DecodeContext {
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
  readonly #incoming = new Map<number, IncomingCall>();
  /**
   * Calls the peer cancelled whose handlers still run (they ignore their
   * signal): no longer in flight, but bounded by maxInFlight of their own.
   */
  readonly #abandoned = new Set<IncomingCall>();
  readonly #idle = new IdleWaiters();
  readonly #frameDeadline: FrameDeadline;
  /** Results held for pipelining, boxed: a peer's thenable is not adopted. */
  readonly #held = new Map<number, Promise<Boxed>>();
  readonly #pings = new Map<number, (rtt: number) => void>();
  #idleTimer: ReturnType<typeof setInterval> | undefined = undefined;
  #framesReceived = 0;
  #nextId = 1;

  readonly #writer: FrameWriter;

  #releases = new Map<number, number>();
  #heldReleases: number[] = [];
  #releaseTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  /** A returned ref id that was not found while decoding the current message. */
  #unknownReturn: number | null = null;

  #peer: PeerInfo | null = null;
  #helloSent = false;
  readonly #rootProxy: object;

  #closed = false;
  readonly #closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  readonly ready: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (error: Error) => void;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.#exports = new ExportTable(options.maxExports, () =>
      // After the message being encoded has failed, not in its middle.
      queueMicrotask(() =>
        this.#fail(
          new ProtocolError(
            `${this.label} exceeded maxExports: it holds references to ${options.maxExports} objects of this side, and one more was to be sent`,
          ),
        )
      ));
    this.#frameDeadline = new FrameDeadline(
      options.frameTimeout,
      () =>
        this.#fail(
          new ProtocolError(
            `${this.label} started a frame and did not finish it within ${options.frameTimeout} ms (frameTimeout)`,
          ),
        ),
    );
    this.#encoder = new MessageEncoder(
      this.#exports,
      this,
      options.includeStack,
    );
    this.#imports = new ImportTable((id, count) =>
      this.#queueRelease(id, count)
    );
    this.#rootProxy = makeRefProxy(this, 0, null, false);
    this.#closedPromise = new Promise((resolve) =>
      this.#resolveClosed = resolve
    );
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A failed handshake is reported through connect()/the server log.
    this.ready.catch(() => {});
    this.handle = new ConnectionHandle(this);
    this.#handshakeTimer = setTimeout(() => {
      this.#fail(
        new ProtocolError(
          `Cannot start connection: no hello from ${this.label} within ${options.handshakeTimeout} ms`,
        ),
      );
    }, options.handshakeTimeout);
    if (!options.acceptor) this.#sendHello(null);
    this.#readLoop();
  }

  get root(): object {
    return this.#rootProxy;
  }

  /**
   * Sends this side's hello, or a hello refusing the peer with `refusal`.
   * It goes out before anything else.
   */
  #sendHello(refusal: string | null): void {
    if (this.#helloSent) return;
    this.#helloSent = true;
    const hello: Hello = {
      implementation: IMPLEMENTATION,
      maxFrameBytes: this.#options.maxFrameBytes,
      features: ["pipelining", "blobs"],
    };
    if (this.#options.serviceName !== undefined) {
      hello.service = this.#options.serviceName;
    }
    if (refusal !== null) hello.refused = refusal;
    if (!this.#options.acceptor && this.#options.token !== undefined) {
      hello.token = this.#options.token;
    }
    this.#writer.writeFirst(encodeHello(hello));
  }

  get peer(): PeerInfo {
    return this.#peer ??
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
      inFlight: this.#incoming.size,
      held: this.#held.size,
    };
  }

  /** Resolves once every incoming call has settled (or the session closed). */
  idle(): Promise<void> {
    return this.#idle.wait(this.#incoming.size > 0 && !this.#closed);
  }

  // ---------------------------------------------------------------- reading

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(READ_BUFFER_START_BYTES);
    try {
      const { hello, rest } = await readHello(this.#stream, buffer, this.label);
      clearTimeout(this.#handshakeTimer);
      if (hello.refused !== undefined) {
        throw new ConnectionClosedError(
          `${this.label} refused the connection: ${hello.refused}`,
        );
      }
      if (this.#options.acceptor && this.#options.token !== undefined) {
        checkToken(hello, this.#options.token);
      }
      this.#peer = {
        implementation: hello.implementation,
        maxFrameBytes: hello.maxFrameBytes,
        service: hello.service,
      };
      this.#encoder.peerMaxFrame = Math.min(
        hello.maxFrameBytes,
        MAX_FRAME_LENGTH,
      );
      this.#encoder.peerBlobs = hello.features.includes("blobs");
      if (this.#options.onReady !== undefined) {
        await this.#options.onReady(this.handle);
      }
      if (this.#closed) return;
      // An acceptor answers only now: its hello means "accepted".
      this.#sendHello(null);
      this.#resolveReady();
      if (this.#options.idleTimeout > 0) this.#watchIdle();
      const decoder = new FrameDecoder(this.#options.maxFrameBytes);
      const onFrame = (payload: Uint8Array, owned: boolean, blob: boolean) =>
        this.#onFrame(payload, owned, blob);
      if (rest.length > 0) {
        decoder.push(rest, onFrame);
        this.#frameDeadline.update(
          decoder.bufferedBytes > 0,
          this.#framesReceived,
        );
      }
      while (!this.#closed) {
        if (this.#writer.congested) {
          this.#frameDeadline.pause();
          await this.#writer.drained();
          if (this.#closed) return;
        }
        // The rest of a large frame is read straight into place.
        const direct = decoder.readTarget();
        const n = await this.#stream.read(direct ?? buffer);
        if (n === null) break;
        if (direct !== null) {
          decoder.commit(n, onFrame);
          this.#frameDeadline.update(
            decoder.bufferedBytes > 0,
            this.#framesReceived,
          );
          continue;
        }
        decoder.push(buffer.subarray(0, n), onFrame);
        this.#frameDeadline.update(
          decoder.bufferedBytes > 0,
          this.#framesReceived,
        );
        if (n === buffer.length && buffer.length < READ_BUFFER_MAX_BYTES) {
          buffer = new Uint8Array(buffer.length * 2);
        }
      }
      if (this.#closed) return;
      if (decoder.bufferedBytes > 0) {
        throw new ProtocolError(
          `${this.label} closed the connection in the middle of a frame (${decoder.bufferedBytes} bytes of it received)`,
        );
      }
      this.close(
        new ConnectionClosedError(`${this.label} closed the connection`),
        false,
      );
    } catch (error) {
      if (this.#closed) return; // Reads fail once the stream is closed.
      this.#fail(error);
    }
  }

  #onFrame(payload: Uint8Array, owned: boolean, blob: boolean): void {
    if (this.#closed) return;
    this.#framesReceived++;
    this.#unknownReturn = null;
    let message: unknown;
    if (blob) {
      const { value, blobs } = splitBlobFrame(payload);
      message = decodeValue(value, this, owned, blobs);
    } else {
      message = decodeValue(payload, this, owned);
    }
    if (!Array.isArray(message) || typeof message[0] !== "number") {
      throw new ProtocolError(
        "Cannot handle message: it is not an array [kind, ...]",
      );
    }
    switch (message[0]) {
      case Kind.REQUEST:
        return this.#onRequest(message);
      case Kind.RESPONSE:
      case Kind.ERROR:
        return this.#onAnswer(message);
      case Kind.CANCEL:
        return this.#onCancel(message);
      case Kind.RELEASE:
        return this.#onRelease(message);
      case Kind.PING:
        if (!isId(message[1])) {
          throw new ProtocolError("Cannot handle PING: bad id");
        }
        this.#writer.enqueue(encodeValue([Kind.PONG, message[1]]));
        return;
      case Kind.PONG:
        this.#pings.get(message[1])?.(performance.now());
        return;
      case Kind.CLOSE:
        this.close(
          new ConnectionClosedError(
            `${this.label} closed the connection: ${
              String(message[1] ?? "no reason given")
            }`,
          ),
          false,
        );
        return;
      default:
        throw new ProtocolError(
          `Cannot handle message: unknown kind ${message[0]}`,
        );
    }
  }

  // ---------------------------------------------------- serving the peer

  #onRequest(message: unknown[]): void {
    const [, id, target, op, path, payload, hold] = message;
    if (!isId(id)) throw new ProtocolError("Cannot handle REQUEST: bad id");
    if (
      message.length !== 7 || typeof target !== "number" ||
      !Number.isSafeInteger(target) ||
      !Number.isInteger(op) || (op as number) < Op.GET ||
      (op as number) > Op.DIR || !isPath(path) ||
      typeof hold !== "boolean" ||
      (op === Op.CALL && !Array.isArray(payload))
    ) {
      throw new ProtocolError(
        `Cannot handle REQUEST ${id}: expected [REQUEST, id, target, op, path, payload, hold]`,
      );
    }
    if (this.#incoming.has(id)) {
      throw new ProtocolError(
        `Cannot handle REQUEST ${id}: that id is already in flight`,
      );
    }
    if (this.#incoming.size >= this.#options.maxInFlight) {
      throw new ProtocolError(
        `${this.label} exceeded maxInFlight: more than ${this.#options.maxInFlight} requests in flight`,
      );
    }
    if (this.#abandoned.size >= this.#options.maxInFlight) {
      // Not the peer's fault: this side's handlers ignore cancellation.
      return this.#refuseForAbandoned(id);
    }
    if (hold && this.#held.size >= MAX_HELD) {
      throw new ProtocolError(
        `${this.label} asked to hold more than ${MAX_HELD} results for pipelining`,
      );
    }
    const call: IncomingCall = {
      controller: null,
      cancelled: false,
      connection: this.handle,
    };
    this.#incoming.set(id, call);
    let result: unknown;
    // Set when the answer waits for a held result: the answer, boxed.
    let pending: Promise<Boxed> | null = null;
    try {
      if (this.#unknownReturn !== null) {
        throw new ReferenceError(
          `Cannot find ref #${this.#unknownReturn} sent back by ${this.label}: it was released or never exported`,
        );
      }
      if (target < 0) {
        const base = this.#held.get(-target);
        if (base === undefined) {
          throw new ReferenceError(
            `Cannot pipeline on request ${-target}: its result is not held`,
          );
        }
        pending = base.then((held) =>
          awaitResult(this.#apply(held.value, op as Op, path, payload, call))
        );
      } else {
        result = this.#apply(
          this.#targetObject(target),
          op as Op,
          path,
          payload,
          call,
        );
      }
    } catch (error) {
      pending = Promise.reject(error);
    }
    if (hold) {
      const held = pending ?? awaitResult(result);
      // Its failure is reported in this request's ERROR answer.
      held.catch(() => {});
      this.#held.set(id, held);
    }
    // Only a promise of the handler's, never a thenable of the peer's, is
    // awaited: see isAwaitable.
    if (pending !== null) {
      pending.then(
        (held) => this.#answer(id, call, held.value),
        (error) => this.#answerError(id, call, error),
      );
    } else if (isAwaitable(result)) {
      result.then(
        (value) => this.#answer(id, call, value),
        (error) => this.#answerError(id, call, error),
      );
    } else {
      this.#answer(id, call, result);
    }
  }

  #targetObject(target: number): object {
    if (target === 0) {
      if (this.#options.root === null) {
        throw new ReferenceError(
          `Cannot reach root: this side of ${this.label} serves no root object`,
        );
      }
      return this.#options.root;
    }
    const object = this.#exports.get(target);
    if (object === undefined) {
      throw new ReferenceError(
        `Cannot find ref #${target}: it was released or never exported to ${this.label}`,
      );
    }
    return object;
  }

  /** Applies one operation through the exposure policy: the only way in. */
  #apply(
    object: unknown,
    op: Op,
    path: readonly string[],
    payload: unknown,
    call: IncomingCall,
  ): unknown {
    const last = path.length - 1;
    if (last < 0 && op === Op.GET) return object;
    let owner = object;
    for (let i = 0;; i++) {
      // Another connection's netref, forwarded to the peer (or reached
      // through a member): the rest of the operation is relayed to it.
      const forwarded = proxyState(owner);
      if (forwarded !== undefined) {
        return relay(
          forwarded,
          op,
          i === 0 ? path : path.slice(i),
          payload,
          controllerOf(call).signal,
        );
      }
      if (i >= last) break;
      owner = this.#member(owner, path[i], "read");
    }
    switch (op) {
      case Op.GET: {
        const value = this.#member(owner, path[last], "read");
        // A method read on its own stays bound to its object; a netref is
        // forwarded as itself.
        return typeof value === "function" && !isPlainData(owner as object) &&
            proxyState(value) === undefined
          ? value.bind(owner)
          : value;
      }
      case Op.SET:
        if (last < 0) {
          throw new TypeError("Cannot set: the request names no member");
        }
        this.#check(owner, path[last], "write");
        (owner as Record<string, unknown>)[path[last]] = payload;
        return undefined;
      case Op.CALL: {
        const fn = last < 0 ? object : this.#member(owner, path[last], "read");
        if (typeof fn !== "function") {
          throw new TypeError(
            `Cannot call '${path.join(".") || "ref"}': it is ${
              fn === null ? "null" : typeof fn
            }, not a function`,
          );
        }
        if (last >= 0) {
          const forwarded = proxyState(fn);
          if (forwarded !== undefined) {
            return relay(
              forwarded,
              op,
              [],
              payload,
              controllerOf(call).signal,
            );
          }
        }
        const self = last < 0 ? undefined : owner;
        return applyInCall(
          call,
          fn as (...args: never[]) => unknown,
          self,
          payload as unknown[],
        );
      }
      default: {
        const listed = last < 0
          ? object
          : this.#member(owner, path[last], "read");
        const forwarded = proxyState(listed);
        return forwarded === undefined
          ? listMembers(listed)
          : relay(forwarded, op, [], null, controllerOf(call).signal);
      }
    }
  }

  #check(owner: unknown, name: string, use: "read" | "write"): void {
    if (
      (typeof owner !== "object" && typeof owner !== "function") ||
      owner === null
    ) {
      throw new TypeError(
        `Cannot ${use} '${name}' of ${owner === null ? "null" : typeof owner}`,
      );
    }
    checkMember(owner, name, use);
  }

  #member(owner: unknown, name: string, use: "read"): unknown {
    this.#check(owner, name, use);
    return (owner as Record<string, unknown>)[name];
  }

  #answer(id: number, call: IncomingCall, value: unknown): void {
    if (this.#incoming.get(id) === call) this.#endIncoming(id);
    if (call.cancelled || this.#closed) return this.#finishCancelled(call);
    let payload: OutgoingFrame;
    const encoder = this.#encoder;
    encoder.begin();
    try {
      payload = encoder.finish([
        Kind.RESPONSE,
        id,
        encoder.lowerValue(value, "result"),
      ]);
    } catch (error) {
      encoder.abort();
      return this.#answerError(id, call, error);
    }
    this.#writer.enqueue(payload);
  }

  #answerError(id: number, call: IncomingCall, error: unknown): void {
    if (this.#incoming.get(id) === call) this.#endIncoming(id);
    if (call.cancelled || this.#closed) return this.#finishCancelled(call);
    let payload: OutgoingFrame;
    const encoder = this.#encoder;
    encoder.begin();
    try {
      payload = encoder.finish([Kind.ERROR, id, encoder.lowerError(error)]);
    } catch (encodeError) {
      encoder.abort();
      payload = encodeValue([
        Kind.ERROR,
        id,
        new WireError({
          name: "Error",
          message: `The call failed, and its error could not be sent: ${
            errorMessage(encodeError)
          }`,
        }),
      ]);
    }
    this.#writer.enqueue(payload);
  }

  /** A cancelled call's handler has finished: its result is dropped. */
  #finishCancelled(call: IncomingCall): void {
    this.#abandoned.delete(call);
  }

  /**
   * Answers a request with an error, unserved, while maxInFlight cancelled
   * calls still run: the connection stays open, and serves again once they
   * finish.
   */
  #refuseForAbandoned(id: number): void {
    const max = this.#options.maxInFlight;
    this.#answerError(
      id,
      { controller: null, cancelled: false, connection: this.handle },
      new RangeError(
        `Cannot serve the call: ${this.#abandoned.size} calls that ${this.label} cancelled are still running on the server (their handlers ignore the abort signal), and at most ${max} (maxInFlight) may; try again once they finish`,
      ),
    );
  }

  #onCancel(message: unknown[]): void {
    const id = message[1] as number;
    const call = this.#incoming.get(id);
    if (call === undefined) return; // It finished before the CANCEL arrived.
    // Its maxInFlight place is free at once; while its handler runs on, it
    // counts against the bound of abandoned calls instead.
    this.#endIncoming(id);
    this.#abandoned.add(call);
    call.cancelled = true;
    call.controller?.abort(
      new DOMException(`The call was cancelled by ${this.label}`, "AbortError"),
    );
  }

  #onRelease(message: unknown[]): void {
    const [, refs, held] = message;
    if (!Array.isArray(refs) || refs.length % 2 !== 0 || !Array.isArray(held)) {
      throw new ProtocolError(
        "Cannot handle RELEASE: expected [RELEASE, [id, count, ...], [held, ...]]",
      );
    }
    for (let i = 0; i < refs.length; i += 2) {
      if (
        !isId(refs[i]) || !isId(refs[i + 1]) ||
        !this.#exports.release(refs[i], refs[i + 1])
      ) {
        throw new ProtocolError(
          `Cannot release ref #${refs[i]} x${
            refs[i + 1]
          }: more than was sent to ${this.label}`,
        );
      }
    }
    for (const id of held) this.#held.delete(id);
  }

  // ------------------------------------------------------ calling the peer

  request(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
  ): PendingResult {
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
    let bytes: OutgoingFrame;
    const encoder = this.#encoder;
    encoder.begin();
    try {
      bytes = encoder.finish([
        Kind.REQUEST,
        id,
        target,
        op,
        path,
        op === Op.CALL
          ? encoder.lowerArgs(payload as unknown[])
          : encoder.lowerValue(payload, "value"),
        false,
      ]);
    } catch (error) {
      encoder.abort();
      return settledCall(target, path, error, this);
    }
    this.#calls.add(call, options?.timeout ?? this.#options.timeout, signal);
    // The hold flag is the last byte of the msgpack value, which ends a blob
    // frame's head as it ends a plain payload.
    call.payload = bytes instanceof Uint8Array ? bytes : bytes.head;
    this.#writer.enqueue(bytes, call);
    return call;
  }

  /**
   * Closes the connection once the peer has sent nothing for `idleTimeout`
   * while no call was pending either way. Checked four times per period, by
   * counting frames rather than reading the clock on every frame: the close
   * comes between 1 and 1.25 periods into the silence.
   */
  #watchIdle(): void {
    const period = this.#options.idleTimeout;
    let seen = this.#framesReceived;
    let silentTicks = 0;
    this.#idleTimer = setInterval(() => {
      const busy = this.#calls.size > 0 || this.#incoming.size > 0;
      if (this.#framesReceived !== seen || busy) {
        seen = this.#framesReceived;
        silentTicks = 0;
        return;
      }
      if (++silentTicks >= 4) {
        this.#fail(
          new ProtocolError(
            `${this.label} was idle for ${period} ms (idleTimeout)`,
          ),
        );
      }
    }, period / 4);
  }

  #endIncoming(id: number): void {
    this.#incoming.delete(id);
    this.#idle.wake(this.#incoming.size > 0);
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
    if (call.held) {
      this.#heldReleases.push(call.id);
      this.#scheduleReleases();
    }
  }

  #onAnswer(message: unknown[]): void {
    const call = this.#calls.get(message[1] as number);
    if (call === undefined) return; // Timed out or cancelled meanwhile.
    this.#settle(call);
    if (message[0] === Kind.RESPONSE) call.deliver(message[2], this);
    else call.fail(message[2], this);
  }

  /** Reports what the peer or a call nobody awaited did wrong. */
  log(message: string): void {
    this.#options.log(message);
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
    const id = this.#nextId++;
    const start = performance.now();
    const timeout = options?.timeout ?? this.#options.timeout;
    return new Promise<number>((resolve, reject) => {
      const timer = timeout > 0 && Number.isFinite(timeout)
        ? setTimeout(() => {
          this.#pings.delete(id);
          reject(
            new TimeoutError(
              `Ping to ${this.label} timed out after ${timeout} ms`,
            ),
          );
        }, timeout)
        : undefined;
      this.#pings.set(id, (now) => {
        clearTimeout(timer);
        this.#pings.delete(id);
        resolve(now - start);
      });
      this.#writer.enqueue(encodeValue([Kind.PING, id]));
    });
  }

  // -------------------------------------------------------------- values

  importRef(id: number, kind: number): unknown {
    return this.#imports.get(
      id,
      kind,
      (entry) => makeRefProxy(this, id, entry, kind === RefKind.FUNCTION),
    );
  }

  returnedRef(id: number): unknown {
    if (id === 0 && this.#options.root !== null) return this.#options.root;
    const object = this.#exports.get(id);
    if (object !== undefined) return object;
    this.#unknownReturn = id;
    return undefined;
  }

  rebuildError(fields: RemoteErrorInit): unknown {
    return rebuildError(fields);
  }

  #queueRelease(id: number, count: number): void {
    if (this.#closed) return;
    this.#releases.set(id, (this.#releases.get(id) ?? 0) + count);
    this.#scheduleReleases();
  }

  #scheduleReleases(): void {
    // A timer, not a microtask: finalizers run one task each, and releases
    // of one garbage collection should leave in one message.
    if (this.#releaseTimer === undefined && !this.#closed) {
      this.#releaseTimer = setTimeout(() => this.#sendReleases(), 0);
    }
  }

  #sendReleases(): void {
    this.#releaseTimer = undefined;
    if (
      this.#closed ||
      (this.#releases.size === 0 && this.#heldReleases.length === 0)
    ) return;
    const refs: number[] = [];
    for (const [id, count] of this.#releases) refs.push(id, count);
    this.#releases.clear();
    this.#writer.enqueue(encodeValue([Kind.RELEASE, refs, this.#heldReleases]));
    this.#heldReleases = [];
  }

  // -------------------------------------------------------------- closing

  /** Reports a peer's misbehaviour or a transport failure, then closes. */
  #fail(error: unknown): void {
    if (this.#closed) return;
    const reason = error instanceof Error ? error : new Error(String(error));
    if (!(reason instanceof ConnectionClosedError)) {
      this.#options.log(
        `closing connection to ${this.label}: ${reason.message}`,
      );
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
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#releaseTimer);
    this.#calls.stop();
    clearInterval(this.#idleTimer);
    this.#frameDeadline.stop();
    const error = reason instanceof ConnectionClosedError
      ? reason
      : new ConnectionClosedError(
        reason === null
          ? `Connection to ${this.label} closed`
          : `Connection to ${this.label} closed: ${reason.message}`,
        reason === null ? undefined : { cause: reason },
      );
    this.#rejectReady(reason ?? error);
    for (const call of this.#calls.values()) {
      this.#settle(call);
      call.fail(error, this);
    }
    this.#pings.clear();
    for (const call of this.#incoming.values()) {
      call.cancelled = true;
      call.controller?.abort(error);
    }
    this.#incoming.clear();
    this.#idle.wake(false);
    this.#abandoned.clear();
    this.#held.clear();
    this.#exports.clear();
    this.#imports.clear();
    this.#releases.clear();
    this.#heldReleases = [];
    if (notifyPeer && !this.#helloSent && this.#options.acceptor) {
      // Refused before the handshake completed: the reason goes in the hello.
      this.#sendHello(reason === null ? "closed" : reason.message);
      await this.#writer.drain(1000);
    } else if (notifyPeer) {
      this.#writer.enqueue(
        encodeValue([Kind.CLOSE, reason === null ? "closed" : reason.message]),
      );
      this.#writer.flush();
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
