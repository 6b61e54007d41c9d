// OpenTelemetry traces and metrics of netref calls, recorded with the real
// SDK: spans of a call, its callback and an onward call form one trace with
// the right parents; failures have error status; the duration histograms
// count calls; old peers and Python clients still work.

// The SDK is a test-only dependency: imported by its full specifier here,
// not through deno.json, so that `deno task start` never downloads it.
// deno-lint-ignore-file no-import-prefix

import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "npm:@opentelemetry/sdk-trace-base@2.12.1";
import { AsyncLocalStorageContextManager } from "npm:@opentelemetry/context-async-hooks@2.12.1";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "npm:@opentelemetry/sdk-metrics@2.12.1";
import {
  connect,
  type Connection,
  currentCall,
  exposed,
  RemoteError,
  serve,
  service,
} from "../mod.ts";
import { openTelemetry } from "../observe.ts";
import { Kind, Op } from "../src/protocol/constants.ts";
import { eventually } from "./_harness.ts";
import { ServeProcess } from "./_cli.ts";
import { RawPeer } from "./_raw_peer.ts";
import { pythonLines } from "./_rpyc.ts";
import { client as pythonClient, served } from "./_rpyc_service.ts";

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spans)],
  }),
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

@service("echo")
class Echo {
  @exposed
  echo(value: unknown): unknown {
    return value;
  }
}

interface Caller {
  twice(n: number): number;
}

@service("front")
class Front {
  static backend: Connection<Echo> | null = null;
  @exposed
  async work(callback: (n: number) => Promise<number>): Promise<unknown> {
    const n = await callback(1);
    return await Front.backend!.root.echo(n + 1);
  }
  @exposed
  fail(): never {
    throw new RangeError("no such thing");
  }
  @exposed
  async callRoot(): Promise<number> {
    const peer = (currentCall().connection as Connection<Caller>).root;
    return await peer.twice(21);
  }
}

class CallerSide implements Caller {
  @exposed
  twice(n: number): number {
    return n * 2;
  }
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

function find(kind: SpanKind, name: string): ReadableSpan {
  const found = spans.getFinishedSpans().filter((s) =>
    s.kind === kind && s.name === name
  );
  assert.equal(
    found.length,
    1,
    `expected one ${SpanKind[kind]} span ${name}, got: ${
      spans.getFinishedSpans().map((s) => `${SpanKind[s.kind]} ${s.name}`)
        .join(", ")
    }`,
  );
  return found[0];
}

Deno.test("a call, the handler's callback into the client and its call to a second server form one trace", async () => {
  spans.reset();
  await using backend = serve(Echo, {
    port: 0,
    log: () => {},
    intercept: openTelemetry(),
  });
  await using front = serve(Front, {
    port: 0,
    log: () => {},
    intercept: openTelemetry(),
  });
  await using toBackend = await connect<Echo>(
    "127.0.0.1",
    backend.addr.port,
    { intercept: openTelemetry() },
  );
  Front.backend = toBackend;
  await using conn = await connect<Front>("127.0.0.1", front.addr.port, {
    intercept: openTelemetry(),
  });
  assert.equal(
    await conn.root.work((n: number) => Promise.resolve(n * 10)),
    11,
  );
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 6));

  const call = find(SpanKind.CLIENT, "front/work");
  const served = find(SpanKind.SERVER, "front/work");
  const callback = find(SpanKind.CLIENT, "netref/(ref)");
  const callbackServed = find(SpanKind.SERVER, "netref/(ref)");
  const onward = find(SpanKind.CLIENT, "echo/echo");
  const onwardServed = find(SpanKind.SERVER, "echo/echo");
  const traceId = call.spanContext().traceId;
  for (const span of [served, callback, callbackServed, onward, onwardServed]) {
    assert.equal(span.spanContext().traceId, traceId, span.name);
  }
  assert.equal(parentOf(call), undefined);
  assert.equal(parentOf(served), call.spanContext().spanId);
  assert.equal(parentOf(callback), served.spanContext().spanId);
  assert.equal(parentOf(callbackServed), callback.spanContext().spanId);
  assert.equal(parentOf(onward), served.spanContext().spanId);
  assert.equal(parentOf(onwardServed), onward.spanContext().spanId);

  assert.deepEqual(call.attributes, {
    "rpc.system": "netref",
    "rpc.service": "front",
    "rpc.method": "work",
    "server.address": "127.0.0.1",
    "server.port": front.addr.port,
    "network.transport": "tcp",
  });
  assert.equal(served.attributes["rpc.method"], "work");
  assert.equal(served.attributes["client.address"], "127.0.0.1");
  assert.equal(onward.attributes["server.port"], backend.addr.port);
  assert.equal(callbackServed.attributes["rpc.service"], undefined);
  for (const span of spans.getFinishedSpans()) {
    assert.equal(span.status.code, SpanStatusCode.UNSET, span.name);
  }
});

