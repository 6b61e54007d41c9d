/**
 * Watching netref in production: interceptors that every call passes
 * through, and OpenTelemetry traces and metrics built on them.
 *
 * `openTelemetry()` gives the interceptors that record each call as a span
 * (CLIENT on the caller, SERVER on the handler's side, one trace across
 * callbacks and onward calls) and as metrics, through
 * `npm:@opentelemetry/api`: whatever provider the application registered,
 * or Deno's own with `OTEL_DENO=true`. With none registered it gives none,
 * and calls cost what they cost without it.
 *
 * ```ts
 * import { connect, exposed, serve } from "@netref/netref";
 * import { openTelemetry } from "@netref/netref/observe";
 *
 * class Greeter {
 *   @exposed greet(name: string) { return `hello, ${name}`; }
 * }
 * await using server = serve(Greeter, {
 *   port: 0,
 *   intercept: openTelemetry(),
 * });
 * await using conn = await connect<Greeter>("127.0.0.1", server.addr.port, {
 *   intercept: openTelemetry(),
 * });
 * console.assert(await conn.root.greet("otel") === "hello, otel");
 * ```
 *
 * @module
 */

export type {
  CallPeer,
  InterceptedCall,
  Interceptor,
  TraceContext,
} from "./src/core/intercept.ts";
export type { Connection } from "./client.ts";
export type {
  MeterProviderLike,
  OpenTelemetryOptions,
  TracerProviderLike,
} from "./src/observe/telemetry.ts";
export { openTelemetry } from "./src/observe/telemetry.ts";
