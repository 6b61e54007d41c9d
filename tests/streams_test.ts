/**
 * Streams over real TCP: async iterables and `ReadableStream`s as results
 * and arguments, under the credit window, cancelled every way, refused over
 * the limit, and protected from a peer that breaks the credit rule.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  exposed,
  serve,
  withOptions,
} from "../mod.ts";
import { ConnectionClosedError, RemoteError, TimeoutError } from "../client.ts";
import { Kind, Op } from "../src/protocol/constants.ts";
import { WireStream } from "../src/protocol/codec.ts";
import { type FixtureProcess, startFixture } from "./_processes.ts";
import { RawPeer, RawStream } from "./_raw_peer.ts";
import { delay, eventually, harness } from "./_harness.ts";
import { CLI, fixture, PERMISSIONS, runCli, ServeProcess } from "./_cli.ts";

/** The stream fixture's service, as the tests call it. */
interface StreamService {
  logs: { tail(n: number): AsyncGenerator<string> };
  count(n: number): AsyncGenerator<number>;
  countSync(n: number): Generator<number>;
  forever(): AsyncGenerator<number>;
  watched(): AsyncGenerator<number>;
  stall(): AsyncGenerator<number>;
  fails(n: number): AsyncGenerator<number>;
  megabytes(): AsyncGenerator<Uint8Array>;
  file(path: string): Promise<ReadableStream<Uint8Array>>;
  writeFile(path: string, target: WritableStream<Uint8Array>): Promise<void>;
  sum(numbers: AsyncIterable<number> | Iterator<number>): Promise<number>;
  take(items: AsyncIterable<unknown>, n: number): Promise<unknown[]>;
  finallyAt(): number | null;
  abortReason(): string | null;
  stats(): { streams: number; exports: number; imports: number };
  now(): number;
  heap(): number;
}

async function streamServer(maxStreams = 1024): Promise<FixtureProcess> {
  return await startFixture("stream_server.ts", [String(maxStreams)], [
    "--allow-net",
    "--allow-read",
    "--v8-flags=--expose-gc",
  ]);
}

async function open(
  server: FixtureProcess,
): Promise<Connection<StreamService>> {
  return await connect<StreamService>("127.0.0.1", server.ready.port);
}

Deno.test("for await sums 1,000,000 numbers a server process streams", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const start = performance.now();
  let sum = 0;
  let count = 0;
  for await (const n of await conn.root.count(1_000_000)) {
    sum += n;
    count++;
  }
  const ms = performance.now() - start;
  assert.equal(count, 1_000_000);
  assert.equal(sum, 999_999 * 1_000_000 / 2);
  console.log(
    `  1,000,000 numbers in ${ms.toFixed(0)} ms: ${
      Math.round(1_000_000 / ms * 1000).toLocaleString("en")
    } items/s`,
  );
  assert.equal(conn.stats.streams, 0);
});

Deno.test("a sync generator and a path (root.logs.tail) stream too", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const lines: string[] = [];
  for await (const line of await conn.root.logs.tail(3)) lines.push(line);
  assert.deepEqual(lines, ["line 0", "line 1", "line 2"]);
  let sum = 0;
  for await (const n of await conn.root.countSync(10_000)) sum += n;
  assert.equal(sum, 9_999 * 10_000 / 2);
});

Deno.test("breaking out after 10 items runs the server generator's finally within 100 ms and its counts return to 0", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  let seen = 0;
  for await (const _ of await conn.root.forever()) {
    if (++seen === 10) break;
  }
  const brokeAt = await conn.root.now(); // the server's clock, one round trip on
  assert.ok(
    await eventuallyAsync(async () => (await conn.root.finallyAt()) !== null),
    "the generator's finally never ran",
  );
  const ranAt = (await conn.root.finallyAt())!;
  assert.ok(ranAt - brokeAt < 100, `finally ran ${ranAt - brokeAt} ms late`);
  assert.ok(
    await eventuallyAsync(async () => (await conn.root.stats()).streams === 0),
  );
  assert.deepEqual(await conn.root.stats(), {
    streams: 0,
    exports: 0,
    imports: 0,
  });
  assert.equal(conn.stats.streams, 0);
});

