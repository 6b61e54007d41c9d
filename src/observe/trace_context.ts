/**
 * W3C Trace Context (`traceparent`, `tracestate`) to and from
 * OpenTelemetry's span contexts: written here rather than through a
 * registered propagator, so that calls carry their trace whether or not
 * the application registered one.
 *
 * @module
 */

import {
  createTraceState,
  isSpanContextValid,
  type SpanContext,
} from "@opentelemetry/api";
import type { TraceContext } from "../core/intercept.ts";

const TRACEPARENT =
  /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The trace context that continues `span` on the peer.
 *
 * @param span The caller's span context.
 * @returns Its headers, or null for an invalid (non-recording) context.
 */
export function traceContextOf(span: SpanContext): TraceContext | null {
  if (!isSpanContextValid(span)) return null;
  const flags = (span.traceFlags & 0xff).toString(16).padStart(2, "0");
  const context: TraceContext = {
    traceparent: `00-${span.traceId}-${span.spanId}-${flags}`,
  };
  const state = span.traceState?.serialize();
  if (state) context.tracestate = state;
  return context;
}

/**
 * The remote span context a peer sent, as W3C Trace Context says to read
 * it: version ff and all-zero ids are invalid; a later version's extra
 * fields are ignored.
 *
 * @param context The headers received.
 * @returns The span context, or null if the headers are not valid.
 */
export function spanContextOf(context: TraceContext): SpanContext | null {
  const match = TRACEPARENT.exec(context.traceparent);
  if (match === null) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) {
    return null;
  }
  const span: SpanContext = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16),
    isRemote: true,
  };
  if (!isSpanContextValid(span)) return null;
  if (context.tracestate !== undefined) {
    span.traceState = createTraceState(context.tracestate);
  }
  return span;
}
