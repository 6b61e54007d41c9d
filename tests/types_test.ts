// Types of remote objects: a root of unknown type (connect() without a type
// argument, connectRpyc(), ...) reaches any member path, called and awaited,
// as `unknown`; a typed root stays exact. Most of this file is checked by
// `deno check` only: the functions named `typeOnly...` are never called.

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  connectSubprocess,
  connectWebSocket,
  exposed,
  type Remote,
  serve,
} from "../mod.ts";
import type { RemoteAny } from "../client.ts";
import { connectRpyc } from "../rpyc.ts";
import type { TestService } from "../examples/test_service.ts";

/** `true` when `A` and `B` are the same type (not merely assignable). */
type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends
  (<X>() => X extends B ? 1 : 2) ? true : false;

/** Compiles only when its type argument is `true`. */
function assertType<_ extends true>(): void {}

interface Streaming {
  count(n: number): AsyncGenerator<number>;
  lines(): Generator<string>;
  file(): Promise<ReadableStream<Uint8Array>>;
  sink(): WritableStream<string>;
}

async function typeOnlyStreams(conn: Connection<Streaming>): Promise<void> {
  // Streams arrive as what `for await` reads, not as netrefs.
  const counted = await conn.root.count(3);
  assertType<
    Equals<typeof counted, AsyncIterableIterator<number> & AsyncDisposable>
  >();
  for await (const line of await conn.root.lines()) line.toUpperCase();
  const file = await conn.root.file();
  assertType<Equals<typeof file, ReadableStream<Uint8Array>>>();
  const sink = await conn.root.sink();
  assertType<Equals<typeof sink, WritableStream<string>>>();
}

async function typeOnlyUntypedRoots(): Promise<void> {
  const rpyc = await connectRpyc("h", 1);
  await rpyc.root.anything(1).deeper;
  const plain = await connect("h", 1);
  await plain.root.anything(1).deeper;
  const ws = await connectWebSocket("ws://h:1");
  await ws.root.anything.deeper("x", 2);
  const child = await connectSubprocess("server.ts");
  await child.root.anything(1).deeper;

  // Every step of a path is reachable; awaited, each gives unknown.
  const read = await rpyc.root.settings.nested.name;
  const called = await rpyc.root.add(1, 2);
  const pipelined = await rpyc.root.make().child.name;
  assertType<Equals<typeof read, unknown>>();
  assertType<Equals<typeof called, unknown>>();
  assertType<Equals<typeof pipelined, unknown>>();
  assertType<Equals<typeof rpyc.root, RemoteAny>>();
  assertType<Equals<Remote<unknown>, RemoteAny>>();
  assertType<Equals<Remote, RemoteAny>>();

  // A netref it returns arrives as unknown; `as Remote` reaches it again.
  const made = await rpyc.root.make() as Remote;
  const fromMade = await made.child.greet("x");
  assertType<Equals<typeof fromMade, unknown>>();

  // A call's result is a real promise: catch and finally work.
  const caught = await rpyc.root.fails().catch(() => "caught");
  assertType<Equals<typeof caught, unknown>>();

  // The root itself is not awaitable (its `then` is never remote): awaiting
  // it gives the root back, not never.
  const root = await rpyc.root;
  assertType<Equals<typeof root, RemoteAny>>();

  // Local names stay local.
  assertType<Equals<ReturnType<typeof rpyc.root.toString>, string>>();

  // A root is released with `using`, typed or not.
  using _released = rpyc.root;
}

async function typeOnlyTypedRoots(): Promise<void> {
  const conn = await connect<TestService>("h", 1);
  const foo = await conn.root.foo();
  assertType<Equals<typeof foo, string>>();
  const version = await conn.root.version;
  assertType<Equals<typeof version, string>>();
  const count = await conn.root.makeCounter().increment(2);
  assertType<Equals<typeof count, number>>();

  // @ts-expect-error TestService has no member `anything`
  await conn.root.anything();
  // @ts-expect-error foo() takes no arguments
  await conn.root.foo(1);
  // @ts-expect-error increment() takes a number
  await conn.root.makeCounter().increment("2");
  // @ts-expect-error a Counter has no member `deeper`
  await conn.root.makeCounter().deeper;

  const rpyc = await connectRpyc<TestService>("h", 1);
  // @ts-expect-error a typed RPyC root is exact too
  await rpyc.root.anything;
}

function typeOnlyConnections(
  typed: Connection<TestService>,
  untyped: Connection,
): void {
  // A typed connection is a Connection: functions taking any connection
  // accept it, and see an untyped root.
  const anyConnection: Connection = typed;
  assertType<Equals<typeof anyConnection.root, RemoteAny>>();
  // An untyped connection gets its type back with a cast.
  const cast = (untyped as Connection<TestService>).root.foo();
  assertType<Equals<Awaited<typeof cast>, string>>();
  // @ts-expect-error but not without one
  const _narrowed: Connection<TestService> = untyped;
}

// Referenced, so that lint sees them used; never called.
void [
  typeOnlyUntypedRoots,
  typeOnlyTypedRoots,
  typeOnlyConnections,
  typeOnlyStreams,
];

class Greeter {
  @exposed
  greet(name: string): string {
    return `hello, ${name}`;
  }
  @exposed
  settings = { name: "greeter" };
  @exposed
  make(): Greeter {
    return new Greeter();
  }
}

Deno.test("an untyped root calls, reads and pipelines any member at runtime", async () => {
  await using server = serve(Greeter, { port: 0, log: () => {} });
  await using conn = await connect("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.greet("netref"), "hello, netref");
  assert.deepEqual(await conn.root.settings, { name: "greeter" });
  assert.equal(await conn.root.make().greet("pipelined"), "hello, pipelined");
  using made = await conn.root.make() as Remote;
  assert.equal(await made.greet("again"), "hello, again");
});