Deno.test("a producer's error reaches the consumer as a RemoteError with the remote stack", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const seen: number[] = [];
  const error = await rejection(async () => {
    for await (const n of await conn.root.fails(3)) seen.push(n);
  }) as RemoteError;
  assert.ok(error instanceof RemoteError);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(error.remoteName, "RangeError");
  assert.match(error.message, /producer failed after 3 items/);
  assert.match(error.remoteStack ?? "", /stream_server\.ts/);
  assert.match(error.stack ?? "", /streams_test\.ts/);
  assert.equal(conn.stats.streams, 0);
});

Deno.test("a consumer's abort signal stops the producer, which sees an AbortError", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const controller = new AbortController();
  const stream = await withOptions(conn.root, { signal: controller.signal })
    .watched();
  let seen = 0;
  const error = await rejection(async () => {
    for await (const _ of stream) {
      if (++seen === 5) controller.abort(new Error("enough"));
    }
  });
  assert.match(String(error), /enough/);
  assert.ok(
    await eventuallyAsync(async () => (await conn.root.abortReason()) !== null),
  );
  assert.match(
    (await conn.root.abortReason())!,
    /^AbortError: The stream was cancelled by/,
  );
  assert.equal(conn.stats.streams, 0);
});

Deno.test("a wait for an item longer than the call's timeout fails and stops the producer", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const stream = await withOptions(conn.root, { timeout: 200 }).stall();
  const items: number[] = [];
  await assert.rejects(async () => {
    for await (const n of stream) items.push(n);
  }, TimeoutError);
  assert.deepEqual(items, [1]);
  assert.ok(
    await eventuallyAsync(async () => (await conn.root.abortReason()) !== null),
  );
  assert.match((await conn.root.abortReason())!, /^AbortError/);
});

Deno.test("closing the connection ends the server's producer", async () => {
  await using server = await streamServer();
  await using watcher = await open(server);
  const conn = await open(server);
  let seen = 0;
  for await (const _ of await conn.root.forever()) {
    if (++seen === 3) break;
  }
  // Another stream, left open.
  const open2 = await conn.root.forever();
  await open2.next();
  await conn.close();
  assert.ok(
    await eventuallyAsync(async () =>
      (await watcher.root.finallyAt()) !== null
    ),
  );
  // What had arrived is still read, then the reason it stopped.
  const error = await rejection(async () => {
    for await (const _ of open2) { /* drain */ }
  });
  assert.ok(error instanceof ConnectionClosedError, String(error));
});

Deno.test("a slow consumer keeps the server's heap growth under 32 MB while the producer could yield a gigabyte", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  const before = await conn.root.heap();
  let most = 0;
  let read = 0;
  for await (const chunk of await conn.root.megabytes()) {
    assert.equal(chunk.length, 1024 * 1024);
    assert.equal(chunk[0], read & 0xff);
    read++;
    await delay(1);
    if (read % 25 === 0) most = Math.max(most, await conn.root.heap());
    if (read === 250) break;
  }
  const growth = (most - before) / (1024 * 1024);
  console.log(`  server heap grew by at most ${growth.toFixed(1)} MB`);
  assert.ok(growth < 32, `the server's heap grew by ${growth} MB`);
  assert.ok(
    await eventuallyAsync(async () => (await conn.root.finallyAt()) !== null),
  );
});