Deno.test("a failed call's spans have error status and the exception", async () => {
  spans.reset();
  await using server = serve(Front, {
    port: 0,
    log: () => {},
    intercept: openTelemetry(),
  });
  await using conn = await connect<Front>("127.0.0.1", server.addr.port, {
    intercept: openTelemetry(),
  });
  await assert.rejects(conn.root.fail(), RemoteError);
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 2));
  const served = find(SpanKind.SERVER, "front/fail");
  const call = find(SpanKind.CLIENT, "front/fail");
  for (const span of [served, call]) {
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.match(span.status.message ?? "", /no such thing/);
    assert.equal(span.events[0]?.name, "exception");
  }
  assert.equal(served.attributes["error.type"], "RangeError");
  assert.equal(call.attributes["error.type"], "RemoteError");
});

Deno.test("a server's call back to a client's own service is traced on both sides", async () => {
  spans.reset();
  await using server = serve(Front, {
    port: 0,
    log: () => {},
    intercept: openTelemetry(),
  });
  await using conn = await connect<Front>("127.0.0.1", server.addr.port, {
    service: new CallerSide(),
    intercept: openTelemetry(),
  });
  assert.equal(await conn.root.callRoot(), 42);
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 4));
  const back = find(SpanKind.SERVER, "CallerSide/twice");
  assert.equal(
    back.spanContext().traceId,
    find(SpanKind.CLIENT, "front/callRoot").spanContext().traceId,
  );
});

Deno.test("the duration histograms count the calls, and the connection and reference metrics are reported", async () => {
  const exporter = new InMemoryMetricExporter(
    AggregationTemporality.CUMULATIVE,
  );
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: 60_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = () => openTelemetry({ meterProvider });
  await using server = serve(Echo, {
    port: 0,
    log: () => {},
    intercept: telemetry(),
  });
  await using conn = await connect<Echo>("127.0.0.1", server.addr.port, {
    intercept: telemetry(),
  });
  for (let i = 0; i < 5; i++) assert.equal(await conn.root.echo(i), i);
  const held = await conn.root.echo(() => 1);
  await reader.forceFlush();
  const metrics = new Map(
    exporter.getMetrics().flatMap((r) => r.scopeMetrics).flatMap((s) =>
      s.metrics
    ).map((m) => [m.descriptor.name, m.dataPoints]),
  );
  for (const name of ["rpc.client.duration", "rpc.server.duration"]) {
    const points = metrics.get(name) as DataPoint<Histogram>[];
    assert.equal(points.length, 1, name);
    assert.equal(points[0].value.count, 6, name);
    assert.deepEqual(points[0].attributes, {
      "rpc.system": "netref",
      "rpc.service": "echo",
      "rpc.method": "echo",
    });
  }
  const calls = metrics.get("netref.calls") as DataPoint<number>[];
  assert.deepEqual(calls.map((p) => p.value), [6, 6]);
  const connections = metrics.get("netref.connections") as DataPoint<number>[];
  assert.equal(connections[0].value, 2);
  const exports = metrics.get("netref.connection.exports") as DataPoint<
    number
  >[];
  // The client exports the function it sent; the server exports nothing.
  assert.deepEqual(exports.map((p) => p.value).sort(), [0, 1]);
  assert.equal(typeof held, "function");
  await meterProvider.shutdown();
});

Deno.test("a peer that does not announce trace-context gets requests without one, and its own are served", async () => {
  spans.reset();
  await using server = serve(Echo, {
    port: 0,
    log: () => {},
    intercept: openTelemetry(),
  });
  await using peer = await RawPeer.connect(server.addr.port);
  assert.ok(await peer.sendHello({ features: [] }));
  assert.ok(
    await peer.sendMessages([
      Kind.REQUEST,
      1,
      0,
      Op.CALL,
      ["echo"],
      [7],
      false,
    ]),
  );
  assert.deepEqual(await peer.nextMessage(), [Kind.RESPONSE, 1, 7]);
  assert.ok(peer.hello?.features.includes("trace-context"));
  // A peer that announces it may send one, before the hold flag.
  const parent = "0af7651916cd43dd8448eb211c80319c";
  assert.ok(
    await peer.sendMessages([
      Kind.REQUEST,
      2,
      0,
      Op.CALL,
      ["echo"],
      [8],
      [`00-${parent}-b7ad6b7169203331-01`, "vendor=x"],
      false,
    ]),
  );
  assert.deepEqual(await peer.nextMessage(), [Kind.RESPONSE, 2, 8]);
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 2));
  const [first, second] = spans.getFinishedSpans();
  assert.equal(parentOf(first), undefined);
  assert.equal(second.spanContext().traceId, parent);
  assert.equal(parentOf(second), "b7ad6b7169203331");
  assert.equal(second.parentSpanContext?.traceState?.get("vendor"), "x");
});

