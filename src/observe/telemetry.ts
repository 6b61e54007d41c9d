/**
 * Traces and metrics of netref calls through OpenTelemetry's API, built as
 * one interceptor: a CLIENT span for each call this side sends, a SERVER
 * span for each call it serves, their trace carried in the request, and
 * call, connection and reference metrics.
 *
 * @module
 */

import {
  type Attributes,
  context,
  type Counter,
  createNoopMeter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
  type UpDownCounter,
} from "@opentelemetry/api";
import type { InterceptedCall, Interceptor } from "../core/intercept.ts";
import type { Connection } from "../core/types.ts";
import { spanContextOf, traceContextOf } from "./trace_context.ts";

/** The instrumentation scope's name and version. */
const SCOPE = "@netref/netref";
const VERSION = "0.1.0";

/** What netref uses of an OpenTelemetry `TracerProvider`, such as the SDK's. */
export interface TracerProviderLike {
  /** Gives the tracer of an instrumentation scope. */
  getTracer(name: string, version?: string): object;
}

/** What netref uses of an OpenTelemetry `MeterProvider`, such as the SDK's. */
export interface MeterProviderLike {
  /** Gives the meter of an instrumentation scope. */
  getMeter(name: string, version?: string): object;
}

/** Options of {@linkcode openTelemetry}. */
export interface OpenTelemetryOptions {
  /**
   * Where spans go.
   *
   * @default {the global tracer provider, if one is registered}
   */
  tracerProvider?: TracerProviderLike;
  /**
   * Where metrics go.
   *
   * @default {the global meter provider, if one is registered}
   */
  meterProvider?: MeterProviderLike;
}

/** The global tracer provider, or null while none is registered. */
function globalTracerProvider(): TracerProvider | null {
  const provider = trace.getTracerProvider() as TracerProvider & {
    getDelegateTracer?: (name: string) => Tracer | undefined;
  };
  // The API's proxy provider has a delegate once one is registered; a
  // provider set otherwise (Deno's own, with OTEL_DENO=true) is no proxy.
  if (typeof provider.getDelegateTracer !== "function") return provider;
  return provider.getDelegateTracer(SCOPE) === undefined ? null : provider;
}

/** The class of the API's no-op meters, which a no-op provider hands out. */
const NOOP_METER = createNoopMeter().constructor;

/** The global meter provider, or null while none is registered. */
function globalMeterProvider(): MeterProvider | null {
  const provider = metrics.getMeterProvider();
  return provider.getMeter(SCOPE).constructor === NOOP_METER ? null : provider;
}

/**
 * The interceptors that record every call of a connection or server as
 * OpenTelemetry spans and metrics: none when no tracer or meter provider is
 * registered (or given), so that an unobserved server pays nothing. Call it
 * after registering them; with `OTEL_DENO=true`, Deno registers its own
 * before any module runs.
 *
 * Spans follow the RPC semantic conventions: a CLIENT span per call sent,
 * a SERVER span per call served, named `<service>/<method>`. The caller's
 * trace travels in the request to netref peers that announce
 * `trace-context`, so a call, the callbacks it makes and the calls its
 * handler makes to other netref servers form one trace. Parent spans
 * follow `await`s only with a context manager registered (Deno's, with
 * OTEL_DENO=true, or `AsyncLocalStorageContextManager`).
 *
 * @param options Providers to use instead of the global ones.
 * @returns The interceptors: one, or none.
 *
 * @example Recording a server's calls
 * ```ts
 * import { serve } from "../../mod.ts";
 * import { openTelemetry } from "./telemetry.ts";
 * class Hello {}
 * const server = serve(Hello, { port: 0, intercept: openTelemetry() });
 * await server.shutdown();
 * ```
 */
export function openTelemetry(
  options: OpenTelemetryOptions = {},
): Interceptor[] {
  const tracerProvider = (options.tracerProvider ?? globalTracerProvider()) as
    | TracerProvider
    | null;
  const meterProvider = (options.meterProvider ?? globalMeterProvider()) as
    | MeterProvider
    | null;
  if (tracerProvider === null && meterProvider === null) return [];
  return [
    telemetryInterceptor(
      tracerProvider?.getTracer(SCOPE, VERSION) ?? null,
      meterProvider === null
        ? null
        : new Instruments(meterProvider.getMeter(SCOPE, VERSION)),
    ),
  ];
}

const OUTGOING = { "netref.direction": "outgoing" };
const INCOMING = { "netref.direction": "incoming" };

/** The metrics of calls and connections. */
class Instruments {
  readonly serverDuration: Histogram;
  readonly clientDuration: Histogram;
  readonly calls: Counter;
  readonly errors: Counter;
  readonly inFlight: UpDownCounter;
  readonly connections: UpDownCounter;
  readonly #open = new Set<Connection>();