Deno.test("a 256 MiB file round-trips byte-identical through a ReadableStream, and through a WritableStream", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netref-streams-" });
  try {
    const source = `${dir}/source.bin`;
    const copy = `${dir}/copy.bin`;
    const MiB = 1024 * 1024;
    const block = new Uint8Array(MiB);
    for (let i = 0; i < MiB; i += 65536) {
      crypto.getRandomValues(block.subarray(i, i + 65536));
    }
    {
      using file = await Deno.open(source, { write: true, create: true });
      for (let i = 0; i < 256; i++) {
        block[0] = i; // every mebibyte differs
        let written = 0;
        while (written < MiB) {
          written += await file.write(block.subarray(written));
        }
      }
    }
    await using server = await streamServer();
    await using conn = await open(server);
    const start = performance.now();
    const readable = await conn.root.file(source);
    assert.ok(readable instanceof ReadableStream);
    const out = await Deno.open(copy, { write: true, create: true });
    await readable.pipeTo(out.writable);
    const ms = performance.now() - start;
    console.log(
      `  256 MiB in ${ms.toFixed(0)} ms: ${
        (256 / (ms / 1000)).toFixed(0)
      } MiB/s`,
    );
    assert.ok(await sameBytes(source, copy), "the copy differs");
    assert.equal((await Deno.stat(copy)).size, 256 * MiB);
    assert.equal(conn.stats.streams, 0);

    // The other way: the client's WritableStream, written by the server.
    const back = `${dir}/back.bin`;
    const start2 = performance.now();
    const target = await Deno.open(back, { write: true, create: true });
    await conn.root.writeFile(source, target.writable);
    const ms2 = performance.now() - start2;
    console.log(
      `  256 MiB into a WritableStream in ${ms2.toFixed(0)} ms: ${
        (256 / (ms2 / 1000)).toFixed(0)
      } MiB/s`,
    );
    assert.ok(await sameBytes(source, back), "the written copy differs");
    assert.equal(conn.stats.streams, 0);
    assert.equal((await conn.root.stats()).streams, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a client streams an async generator, a sync generator and a Set iterator to the server", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  async function* numbers(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
  function* syncNumbers(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
  assert.equal(await conn.root.sum(numbers(100_000)), 99_999 * 100_000 / 2);
  assert.equal(await conn.root.sum(syncNumbers(1000)), 999 * 1000 / 2);
  assert.equal(await conn.root.sum(new Set([1, 2, 3]).values()), 6);
  assert.equal(conn.stats.streams, 0);
});

Deno.test("the server stopping after 3 items of the client's stream runs the client generator's finally", async () => {
  await using server = await streamServer();
  await using conn = await open(server);
  let finished = false;
  async function* forever() {
    try {
      for (let i = 0;; i++) yield { i };
    } finally {
      finished = true;
    }
  }
  assert.deepEqual(await conn.root.take(forever(), 3), [{ i: 0 }, { i: 1 }, {
    i: 2,
  }]);
  assert.ok(await eventually(() => finished, 1000));
  assert.ok(await eventually(() => conn.stats.streams === 0, 1000));
});

class Nested {
  @exposed
  async *things(): AsyncGenerator<unknown> {
    yield { name: "callback", fn: (x: number) => x * 2 };
    yield new Counter();
    yield (async function* () {
      yield "inner";
    })();
  }
}

class Counter {
  #n = 0;
  @exposed
  next(): number {
    return ++this.#n;
  }
}

Deno.test("stream items are netref values: callbacks, objects by reference and nested streams", async () => {
  await using server = serve(Nested, { port: 0 });
  await using conn = await connect("127.0.0.1", server.addr.port);
  const items: unknown[] = [];
  for await (const item of await conn.root.things() as AsyncIterable<unknown>) {
    items.push(item);
  }
  const [withFn, counter, inner] = items as [
    { name: string; fn: (x: number) => Promise<number> },
    { next(): Promise<number> },
    AsyncIterable<string>,
  ];
  assert.equal(withFn.name, "callback");
  assert.equal(await withFn.fn(21), 42);
  assert.equal(await counter.next(), 1);
  const innerItems: string[] = [];
  for await (const s of inner) innerItems.push(s);
  assert.deepEqual(innerItems, ["inner"]);
  assert.equal(conn.stats.streams, 0);
});

class Objects {
  @exposed
  async *counters(): AsyncGenerator<Counter> {
    for (;;) yield new Counter();
  }
}

Deno.test("the refs a stream's items carried are released once it is cancelled, both tables drain", async () => {
  await using h = await harness(Objects);
  // In a function of its own: a suspended frame would keep the last item.
  await (async () => {
    let seen = 0;
    for await (const counter of await h.client.root.counters()) {
      assert.equal(await counter.next(), 1);
      if (++seen === 5) break;
    }
  })();
  assert.ok(h.serverSide.stats.exports > 0);
  await h.assertNoRefs(); // exports, imports and streams back to 0
});

class Sink {
  @exposed
  async sum(numbers: AsyncIterable<number>): Promise<number> {
    let sum = 0;
    for await (const n of numbers) sum += n;
    return sum;
  }
  @exposed
  async sumAll(...streams: AsyncIterable<number>[]): Promise<number> {
    let sum = 0;
    for (const stream of streams) for await (const n of stream) sum += n;
    return sum;
  }
}

async function* numbers(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

Deno.test("streams over the limit are refused, naming maxStreams", async (t) => {
  await t.step("by the receiver", async () => {
    await using server = serve(Sink, { port: 0, maxStreams: 2, log: () => {} });
    await using conn = await connect<Sink>("127.0.0.1", server.addr.port);
    const error = await rejection(() =>
      conn.root.sumAll(numbers(3), numbers(3), numbers(3))
    );
    assert.ok(error instanceof RemoteError);
    assert.match(error.message, /maxStreams \(2\)/);
    assert.ok(await eventually(() => conn.stats.streams === 0, 1000));
    assert.equal(await conn.root.sum(numbers(4)), 6);
  });
  await t.step("by the sender", async () => {
    await using server = serve(Sink, { port: 0 });
    await using conn = await connect<Sink>("127.0.0.1", server.addr.port, {
      maxStreams: 1,
    });
    await assert.rejects(
      () => conn.root.sumAll(numbers(3), numbers(3)),
      (error: Error) =>
        error instanceof RangeError && /maxStreams \(1\)/.test(error.message),
    );
    assert.equal(conn.stats.streams, 0);
    assert.equal(await conn.root.sum(numbers(4)), 6);
  });
});

Deno.test("a peer that sends items beyond its credit is closed with a ProtocolError", async () => {
  const log: string[] = [];
  await using server = serve(Sink, { port: 0, log: (line) => log.push(line) });
  const peer = await RawPeer.connect(server.addr.port);
  try {
    assert.ok(await peer.sendHello());
    await peer.sendMessages([
      Kind.REQUEST,
      1,
      0,
      Op.CALL,
      ["sum"],
      [new WireStream(1, 0)],
      false,
    ]);
    const credit = await peer.nextMessage();
    assert.deepEqual(credit?.slice(0, 2), [Kind.STREAM_CREDIT, 1]);
    const granted = credit![2] as number;
    await peer.sendMessages([
      Kind.STREAM_ITEMS,
      1,
      new Array(granted + 1).fill(1),
    ]);
    const transcript = await peer.readToEnd(2000);
    assert.notEqual(transcript.end, "timeout");
    assert.match(transcript.closeReason ?? "", /beyond the credit/);
    assert.ok(
      await eventually(
        () => log.some((line) => /beyond the credit/.test(line)),
        1000,
      ),
    );
  } finally {
    await peer.close();
  }
});

Deno.test("a peer granting 2^53 credit gets no more than the item window", async () => {
  await using server = await streamServer();
  const peer = await RawPeer.connect(server.ready.port);
  try {
    assert.ok(await peer.sendHello());
    await peer.sendMessages([
      Kind.REQUEST,
      1,
      0,
      Op.CALL,
      ["forever"],
      [],
      false,
    ]);
    const answer = await peer.answerTo(1);
    const stream = answer?.[2];
    assert.ok(stream instanceof RawStream, `got ${JSON.stringify(answer)}`);
    await peer.sendMessages([
      Kind.STREAM_CREDIT,
      stream.id,
      Number.MAX_SAFE_INTEGER,
    ]);
    let items = 0;
    for (;;) {
      const message = await peer.nextMessage(300);
      if (message === null) break;
      if (message[0] === Kind.STREAM_ITEMS) {
        items += (message[2] as unknown[]).length;
      }
    }
    assert.ok(items > 0 && items <= 8192 + 8, `received ${items} items`);
  } finally {
    await peer.close();
  }
});

Deno.test("a malformed or misnumbered stream from a peer closes its connection", async (t) => {
  for (
    const [name, stream, reason] of [
      ["an id of 0", new WireStream(0, 0), /Cannot decode stream/],
      ["an unknown kind", new WireStream(1, 7), /Cannot decode stream/],
      ["an id of the server's parity", new WireStream(2, 0), /ids are odd/],
    ] as const
  ) {
    await t.step(name, async () => {
      const log: string[] = [];
      await using server = serve(Sink, {
        port: 0,
        log: (line) => log.push(line),
      });
      const peer = await RawPeer.connect(server.addr.port);
      try {
        assert.ok(await peer.sendHello());
        await peer.sendMessages([
          Kind.REQUEST,
          1,
          0,
          Op.CALL,
          ["sum"],
          [stream],
          false,
        ]);
        const transcript = await peer.readToEnd(2000);
        assert.notEqual(transcript.end, "timeout");
        assert.match(transcript.closeReason ?? "", reason);
      } finally {
        await peer.close();
      }
    });
  }
});

/** What `fn` rejects with; fails if it resolves. */
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "Missing expected rejection" });
}

