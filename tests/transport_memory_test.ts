import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  connectStream,
  exposed,
  serveListener,
} from "../mod.ts";
import { serveMemory } from "../src/server/transports.ts";
import { memoryPair } from "../src/transport/memory.ts";
import { TestService } from "../examples/test_service.ts";
import { assertDrained, recordConnections } from "./_harness.ts";

Deno.test("memoryPair() carries bytes both ways and ends reads after a close", async () => {
  const [a, b] = memoryPair();
  const buffer = new Uint8Array(2);
  const sent = new Uint8Array([1, 2, 3]);
  await a.write(sent);
  sent.fill(0); // Writes are copied: the caller may reuse its buffer.
  assert.equal(await b.read(buffer), 2);
  assert.deepEqual([...buffer], [1, 2]);
  assert.equal(await b.read(buffer), 1);
  assert.equal(buffer[0], 3);
  await b.write(new Uint8Array([9]));
  assert.equal(await a.read(buffer), 1);
  const pending = b.read(buffer);
  a.close();
  assert.equal(await pending, null);
  await assert.rejects(b.write(new Uint8Array([1])), Error);
  b.close();
});

Deno.test("memoryPair() makes a writer wait once 1 MiB is unread", async () => {
  const [a, b] = memoryPair();
  let done = false;
  const write = a.write(new Uint8Array(2 * 1024 * 1024)).then(() =>
    done = true
  );
  // One macrotask: every microtask the write could finish in has run.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(done, false);
  const buffer = new Uint8Array(64 * 1024);
  let read = 0;
  while (!done) {
    read += (await b.read(buffer))!;
    await Promise.resolve();
  }
  await write;
  assert.ok(read >= 1024 * 1024, `resumed after ${read} bytes`);
  a.close();
  b.close();
});

class Quiet extends TestService {
  override onConnect(): void {}
  override onDisconnect(): void {}
}

Deno.test("serveMemory() serves connections without sockets, and shutdown closes them", async () => {
  const recorder = recordConnections(Quiet);
  const server = serveMemory(recorder.Service);
  const conn = await server.connect<Quiet>();
  assert.equal(await conn.root.foo(), "foo");
  const seen: number[] = [];
  assert.equal(await conn.root.each([1, 2], (n) => seen.push(n)), 2);
  {
    using counter = await conn.root.makeCounter();
    assert.equal(await counter.increment(2), 2);
  }
  await assertDrained(conn, recorder.sides[0]);
  assert.equal(server.connectionCount, 1);
  await server.shutdown({ deadline: 100 });
  await conn.closed;
  await server.finished;
  await assert.rejects(conn.root.foo(), ConnectionClosedError);
  await assert.rejects(server.connect(), ConnectionClosedError);
});

class Pinger {
  @exposed
  ping(): string {
    return "pong";
  }
}

Deno.test("connectStream() and serveListener() work over a memoryPair() of one's own", async () => {
  const [client, accepted] = memoryPair();
  const recorder = recordConnections(Pinger);
  let handed = false;
  let stop = () => {};
  const closed = new Promise<never>((_, reject) =>
    stop = () => reject(new Deno.errors.BadResource("closed"))
  );
  closed.catch(() => {});
  const server = serveListener({
    addr: { transport: "unix", path: "memory" },
    accept: () => {
      if (handed) return closed;
      handed = true;
      return Promise.resolve(accepted);
    },
    close: () => stop(),
  }, recorder.Service);
  await using conn = await connectStream<Pinger>(client);
  assert.equal(await conn.root.ping(), "pong");
  await assertDrained(conn, recorder.sides[0]);
  await conn.close();
  await server.shutdown({ deadline: 0 });
});
