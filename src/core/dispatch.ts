/**
 * Serving the peer: its REQUESTs dispatched through the exposure policy,
 * answered in order of completion, cancelled by its CANCELs, and the exports
 * and held results its RELEASEs give back.
 *
 * @module
 */

import { Kind, Op } from "../protocol/constants.ts";
import { encodeBareAnswer } from "../protocol/bare.ts";
import { encodeValue, WireError } from "../protocol/codec.ts";
import type { OutgoingFrame } from "../protocol/frame.ts";
import { errorMessage, ProtocolError } from "../errors.ts";
import {
  applyInCall,
  controllerOf,
  IdleWaiters,
  type IncomingCall,
} from "./context.ts";
import { checkMember, isClass, isPlainData } from "./exposure.ts";
import { listMembers } from "./members.ts";
import type { MessageEncoder } from "./outbound.ts";
import { awaitResult, type Boxed, isAwaitable } from "./awaiting.ts";
import { proxyState } from "./proxy_state.ts";
import { relay } from "./send.ts";
import type { ExportTable } from "./refs.ts";
import type { Connection } from "./types.ts";
import type { CallPeer, Interceptor } from "./intercept.ts";
import { interceptIncoming, readTraceField } from "./intercepted.ts";
import type { FrameWriter } from "./writer.ts";
import { IdSlots } from "./id_slots.ts";

/** Longest member path in one request. */
const MAX_PATH = 64;
/** Most results one peer may ask to be held for pipelining at once. */
const MAX_HELD = 4096;

/**
 * Whether a message field is a request or ref id.
 *
 * @param value The field.
 * @returns True for a positive safe integer.
 */
export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

function isPath(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length > MAX_PATH) return false;
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "string") return false;
  }
  return true;
}

/** What the dispatcher reads of its session. */
export interface DispatchHost {
  readonly label: string;
  readonly isClosed: boolean;
  /** The connection handlers see as `context().connection`. */
  readonly handle: Connection;
  /** Who the peer is, for interceptors. */
  readonly callPeer: CallPeer;
  /** The service this side announced, for interceptors. */
  readonly serviceName: string;
}

/** The session's parts that the dispatcher uses. */
export interface DispatcherOptions {
  /** The object the peer reaches as `root`, or null to serve nothing. */
  root: object | null;
  maxInFlight: number;
  exports: ExportTable;
  encoder: MessageEncoder;
  writer: FrameWriter;
  /** The interceptors each request passes through, or null. */
  intercept: readonly Interceptor[] | null;
}

/** Serves one session's incoming requests. */
export class Dispatcher {
  readonly #host: DispatchHost;
  readonly #root: object | null;
  readonly #maxInFlight: number;
  readonly #exports: ExportTable;
  readonly #encoder: MessageEncoder;
  readonly #writer: FrameWriter;
  readonly #intercept: readonly Interceptor[] | null;
  readonly #incoming = new IdSlots<IncomingCall>();
  /**
   * Calls the peer cancelled whose handlers still run (they ignore their
   * signal): no longer in flight, but bounded by maxInFlight of their own.
   */
  readonly #abandoned = new Set<IncomingCall>();
  readonly #idle = new IdleWaiters();
  /** Results held for pipelining, boxed: a peer's thenable is not adopted. */
  readonly #held = new Map<number, Promise<Boxed>>();

  constructor(host: DispatchHost, options: DispatcherOptions) {
    this.#host = host;
    this.#root = options.root;
    this.#maxInFlight = options.maxInFlight;
    this.#exports = options.exports;
    this.#encoder = options.encoder;
    this.#writer = options.writer;
    this.#intercept = options.intercept;
  }

  /** Requests being served. */
  get inFlight(): number {
    return this.#incoming.size;
  }

  /** Results held for pipelining. */
  get held(): number {
    return this.#held.size;
  }

  /** Resolves once every incoming call has settled (or the session closed). */
  idle(): Promise<void> {
    return this.#idle.wait(this.#incoming.size > 0 && !this.#host.isClosed);
  }

  /** The session closed: every running handler's signal aborts with `error`. */
  close(error: Error): void {
    for (const call of this.#incoming.values()) {
      call.cancelled = true;
      call.controller?.abort(error);
    }
    this.#incoming.clear();
    this.#idle.wake(false);
    this.#abandoned.clear();
    this.#held.clear();
  }