Deno.test("a traced client sends a server that does not announce trace-context requests without one", async () => {
  spans.reset();
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connecting = connect<Echo>("127.0.0.1", listener.addr.port, {
    intercept: openTelemetry(),
  });
  await using server = RawPeer.accepted(await listener.accept());
  assert.ok(await server.sendHello({ features: [] }));
  await using conn = await connecting;
  const answer = conn.root.echo(5);
  const request = await server.nextMessage();
  assert.deepEqual(request, [
    Kind.REQUEST,
    1,
    0,
    Op.CALL,
    ["echo"],
    [5],
    false,
  ]);
  assert.ok(server.hello?.features.includes("trace-context"));
  assert.ok(await server.sendMessages([Kind.RESPONSE, 1, 5]));
  assert.equal(await answer, 5);
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 1));
  assert.equal(spans.getFinishedSpans()[0].name, "netref/echo");
});

Deno.test("a request whose trace context is malformed closes the connection with a protocol error", async () => {
  const logs: string[] = [];
  await using server = serve(Echo, {
    port: 0,
    log: (line) => logs.push(line),
  });
  await using peer = await RawPeer.connect(server.addr.port);
  assert.ok(await peer.sendHello());
  await peer.sendMessages([Kind.REQUEST, 1, 0, Op.CALL, ["echo"], [1], [
    42,
  ], false]);
  const transcript = await peer.readToEnd();
  assert.match(transcript.closeReason ?? "", /trace context is not/);
});

Deno.test("a Python RPyC client's calls get server spans of their own", async () => {
  spans.reset();
  await using server = served({ intercept: openTelemetry() });
  const lines = await pythonLines(
    pythonClient(`print(c.root.add(2, 3))
c.close()`),
    { args: [String(server.port)] },
  );
  assert.deepEqual(lines, ["5"]);
  assert.ok(await eventually(() => spans.getFinishedSpans().length === 1));
  const [span] = spans.getFinishedSpans();
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.name, "py-facing/add");
  assert.equal(span.attributes["rpc.system"], "rpyc");
  assert.equal(parentOf(span), undefined);
});

Deno.test("netref serve --log json writes one parseable JSON line per connection event", async () => {
  await using server = await ServeProcess.serve("--log", "json");
  const conn = await connect<{ foo(): string }>("127.0.0.1", server.port);
  assert.equal(await conn.root.foo(), "foo");
  await conn.close();
  await server.waitFor("stderr", /connection\.close/);
  assert.equal(await server.stop("SIGINT"), 0);
  const records = server.stderr.trim().split("\n").map((line) =>
    JSON.parse(line)
  );
  const open = records.find((r) => r.event === "connection.open");
  assert.equal(open.level, "info");
  assert.match(open.peer, /^127\.0\.0\.1:\d+$/);
  assert.ok(!Number.isNaN(Date.parse(open.time)));
  assert.ok(records.some((r) => r.event === "connection.close"));
  assert.equal(records.at(-1).message, "stopped");
});

Deno.test("netref serve with OTEL_DENO=true exports a span per call and the call metrics over OTLP", async () => {
  const received = new Map<string, unknown[]>();
  await using collector = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (request) => {
    const path = new URL(request.url).pathname;
    received.set(path, [...received.get(path) ?? [], await request.json()]);
    return Response.json({});
  });
  await using server = await ServeProcess.run(["serve", "--port", "0"], {
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "calc",
    },
  });
  const conn = await connect<{ foo(): string }>("127.0.0.1", server.port);
  assert.equal(await conn.root.foo(), "foo");
  await conn.close();
  // Deno exports what is left as the process exits.
  assert.equal(await server.stop("SIGINT"), 0);
  const text = JSON.stringify({
    traces: received.get("/v1/traces"),
    metrics: received.get("/v1/metrics"),
  });
  assert.match(text, /"name":"test\/foo"/);
  assert.match(text, /"stringValue":"calc"/);
  assert.match(text, /"name":"rpc\.server\.duration"/);
});
