/**
 * Where a connection's calls meet its interceptors: an outgoing request
 * runs through them before it is sent, an incoming one before its handler
 * runs; and the trace context a request carries to peers that read one.
 *
 * @module
 */

import type { Op } from "../protocol/constants.ts";
import { ProtocolError } from "../errors.ts";
import type { ByteStream } from "../transport/types.ts";
import type { Boxed } from "./awaiting.ts";
import { controllerOf, type IncomingCall } from "./context.ts";
import {
  CallInfo,
  type CallPeer,
  type Interceptor,
  reboxFromChain,
  runIntercepted,
  type TraceContext,
  unboxForChain,
} from "./intercept.ts";
import {
  describeTarget,
  type FailureSink,
  type PendingCall,
  reportUnawaited,
} from "./pending_call.ts";
import type { PendingResult } from "./proxy_state.ts";
import type { CallOptions, Connection, PeerInfo } from "./types.ts";

/**
 * The hello feature of a peer that reads a trace context in requests:
 * `[REQUEST, id, target, op, path, payload, [traceparent, tracestate?], hold]`.
 */
export const TRACE_CONTEXT = "trace-context";

/** Longest `traceparent` accepted (version 00's is 55 characters). */
const MAX_TRACEPARENT = 256;
/** Longest `tracestate` accepted (W3C: 32 entries of at most 256). */
const MAX_TRACESTATE = 8192;

/**
 * The wire form of a trace context.
 *
 * @param trace What an interceptor set.
 * @returns `[traceparent]` or `[traceparent, tracestate]`.
 * @throws {TypeError} If a field is not a string of bounded length.
 */
export function traceField(trace: TraceContext): string[] {
  const { traceparent, tracestate } = trace;
  if (
    typeof traceparent !== "string" || traceparent.length > MAX_TRACEPARENT ||
    (tracestate !== undefined &&
      (typeof tracestate !== "string" || tracestate.length > MAX_TRACESTATE))
  ) {
    throw new TypeError(
      `Cannot send the call's traceContext: expected a traceparent string of at most ${MAX_TRACEPARENT} characters and an optional tracestate string of at most ${MAX_TRACESTATE}`,
    );
  }
  return tracestate === undefined || tracestate === ""
    ? [traceparent]
    : [traceparent, tracestate];
}

/**
 * Reads the trace context of a request.
 *
 * @param value The request's trace field.
 * @param id The request's id, for the message.
 * @returns The context.
 * @throws {ProtocolError} If it is not one or two bounded strings.
 */
export function readTraceField(value: unknown, id: number): TraceContext {
  if (
    !Array.isArray(value) || value.length < 1 || value.length > 2 ||
    typeof value[0] !== "string" || value[0].length > MAX_TRACEPARENT ||
    (value.length === 2 &&
      (typeof value[1] !== "string" || value[1].length > MAX_TRACESTATE))
  ) {
    throw new ProtocolError(
      `Cannot handle REQUEST ${id}: its trace context is not [traceparent, tracestate?] (strings of at most ${MAX_TRACEPARENT} and ${MAX_TRACESTATE} characters)`,
    );
  }
  return value.length === 2
    ? { traceparent: value[0], tracestate: value[1] }
    : { traceparent: value[0] };
}

/**
 * Who the peer of a stream is, for interceptors.
 *
 * @param stream The connection's stream.
 * @param implementation What the peer said it is.
 * @param tokenPresented Whether its hello carried a token.
 * @returns The peer.
 */
export function peerOf(
  stream: ByteStream,
  implementation: string,
  tokenPresented: boolean,
): CallPeer {
  return Object.freeze({
    address: stream.remoteAddr ?? null,
    certificateSubject: stream.peerCertificateSubject ?? null,
    tokenPresented,
    implementation,
  });
}

/** What an outgoing call through interceptors needs of its connection. */
export interface OutgoingHost extends FailureSink {
  readonly handle: Connection;
  readonly peer: PeerInfo;
  readonly callPeer: CallPeer;
  send(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
    trace: TraceContext | null,
  ): PendingCall;
}

/** An outgoing request, as `request()` was given it. */
export interface OutgoingRequest {
  target: number;
  op: Op;
  path: readonly string[];
  payload: unknown;
  options: CallOptions | undefined;
}

/**
 * Sends a request through the connection's interceptors. A call may still
 * be pipelined on its result once the innermost `next()` has sent it: the
 * pipelined request then reaches the peer before the interceptors see this
 * call's result.
 *
 * @param host The connection.
 * @param list Its interceptors.
 * @param request The request.
 * @returns Its pending result.
 */
export function interceptOutgoing(
  host: OutgoingHost,
  list: readonly Interceptor[],
  request: OutgoingRequest,
): PendingResult {
  const { target, op, path, payload, options } = request;
  let sent: PendingCall | null = null;
  const info = new CallInfo({
    direction: "outgoing",
    protocol: "netref",
    service: host.peer.service ?? "",
    target,
    op,
    path,
    payload,
    connection: host.handle,
    peer: host.callPeer,
    traceContext: null,
  }, () => options?.signal);
  const promise = runIntercepted(list, info, () => {
    sent = host.send(target, op, path, payload, options, info.traceContext);
    // Its failure reaches the caller through the interceptors' promise.
    sent.observed = true;
    return sent.promise;
  });
  const result: PendingResult = {
    promise,
    pipelineTarget() {
      const pipelined = sent === null ? null : sent.pipelineTarget();
      // The pipelined request's caller receives this call's failure.
      if (pipelined !== null) result.observed = true;
      return pipelined;
    },
    observed: false,
  };
  reportUnawaited(result, host, describeTarget(target, path));
  return result;
}

/** What an incoming call through interceptors needs of its connection. */
export interface IncomingHost {
  readonly handle: Connection;
  readonly callPeer: CallPeer;
  readonly serviceName: string;
}

/** An incoming request, as the dispatcher read it. */
export interface IncomingRequest {
  target: number;
  op: Op;
  path: readonly string[];
  payload: unknown;
  trace: TraceContext | null;
  protocol: "netref" | "rpyc";
}

/**
 * Serves a request through the connection's interceptors.
 *
 * @param host The connection.
 * @param list Its interceptors.
 * @param call The call's state (its signal).
 * @param request The request.
 * @param serve Runs the handler; may throw.
 * @returns The handler's result, boxed, as the interceptors passed it on.
 */
export function interceptIncoming(
  host: IncomingHost,
  list: readonly Interceptor[],
  call: IncomingCall,
  request: IncomingRequest,
  serve: () => Promise<Boxed>,
): Promise<Boxed> {
  const info = new CallInfo({
    direction: "incoming",
    protocol: request.protocol,
    service: host.serviceName,
    target: request.target,
    op: request.op,
    path: request.path,
    payload: request.payload,
    connection: host.handle,
    peer: host.callPeer,
    traceContext: request.trace,
  }, () => controllerOf(call).signal);
  return runIntercepted(list, info, () => {
    try {
      return serve().then(unboxForChain);
    } catch (error) {
      return Promise.reject(error);
    }
  }).then(reboxFromChain);
}
