/**
 * The peer's requests as they arrive: RPyC's DEL and CLOSE handled at once,
 * the others unboxed in arrival order, served once the connection is ready,
 * and answered with REPLY or EXCEPTION.
 *
 * @example
 * ```ts ignore
 * import { Incoming } from "./incoming.ts";
 * const incoming = new Incoming(connection, 1024, () => ready);
 * incoming.onRequest(seq, args);
 * ```
 *
 * @module
 */

import { type IncomingCall, runInCall } from "../../core/context.ts";
import { ProtocolError } from "../../errors.ts";
import { awaitResult } from "../../core/proxy.ts";
import type { Connection } from "../../core/types.ts";
import { type BrineValue, PyTuple } from "./brine.ts";
import { Handle, Label, Msg } from "./constants.ts";
import {
  type IdPack,
  parsePack,
  ROOT_INSTANCE_ID,
  type RpycExports,
} from "./refs.ts";
import { serveRequest, type ServingHost } from "./serving.ts";
import { dumpException, pythonError } from "./vinegar.ts";

/**
 * What serving the peer's requests needs from the connection.
 *
 * @example
 * ```ts ignore
 * import type { ServingConnection } from "./incoming.ts";
 * const conn: ServingConnection = session;
 * ```
 */
export interface ServingConnection {
  /** The local root object, or null when this side serves none. */
  readonly localRoot: object | null;
  /** The local objects the peer holds. */
  readonly exports: RpycExports;
  /** The public connection, for `currentCall().connection`. */
  readonly handle: Connection;
  /** Unboxes request arguments: netrefs for the peer's objects, ours as themselves. */
  unbox(boxed: BrineValue): unknown;
  /** Whether exceptions sent to the peer carry the stack trace. */
  readonly includeStack: boolean;
  /** Boxes a reply. */
  box(value: unknown): PyTuple;
  /** Sends a message; one that cannot be encoded ends the connection. */
  send(msg: Msg, seq: number, args: BrineValue): void;
  /** Whether the connection is closed. */
  isClosed(): boolean;
  /** The peer sent CLOSE: close without telling it. */
  closedByPeer(): void;
}

/**
 * The peer's requests: checked and unboxed in arrival order, then served
 * once the connection is ready (after `onConnect`), each as the current
 * call for `currentCall()`.
 *
 * @example
 * ```ts ignore
 * import { Incoming } from "./incoming.ts";
 * const incoming = new Incoming(session, 1024, () => ready);
 * incoming.onRequest(seq, args);
 * ```
 */
export class Incoming {
  readonly #conn: ServingConnection;
  readonly #maxInFlight: number;
  readonly #ready: () => Promise<void>;
  readonly #calls = new Set<IncomingCall>();

  /**
   * @param conn The connection.
   * @param maxInFlight Most requests running at once.
   * @param ready Resolves once requests may be served.
   */
  constructor(
    conn: ServingConnection,
    maxInFlight: number,
    ready: () => Promise<void>,
  ) {
    this.#conn = conn;
    this.#maxInFlight = maxInFlight;
    this.#ready = ready;
  }

  /** How many requests are running. */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * Takes one REQUEST.
   *
   * @param seq Its sequence number.
   * @param args `(handler, boxed_args)`.
   * @throws {ProtocolError} If it is malformed or over `maxInFlight`.
   */
  onRequest(seq: number, args: BrineValue): void {
    const conn = this.#conn;
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
      const { pack, count } = parseDel(boxed);
      if (
        pack.instanceId === ROOT_INSTANCE_ID ||
        conn.exports.release(pack.instanceId, count)
      ) return this.#answer(seq, true, null);
      return this.#answer(
        seq,
        false,
        pythonError(
          new ReferenceError(
            `Cannot release object ${pack.instanceId}: it is not exported`,
          ),
          "KeyError",
        ),
      );
    }
    if (handler === Handle.CLOSE) {
      this.#answer(seq, true, null);
      return conn.closedByPeer();
    }
    if (this.#calls.size >= this.#maxInFlight) {
      throw new ProtocolError(
        `The peer exceeded maxInFlight: more than ${this.#maxInFlight} requests in flight`,
      );
    }
    let values: unknown;
    try {
      // Unboxed now, in arrival order, so that a later DEL cannot free an
      // object this request names.
      values = conn.unbox(boxed);
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
      connection: conn.handle,
    };
    this.#calls.add(call);
    const host: ServingHost = {
      localRoot: conn.localRoot,
      exports: conn.exports,
      invoke: (fn) => runInCall(call, fn),
    };
    const settle = (ok: boolean, value: unknown) => {
      this.#calls.delete(call);
      if (!call.cancelled) this.#answer(seq, ok, value);
    };
    // Boxed: a thenable among the peer's arguments, returned by a handler,
    // is sent back, never called.
    this.#ready()
      .then(() => awaitResult(serveRequest(host, handler, values as unknown[])))
      .then(
        (result) => settle(true, result.value),
        (error) => settle(false, error),
      );
  }

  /**
   * Cancels every running request: their answers are dropped and their
   * `currentCall().signal` aborts.
   *
   * @param reason Why, as the signal's reason.
   */
  cancelAll(reason: Error): void {
    for (const call of this.#calls) {
      call.cancelled = true;
      call.controller?.abort(reason);
    }
    this.#calls.clear();
  }

  /** Sends REPLY (`ok`) or EXCEPTION answering request `seq`. */
  #answer(seq: number, ok: boolean, value: unknown): void {
    const conn = this.#conn;
    if (conn.isClosed()) return;
    if (ok) {
      try {
        return conn.send(Msg.REPLY, seq, conn.box(value));
      } catch (error) {
        value = error;
      }
    }
    let dumped: BrineValue;
    try {
      dumped = dumpException(value, conn.includeStack);
    } catch (dumpError) {
      dumped = dumpException(
        new Error("The call failed, and its error could not be sent", {
          cause: dumpError,
        }),
        false,
      );
    }
    conn.send(Msg.EXCEPTION, seq, dumped);
  }
}

/**
 * Reads the arguments of RPyC's DEL, `(obj, count=1)`, where `obj` is one
 * of ours coming back as a LOCAL_REF.
 *
 * @param boxed The boxed arguments.
 * @returns The object's pack and the count given back.
 * @throws {ProtocolError} If they are not DEL's arguments.
 *
 * @example
 * ```ts
 * import { parseDel } from "./incoming.ts";
 * import { PyTuple } from "./brine.ts";
 * const args = PyTuple.of(2, PyTuple.of(
 *   PyTuple.of(3, PyTuple.of("netref.Counter", 3, 1)),
 *   PyTuple.of(1, 2),
 * ));
 * console.assert(parseDel(args).count === 2);
 * ```
 */
export function parseDel(boxed: BrineValue): { pack: IdPack; count: number } {
  const items = boxed instanceof PyTuple && boxed.items[0] === Label.TUPLE &&
      boxed.items[1] instanceof PyTuple
    ? boxed.items[1].items
    : [];
  const [ref, countBox] = items;
  let count: unknown = 1;
  if (countBox instanceof PyTuple && countBox.items[0] === Label.VALUE) {
    count = countBox.items[1];
  }
  if (
    items.length < 1 || items.length > 2 || !(ref instanceof PyTuple) ||
    ref.items[0] !== Label.LOCAL_REF || typeof count !== "number" ||
    !Number.isSafeInteger(count) || count < 1
  ) {
    throw new ProtocolError(
      "Cannot handle RPyC DEL: expected (local_ref, count >= 1)",
    );
  }
  return { pack: parsePack(ref.items[1]), count };
}
