/**
 * netref with `openTelemetry()` on both sides, for the tracing rows: with no
 * provider registered (what an unobserved program pays: it must be plain
 * netref's cost), and with the SDK's tracer and meter providers registered
 * globally, recording every span and metric and exporting nothing.
 *
 * - Traces: `BasicTracerProvider` with a `BatchSpanProcessor` into an
 *   exporter that drops the spans (the processor's batching and queue are
 *   paid, no export is).
 * - Metrics: `MeterProvider` with a reader that is never read (every
 *   measurement is aggregated; none is collected).
 * - Context: `AsyncLocalStorageContextManager`, so that parents follow
 *   `await`s as they would in a real program.
 *
 * Each process loads one system, so registering the providers here, when
 * the SDK system is loaded, touches only its own server or client.
 *
 * @module
 */

import { context, metrics, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { openTelemetry } from "../observe.ts";
import { netrefWith } from "./_netref.ts";
import type { BenchSystem } from "./_system.ts";

/** Takes every batch of spans and drops it. */
class DroppingExporter implements SpanExporter {
  export(
    _spans: ReadableSpan[],
    done: Parameters<SpanExporter["export"]>[1],
  ): void {
    done({ code: 0 });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A metric reader nothing ever reads. */
class NeverRead extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * netref with `openTelemetry()` on both sides and no provider registered.
 *
 * @example
 * ```ts ignore
 * import { otelNoop } from "./_netref_otel.ts";
 * const server = await otelNoop.serve();
 * ```
 */
export const otelNoop: BenchSystem = netrefWith({
  intercept: () => openTelemetry(),
});

/**
 * Registers the SDK's tracer provider, meter provider and context manager
 * globally, then gives netref with `openTelemetry()` on both sides.
 *
 * @returns The system.
 *
 * @example
 * ```ts ignore
 * import { otelSdk } from "./_netref_otel.ts";
 * const server = await otelSdk().serve();
 * ```
 */
export function otelSdk(): BenchSystem {
  context.setGlobalContextManager(
    new AsyncLocalStorageContextManager().enable(),
  );
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(new DroppingExporter())],
    }),
  );
  metrics.setGlobalMeterProvider(
    new MeterProvider({ readers: [new NeverRead()] }),
  );
  const system = netrefWith({ intercept: () => openTelemetry() });
  const intercepts = openTelemetry();
  if (intercepts.length === 0) {
    throw new Error("openTelemetry() found no provider after registering one");
  }
  return system;
}
