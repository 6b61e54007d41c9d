/**
 * The peer's requests on an RPyC connection: DEL and CLOSE at once, the
 * others unboxed in arrival order and served once the connection is ready
 * (after `onConnect`), through the server's interceptors, each answered
 * unless the connection closed meanwhile.
 *
 * @module
 */

import { IdleWaiters, type IncomingCall } from "../core/context.ts";
import { ConnectionClosedError, ProtocolError } from "../errors.ts";
import { awaitResult } from "../core/awaiting.ts";
import { announceOpened } from "../core/intercept.ts";
import { interceptIncoming } from "../core/intercepted.ts";
import { Op } from "../protocol/constants.ts";
import { unbox } from "./boxing.ts";
import { Handle } from "./constants.ts";
import { copyArguments } from "./containers.ts";
import { handleDel, rpycCallOf, serveRequest } from "./handlers.ts";
import { type BrineValue, PyTuple } from "./py_values.ts";
import type { RpycSession, RpycSessionOptions } from "./protocol.ts";

/** Serves the requests of one {@linkcode RpycSession}'s peer. */
export class RpycIncoming {
  readonly #host: RpycSession;
  readonly #options: RpycSessionOptions;
  /** The peer's requests still running. */
  readonly #running = new Set<IncomingCall>();
  readonly #idle = new IdleWaiters();
  #ready: Promise<void> | null = null;

  constructor(host: RpycSession, options: RpycSessionOptions) {
    this.#host = host;
    this.#options = options;
  }

  /** How many of the peer's requests are running. */
  get running(): number {
    return this.#running.size;
  }

  /** Resolves once no request runs (at once when `closed`). */
  idle(closed: boolean): Promise<void> {
    return this.#idle.wait(this.#running.size > 0 && !closed);
  }

  /** Cancels every running request: their answers are never sent. */
  cancelAll(error: Error): void {
    for (const call of this.#running) {
      call.cancelled = true;
      call.controller?.abort(error);
    }
    this.#running.clear();
    this.#idle.wake(false);
  }

  /** Starts the wait for readiness, once: at the peer's first message. */
  start(): void {
    if (this.#ready !== null) return;
    const onReady = this.#options.onReady;
    this.#ready = onReady === undefined
      ? Promise.resolve()
      : Promise.resolve().then(() => onReady(this.#host.handle));
    const intercept = this.#options.intercept;
    if (intercept !== null) {
      this.#ready = this.#ready.then(() =>
        announceOpened(
          intercept,
          this.#host.handle,
          this.#host.label,
          this.#options.log,
        )
      );
    }
    this.#ready.catch((error) => this.#host.fail(error));
  }

  /**
   * DEL and CLOSE are handled at once; other requests are unboxed in
   * arrival order, then served once the connection is ready (after
   * `onConnect`), each as the current call for `currentCall()`.
   */
  onRequest(seq: number, args: BrineValue): void {
    this.start();
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
      const refused = handleDel(this.#host, boxed);
      return this.#host.answer(seq, refused === null, refused);
    }
    if (handler === Handle.CLOSE) {
      this.#host.answer(seq, true, null);
      this.#host.close(
        new ConnectionClosedError(`${this.#host.label} closed the connection`),
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
      values = unbox(this.#host, boxed);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      return this.#host.answer(seq, false, error);
    }
    if (!Array.isArray(values)) {
      throw new ProtocolError(
        `Cannot handle RPyC request ${seq}: its arguments are not a tuple`,
      );
    }
    const call: IncomingCall = {
      controller: null,
      cancelled: false,
      connection: this.#host.handle,
    };
    this.#running.add(call);
    const settle = (ok: boolean, value: unknown) => {
      this.#running.delete(call);
      this.#idle.wake(this.#running.size > 0);
      if (!call.cancelled) this.#host.answer(seq, ok, value);
    };
    // Boxed: a thenable among the peer's arguments, returned by a handler,
    // is sent back, never called.
    (this.#ready ?? Promise.resolve())
      .then(() => copyArguments(this.#host, handler, values))
      .then(() => this.#serve(call, handler, values as unknown[]))
      .then(
        (result) => settle(true, result.value),
        (error) => settle(false, error),
      );
  }

  /** Serves a request, through the interceptors if it calls something. */
  #serve(call: IncomingCall, handler: number, values: unknown[]) {
    const intercept = this.#options.intercept;
    const shape = intercept === null
      ? null
      : rpycCallOf(this.#host, handler, values);
    if (shape === null) {
      return awaitResult(serveRequest(this.#host, call, handler, values));
    }
    return interceptIncoming(this.#host, intercept!, call, {
      target: shape.target,
      op: Op.CALL,
      path: shape.path,
      payload: shape.args,
      trace: null,
      protocol: "rpyc",
    }, () => awaitResult(serveRequest(this.#host, call, handler, values)));
  }
}
