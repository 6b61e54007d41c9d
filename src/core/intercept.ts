/**
 * Interceptors: functions that every call a connection sends or serves
 * passes through, `(call, next) => Promise<result>`, as gRPC's and Koa's
 * middleware. They see what is called and by whom, may refuse a call by
 * throwing, time it, log it, and carry its trace context.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { type LogEvent, logEvent } from "../log.ts";
import { Op } from "../protocol/constants.ts";
import type { Boxed } from "./awaiting.ts";
import { isThenable } from "./pending_call.ts";
import type { Connection } from "./types.ts";

/** The W3C Trace Context of a call, as it travels with the request. */
export interface TraceContext {
  /** The `traceparent` header: `00-<trace id>-<parent id>-<flags>`. */
  traceparent: string;
  /** The `tracestate` header, if any. */
  tracestate?: string;
}

/** Who is at the other end of a call's connection. */
export interface CallPeer {
  /** The peer's address, for network transports; null otherwise. */
  readonly address: Deno.Addr | null;
  /**
   * The subject of the certificate the peer presented, such as
   * `CN=client,O=netref`: set on a mutual-TLS server; null elsewhere.
   */
  readonly certificateSubject: string | null;
  /** Whether the peer presented a token in its hello. */
  readonly tokenPresented: boolean;
  /** What the peer says it is, such as `netref-deno/0.1.0` or `rpyc`. */
  readonly implementation: string;
}

/** What an interceptor sees of one call. */
export interface InterceptedCall {
  /** `outgoing`: this side calls the peer; `incoming`: the peer calls this side. */
  readonly direction: "outgoing" | "incoming";
  /** The wire the call travels on. */
  readonly protocol: "netref" | "rpyc";
  /**
   * The service whose member is called: the name the serving side announced
   * (`@service("name")`, or its class name); `""` for a side serving none,
   * such as a client's callbacks.
   */
  readonly service: string;
  /**
   * What the path starts from: the service's root object, another object
   * sent by reference, or the pending result of an earlier call
   * (pipelining).
   */
  readonly target: "root" | "ref" | "result";
  /** Member names from the target; `[]` for a call on a function itself. */
  readonly path: readonly string[];
  /** The path joined with dots: `"users.get"`; `""` for an empty path. */
  readonly method: string;
  /** What is done with the member. */
  readonly operation: "get" | "set" | "call" | "dir";
  /** A call's arguments; a set's value, as one argument; else empty. */
  readonly args: readonly unknown[];
  /** The connection the call travels on. */
  readonly connection: Connection;
  /** Who is at its other end. */
  readonly peer: CallPeer;
  /**
   * Incoming: aborts when the caller cancels, times out or disconnects (the
   * handler's own signal). Outgoing: the caller's `signal`, or one that
   * never aborts (a timeout rejects `next()`).
   */
  readonly signal: AbortSignal;
  /**
   * Outgoing: set it before `next()` to send a trace context with the
   * request (it travels only to peers that announced `trace-context`).
   * Incoming: the context the caller sent, or null.
   */
  traceContext: TraceContext | null;
}

/**
 * Runs around every call a connection sends or serves. Calls `next()` at
 * most once to let the call proceed, and returns (a promise of) its result;
 * a throw or rejection fails the call with that error, which an incoming
 * call's caller receives as any handler's error.
 *
 * @example Refusing calls to a member and timing the others
 * ```ts
 * import type { Interceptor } from "./intercept.ts";
 * const guard: Interceptor = async (call, next) => {
 *   if (call.method === "admin") throw new Error("Not allowed: admin");
 *   const start = performance.now();
 *   try {
 *     return await next();
 *   } finally {
 *     console.log(call.direction, call.method, performance.now() - start);
 *   }
 * };
 * ```
 */
export interface Interceptor {
  (call: InterceptedCall, next: () => Promise<unknown>): Promise<unknown>;
  /**
   * Told of each connection once its handshake is done (before any call on
   * it), so that an interceptor can count connections or watch their
   * `stats`; `connection.closed` tells when it ends.
   */
  opened?(connection: Connection): void;
}

/**
 * The interceptors of `option`, checked: null when there are none, so that
 * a connection without any tests one field per call.
 *
 * @param option What the user gave as `intercept`.
 * @returns A frozen copy, or null.
 * @throws {TypeError} If it is not an array of functions.
 */
export function resolveIntercept(
  option: readonly Interceptor[] | undefined,
): readonly Interceptor[] | null {
  if (option === undefined) return null;
  if (!Array.isArray(option)) {
    throw new TypeError("Cannot use intercept: expected an array of functions");
  }
  for (const [i, item] of option.entries()) {
    if (typeof item !== "function") {
      throw new TypeError(
        `Cannot use intercept[${i}]: expected a function (call, next) => Promise, got ${
          item === null ? "null" : typeof item
        }`,
      );
    }
  }
  return option.length === 0 ? null : Object.freeze([...option]);
}