/** Like `eventually`, for a condition that needs a round trip. */
async function eventuallyAsync(
  condition: () => Promise<boolean>,
  ms = 2000,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await delay(5);
  }
  return await condition();
}

/** Whether two files hold the same bytes, read a mebibyte at a time. */
async function sameBytes(a: string, b: string): Promise<boolean> {
  using fa = await Deno.open(a);
  using fb = await Deno.open(b);
  const ba = new Uint8Array(1024 * 1024);
  const bb = new Uint8Array(1024 * 1024);
  for (;;) {
    const na = await readFull(fa, ba);
    const nb = await readFull(fb, bb);
    if (na !== nb) return false;
    if (na === 0) return true;
    for (let i = 0; i < na; i++) if (ba[i] !== bb[i]) return false;
  }
}

async function readFull(
  file: Deno.FsFile,
  buffer: Uint8Array,
): Promise<number> {
  let n = 0;
  while (n < buffer.length) {
    const got = await file.read(buffer.subarray(n));
    if (got === null) break;
    n += got;
  }
  return n;
}

Deno.test("netref call prints a stream as JSON Lines, and SIGINT cancels it", async (t) => {
  await using server = await ServeProcess.serve(
    "--service",
    `${fixture("cli_streams.ts")}#Streams`,
  );
  await t.step("one JSON value per line", async () => {
    const { code, stdout, stderr } = await runCli(
      "call",
      server.address,
      "count",
      "5",
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "0\n1\n2\n3\n4\n");
  });
  await t.step(
    "SIGINT stops the server's generator and exits 130",
    async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMISSIONS, CLI, "call", server.address, "ticks"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines: string[] = [];
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      while (lines.length < 3) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
        const parts = text.split("\n");
        text = parts.pop()!;
        lines.push(...parts);
      }
      assert.deepEqual(lines.slice(0, 3), [
        '{"tick":0}',
        '{"tick":1}',
        '{"tick":2}',
      ]);
      child.kill("SIGINT");
      const [status] = await Promise.all([
        child.status,
        (async () => {
          while (!(await reader.read()).done) { /* drain */ }
        })(),
        child.stderr.cancel(),
      ]);
      // It exited by itself, having cancelled: not killed by the signal.
      assert.equal(status.signal, null);
      assert.equal(status.code, 130);
      await server.waitFor("stderr", /ticks: finally/);
    },
  );
});