  constructor(meter: Meter) {
    this.serverDuration = meter.createHistogram("rpc.server.duration", {
      description: "Time to serve a call, from its arrival to its answer",
      unit: "ms",
    });
    this.clientDuration = meter.createHistogram("rpc.client.duration", {
      description: "Time a call took, from sending it to its answer",
      unit: "ms",
    });
    this.calls = meter.createCounter("netref.calls", {
      description: "Calls sent (outgoing) and served (incoming)",
      unit: "{call}",
    });
    this.errors = meter.createCounter("netref.call.errors", {
      description: "Calls that failed",
      unit: "{call}",
    });
    this.inFlight = meter.createUpDownCounter("netref.calls.in_flight", {
      description: "Calls sent or being served, not yet answered",
      unit: "{call}",
    });
    this.connections = meter.createUpDownCounter("netref.connections", {
      description: "Open connections",
      unit: "{connection}",
    });
    const exports = meter.createObservableGauge("netref.connection.exports", {
      description: "Local objects the peer of a connection holds references to",
      unit: "{object}",
    });
    const imports = meter.createObservableGauge("netref.connection.imports", {
      description: "Objects of the peer of a connection with a live proxy here",
      unit: "{object}",
    });
    meter.addBatchObservableCallback((result) => {
      for (const connection of this.#open) {
        const stats = connection.stats;
        const attributes = { "netref.peer": describePeer(connection) };
        result.observe(exports, stats.exports, attributes);
        result.observe(imports, stats.imports, attributes);
      }
    }, [exports, imports]);
  }

  /**
   * Counts a call in flight.
   *
   * @returns When it started.
   */
  begin(outgoing: boolean): number {
    this.inFlight.add(1, outgoing ? OUTGOING : INCOMING);
    return performance.now();
  }

  /** Records a call's duration and outcome. */
  end(
    outgoing: boolean,
    start: number,
    attributes: Attributes,
    failed: boolean,
    error: unknown,
  ): void {
    this.inFlight.add(-1, outgoing ? OUTGOING : INCOMING);
    const measured = !failed
      ? attributes
      : { ...attributes, "error.type": errorType(error) };
    (outgoing ? this.clientDuration : this.serverDuration)
      .record(performance.now() - start, measured);
    const counted = {
      ...measured,
      "netref.direction": outgoing ? "outgoing" : "incoming",
    };
    this.calls.add(1, counted);
    if (failed) this.errors.add(1, counted);
  }

  /** Counts a connection while it is open. */
  opened(connection: Connection): void {
    const attributes = { "rpc.system": systemOf(connection) };
    this.#open.add(connection);
    this.connections.add(1, attributes);
    connection.closed.then(() => {
      this.#open.delete(connection);
      this.connections.add(-1, attributes);
    });
  }
}

function systemOf(connection: Connection): string {
  return connection.peer.implementation.startsWith("rpyc") ? "rpyc" : "netref";
}

function describePeer(connection: Connection): string {
  const addr = connection.remoteAddr;
  if (addr === null) return "local";
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return `${addr.hostname}:${addr.port}`;
  }
  return "path" in addr ? addr.path : addr.transport;
}

/** The conventional attributes of a call, shared by its span and metrics. */
function callAttributes(call: InterceptedCall): Attributes {
  const attributes: Attributes = {
    "rpc.system": call.protocol,
    "rpc.method": call.method || "(ref)",
  };
  if (call.service !== "") attributes["rpc.service"] = call.service;
  if (call.operation !== "call") {
    attributes["netref.operation"] = call.operation;
  }
  return attributes;
}

/** Where the peer is: the server's address on a CLIENT span, the client's on a SERVER span. */
function addPeer(attributes: Attributes, call: InterceptedCall): void {
  const addr = call.peer.address;
  if (addr === null) return;
  const side = call.direction === "outgoing" ? "server" : "client";
  if (addr.transport === "tcp" || addr.transport === "udp") {
    attributes[`${side}.address`] = addr.hostname;
    attributes[`${side}.port`] = addr.port;
    attributes["network.transport"] = addr.transport;
  } else {
    if ("path" in addr && addr.path !== "") {
      attributes[`${side}.address`] = addr.path;
    }
    attributes["network.transport"] = addr.transport === "unix"
      ? "unix"
      : addr.transport;
  }
  if (call.peer.certificateSubject !== null) {
    attributes["tls.client.subject"] = call.peer.certificateSubject;
  }
}

function errorType(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function telemetryInterceptor(
  tracer: Tracer | null,
  instruments: Instruments | null,
): Interceptor {
  const intercept: Interceptor = (call, next) => {
    const outgoing = call.direction === "outgoing";
    const attributes = callAttributes(call);
    const start = instruments === null ? 0 : instruments.begin(outgoing);
    let span: Span | null = null;
    let result: Promise<unknown>;
    if (tracer === null) {
      result = next();
    } else {
      const spanAttributes = { ...attributes };
      addPeer(spanAttributes, call);
      const name = `${call.service || "netref"}/${attributes["rpc.method"]}`;
      if (outgoing) {
        span = tracer.startSpan(name, {
          kind: SpanKind.CLIENT,
          attributes: spanAttributes,
        }, context.active());
        call.traceContext = traceContextOf(span.spanContext());
        result = next();
      } else {
        const remote = call.traceContext === null
          ? null
          : spanContextOf(call.traceContext);
        const parent = remote === null
          ? ROOT_CONTEXT
          : trace.setSpanContext(ROOT_CONTEXT, remote);
        span = tracer.startSpan(name, {
          kind: SpanKind.SERVER,
          attributes: spanAttributes,
        }, parent);
        result = context.with(trace.setSpan(parent, span), next);
      }
    }
    return result.then((value) => {
      instruments?.end(outgoing, start, attributes, false, null);
      span?.end();
      return value;
    }, (error) => {
      instruments?.end(outgoing, start, attributes, true, error);
      if (span !== null) failSpan(span, error);
      throw error;
    });
  };
  if (instruments !== null) {
    intercept.opened = (connection) => instruments.opened(connection);
  }
  return intercept;
}

function failSpan(span: Span, error: unknown): void {
  span.recordException(
    error instanceof Error ? error : String(error),
  );
  span.setAttribute("error.type", errorType(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
  span.end();
}