  /**
   * Serves a REQUEST.
   *
   * @param message The decoded message.
   * @param unknownReturn A ref id the message sent back that this side does
   *   not export (decoded as undefined), or null.
   */
  onRequest(message: unknown[], unknownReturn: number | null): void {
    // Indexed reads: destructuring goes through the array iterator.
    const id = message[1];
    const target = message[2];
    const op = message[3];
    const path = message[4];
    const payload = message[5];
    // With a trace context (a peer that read "trace-context" in our hello),
    // it comes before the hold flag.
    const traced = message.length === 8;
    const hold = message[traced ? 7 : 6];
    if (!isId(id)) throw new ProtocolError("Cannot handle REQUEST: bad id");
    if (
      (message.length !== 7 && !traced) || typeof target !== "number" ||
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
    const trace = traced ? readTraceField(message[6], id) : null;
    if (this.#incoming.has(id)) {
      throw new ProtocolError(
        `Cannot handle REQUEST ${id}: that id is already in flight`,
      );
    }
    if (this.#incoming.size >= this.#maxInFlight) {
      throw new ProtocolError(
        `${this.#host.label} exceeded maxInFlight: more than ${this.#maxInFlight} requests in flight`,
      );
    }
    if (this.#abandoned.size >= this.#maxInFlight) {
      // Not the peer's fault: this side's handlers ignore cancellation.
      return this.#refuseForAbandoned(id);
    }
    if (hold && this.#held.size >= MAX_HELD) {
      throw new ProtocolError(
        `${this.#host.label} asked to hold more than ${MAX_HELD} results for pipelining`,
      );
    }
    const call: IncomingCall = {
      controller: null,
      cancelled: false,
      connection: this.#host.handle,
    };
    this.#incoming.add(id, call);
    let result: unknown;
    // Set when the answer waits for a held result: the answer, boxed.
    let pending: Promise<Boxed> | null = null;
    try {
      if (unknownReturn !== null) {
        throw new ReferenceError(
          `Cannot find ref #${unknownReturn} sent back by ${this.#host.label}: it was released or never exported`,
        );
      }
      if (this.#intercept !== null) {
        pending = interceptIncoming(
          this.#host,
          this.#intercept,
          call,
          {
            target,
            op: op as Op,
            path,
            payload,
            trace,
            protocol: "netref",
          },
          () =>
            target < 0
              ? this.#pipelined(target, op as Op, path, payload, call)
              : awaitResult(
                this.#apply(
                  this.#targetObject(target),
                  op as Op,
                  path,
                  payload,
                  call,
                ),
              ),
        );
      } else if (target < 0) {
        pending = this.#pipelined(target, op as Op, path, payload, call);
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

  /** Applies an operation to the held result of request `-target`. */
  #pipelined(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    call: IncomingCall,
  ): Promise<Boxed> {
    const base = this.#held.get(-target);
    if (base === undefined) {
      throw new ReferenceError(
        `Cannot pipeline on request ${-target}: its result is not held`,
      );
    }
    return base.then((held) =>
      awaitResult(this.#apply(held.value, op, path, payload, call))
    );
  }

  #targetObject(target: number): object {
    if (target === 0) {
      if (this.#root === null) {
        throw new ReferenceError(
          `Cannot reach root: this side of ${this.#host.label} serves no root object`,
        );
      }
      return this.#root;
    }
    const object = this.#exports.get(target);
    if (object === undefined) {
      throw new ReferenceError(
        `Cannot find ref #${target}: it was released or never exported to ${this.#host.label}`,
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
            proxyState(value) === undefined && !isClass(value)
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
    if (!this.#finish(id, call)) return;
    const encoder = this.#encoder;
    // A short string, small integer, boolean or null has nothing to lower.
    const bare = encodeBareAnswer(id, value);
    if (bare !== null && bare.end - bare.start <= encoder.peerMaxFrame) {
      return this.#writer.enqueue(bare);
    }
    let payload: OutgoingFrame;
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
    if (!this.#finish(id, call)) return;
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

  /**
   * The handler of request `id` has finished. Returns false if its answer is
   * dropped: the peer cancelled it, or the session closed.
   */
  #finish(id: number, call: IncomingCall): boolean {
    if (this.#incoming.get(id) === call) this.#endIncoming(id);
    if (!call.cancelled && !this.#host.isClosed) return true;
    this.#abandoned.delete(call);
    return false;
  }

  /**
   * Answers a request with an error, unserved, while maxInFlight cancelled
   * calls still run: the connection stays open, and serves again once they
   * finish.
   */
  #refuseForAbandoned(id: number): void {
    const max = this.#maxInFlight;
    this.#answerError(
      id,
      { controller: null, cancelled: false, connection: this.#host.handle },
      new RangeError(
        `Cannot serve the call: ${this.#abandoned.size} calls that ${this.#host.label} cancelled are still running on the server (their handlers ignore the abort signal), and at most ${max} (maxInFlight) may; try again once they finish`,
      ),
    );
  }

  /** Cancels the call a CANCEL names, if it still runs. */
  onCancel(message: unknown[]): void {
    const id = message[1] as number;
    const call = this.#incoming.get(id);
    if (call === undefined) return; // It finished before the CANCEL arrived.
    // Its maxInFlight place is free at once; while its handler runs on, it
    // counts against the bound of abandoned calls instead.
    this.#endIncoming(id);
    this.#abandoned.add(call);
    call.cancelled = true;
    call.controller?.abort(
      new DOMException(
        `The call was cancelled by ${this.#host.label}`,
        "AbortError",
      ),
    );
  }

  /** Gives back the exports and held results a RELEASE names. */
  onRelease(message: unknown[]): void {
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
          }: more than was sent to ${this.#host.label}`,
        );
      }
    }
    for (const id of held) this.#held.delete(id);
  }

  #endIncoming(id: number): void {
    this.#incoming.delete(id);
    this.#idle.wake(this.#incoming.size > 0);
  }
}