/**
 * Tells every interceptor with an `opened` hook that `connection` is open.
 * A hook that throws is the interceptor's bug: reported, never the
 * connection's end.
 *
 * @param list The connection's interceptors.
 * @param connection The connection, handshake done.
 * @param label How the peer is named in the log.
 * @param log Receives an `intercept.failed` event per hook that throws.
 */
export function announceOpened(
  list: readonly Interceptor[],
  connection: Connection,
  label: string,
  log: (event: LogEvent) => void,
): void {
  for (const interceptor of list) {
    if (interceptor.opened === undefined) continue;
    try {
      interceptor.opened(connection);
    } catch (error) {
      log(logEvent(
        "error",
        "intercept.failed",
        `an interceptor's opened() failed for ${label}: ${errorMessage(error)}`,
        { peer: label, reason: errorMessage(error), error },
      ));
    }
  }
}

/**
 * Runs `call` through `list`, ending in `last`, which does the call.
 *
 * @param list The interceptors, outermost first.
 * @param call What they see.
 * @param last Performs the call.
 * @returns The outermost interceptor's result.
 */
export function runIntercepted(
  list: readonly Interceptor[],
  call: InterceptedCall,
  last: () => Promise<unknown>,
): Promise<unknown> {
  const step = (i: number): Promise<unknown> => {
    if (i === list.length) return last();
    let called = false;
    const next = (): Promise<unknown> => {
      if (called) {
        return Promise.reject(
          new Error(
            `Cannot proceed with ${call.direction} call '${call.method}': intercept[${i}] called next() more than once`,
          ),
        );
      }
      called = true;
      return step(i + 1);
    };
    try {
      return Promise.resolve(list[i](call, next));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return step(0);
}

/**
 * A handler's result that has a `then` of its own (a peer's thenable among
 * it), sealed so that no interceptor's promise adopts it: it is sent as a
 * value, as a call without interceptors sends it.
 */
class Sealed implements Boxed {
  constructor(readonly value: unknown) {}
}

/**
 * The value of a boxed handler result, as interceptors' promises carry it:
 * a thenable stays sealed.
 *
 * @param boxed The handler's result.
 * @returns The value, or the sealed box.
 */
export function unboxForChain(boxed: Boxed): unknown {
  return isThenable(boxed.value) ? new Sealed(boxed.value) : boxed.value;
}

/**
 * What the outermost interceptor gave, boxed again for the answer.
 *
 * @param value The chain's result.
 * @returns It, boxed.
 */
export function reboxFromChain(value: unknown): Boxed {
  return value instanceof Sealed ? value : { value };
}

const OPERATIONS = ["get", "set", "call", "dir"] as const;
const NEVER_ABORTS = new AbortController().signal;

/** The fields of a call that are set as it is made. */
export interface CallFields {
  direction: "outgoing" | "incoming";
  protocol: "netref" | "rpyc";
  service: string;
  target: number;
  path: readonly string[];
  op: Op;
  payload: unknown;
  connection: Connection;
  peer: CallPeer;
  traceContext: TraceContext | null;
}

/**
 * One call as interceptors see it; what they seldom read (the method's
 * name, the signal) is made only when read.
 */
export class CallInfo implements InterceptedCall {
  readonly direction: "outgoing" | "incoming";
  readonly protocol: "netref" | "rpyc";
  readonly service: string;
  readonly path: readonly string[];
  readonly connection: Connection;
  readonly peer: CallPeer;
  traceContext: TraceContext | null;
  readonly #target: number;
  readonly #op: Op;
  readonly #payload: unknown;
  readonly #signal: () => AbortSignal | undefined;

  /**
   * @param fields The call.
   * @param signal Gives its signal, when asked for.
   */
  constructor(fields: CallFields, signal: () => AbortSignal | undefined) {
    this.direction = fields.direction;
    this.protocol = fields.protocol;
    this.service = fields.service;
    this.path = fields.path;
    this.connection = fields.connection;
    this.peer = fields.peer;
    this.traceContext = fields.traceContext;
    this.#target = fields.target;
    this.#op = fields.op;
    this.#payload = fields.payload;
    this.#signal = signal;
  }

  get target(): "root" | "ref" | "result" {
    return this.#target === 0 ? "root" : this.#target > 0 ? "ref" : "result";
  }

  get method(): string {
    return this.path.join(".");
  }

  get operation(): "get" | "set" | "call" | "dir" {
    return OPERATIONS[this.#op];
  }

  get args(): readonly unknown[] {
    if (this.#op === Op.CALL) return this.#payload as unknown[];
    return this.#op === Op.SET ? [this.#payload] : [];
  }

  get signal(): AbortSignal {
    return this.#signal() ?? NEVER_ABORTS;
  }
}
