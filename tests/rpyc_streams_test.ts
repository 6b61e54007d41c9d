// Iteration across RPyC, both ways: Python iterates TypeScript iterables
// (one `__next__` per item, or batched by `rpyc.buffiter()`), and netref's
// `for await` iterates Python iterables in BUFFITER batches. Each scenario
// runs against Debian's RPyC 5.3, and against RPyC 6 when RPYC6_PYTHONPATH
// names one.

import assert from "node:assert/strict";
import {
  type Connection,
  exposed,
  RemoteError,
  serve,
  service,
} from "../mod.ts";
import { connectRpyc, iterate } from "../rpyc.ts";
import {
  noticeRpyc6Skipped,
  pythonLines,
  PythonProcess,
  RPYC_PEERS,
} from "./_rpyc.ts";
import { client, eventually } from "./_rpyc_service.ts";

// Each scenario runs once per Python peer present (RPyC 6 where set up).
noticeRpyc6Skipped();
const PYTHONS = RPYC_PEERS;

// ------------------------------------------ Python iterates TypeScript

/** The generators whose `finally` ran, by name, and who waits for which. */
const finished = new Set<string>();
const waiting = new Map<string, () => void>();

function finish(name: string): void {
  finished.add(name);
  waiting.get(name)?.();
}

/** Whether the generator `name` ran its `finally` within `ms`. */
async function finishedWithin(name: string, ms: number): Promise<boolean> {
  if (finished.has(name)) return true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = await new Promise<boolean>((resolve) => {
    waiting.set(name, () => resolve(true));
    timer = setTimeout(() => resolve(false), ms);
  });
  clearTimeout(timer);
  waiting.delete(name);
  return done;
}

@service("streams")
class StreamService {
  @exposed
  async *count(n: number, name = "count"): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) yield i;
    } finally {
      finish(name);
    }
  }
  @exposed
  *syncCount(n: number): Generator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
  @exposed
  letters(): Iterator<string> {
    return new Set(["a", "b", "c"]).values();
  }
  /** An iterable that is no iterator: each `iter()` starts afresh. */
  @exposed
  pages(): AsyncIterable<string> {
    return {
      async *[Symbol.asyncIterator]() {
        yield "p1";
        yield "p2";
      },
    };
  }
  @exposed
  async *failing(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
    throw new RangeError(`producer broke after ${n}`);
  }
  @exposed
  data(): Record<string, number> {
    return { a: 1, b: 2 };
  }
  @exposed
  finishedWithin(name: string, ms: number): Promise<boolean> {
    return finishedWithin(name, ms);
  }
}

/** Serves StreamService; `connections` are the server's sides. */
function servedStreams() {
  const connections: Connection[] = [];
  const Recorded = class Streams extends StreamService {
    onConnect(conn: Connection): void {
      connections.push(conn);
    }
  };
  const server = serve(Recorded, { port: 0 });
  return {
    port: server.addr.port,
    connections,
    [Symbol.asyncDispose]: () => server.shutdown({ deadline: 1000 }),
  };
}

/** A Python client that counts its synchronous requests by handler. */
function countingClient(body: string): string {
  return client(`import collections
from rpyc.core import consts
counts = collections.Counter()
_sync = c.sync_request
def _counted(handler, *args):
    counts[handler] += 1
    return _sync(handler, *args)
c.sync_request = _counted
root = c.root
${body}`);
}

async function exportsReturnToZero(connections: Connection[]) {
  assert.ok(
    await eventually(() => connections.every((c) => c.stats.exports === 0)),
    `server exports left: ${JSON.stringify(connections.map((c) => c.stats))}`,
  );
}

for (const python of PYTHONS) {
  Deno.test({
    name:
      `Python iterates a TypeScript async generator: for, list(), next(), and rpyc.buffiter() in batches (${python.name})`,
    async fn() {
      await using server = servedStreams();
      const lines = await pythonLines(
        countingClient(`print(list(root.count(5)))
it = iter(root.count(3))
print(next(it), next(it), next(it))
try:
    next(it)
except StopIteration:
    print("StopIteration")
del it
counts.clear()
print(sum(rpyc.buffiter(root.count(10000))), counts[consts.HANDLE_BUFFITER], sum(counts.values()))
counts.clear()
print(sum(root.count(1000)), counts[consts.HANDLE_CALLATTR], sum(counts.values()))
counts.clear()
print(sum(rpyc.buffiter(root.count(10000), chunk=10000, max_chunk=10000)), sum(counts.values()))`),
        { args: [String(server.port)], env: python.env },
      );
      assert.deepEqual(lines.slice(0, 3), [
        "[0, 1, 2, 3, 4]",
        "0 1 2",
        "StopIteration",
      ]);
      // buffiter asks for 10, 20, 40, ... up to 1000 items per round trip.
      const [sum, buffiters, total] = lines[3].split(" ").map(Number);
      assert.equal(sum, 49_995_000);
      assert.equal(buffiters, 17);
      // With GETATTR, CALL, INSPECT (a class per object) and __iter__.
      assert.equal(total, 21);
      // Python's own `for` asks __next__ once per item: RPyC's netref classes
      // send every dunder as its own request.
      const [sum1000, callattrs, total1000] = lines[4].split(" ").map(Number);
      assert.equal(sum1000, 499_500);
      assert.equal(callattrs, 1002); // __iter__, 1000 items, StopIteration
      assert.equal(total1000, 1005);
      // GETATTR, CALL, INSPECT, __iter__, one full batch, one empty.
      assert.deepEqual(lines[5].split(" ").map(Number), [49_995_000, 6]);
      await exportsReturnToZero(server.connections);
    },
  });

  Deno.test({
    name:
      `Python breaking out of a loop, deleting the iterator or disconnecting runs the TypeScript finally (${python.name})`,
    async fn() {
      await using server = servedStreams();
      const tag = String(python.major);
      const lines = await pythonLines(
        client(`for x in c.root.count(100, "broken${tag}"):
    if x == 2:
        break
print(c.root.finishedWithin("broken${tag}", 2000))
it = iter(c.root.count(100, "deleted${tag}"))
next(it)
print(c.root.finishedWithin("deleted${tag}", 50))
del it
print(c.root.finishedWithin("deleted${tag}", 2000))
kept = c.root.count(100, "kept${tag}")
print([next(kept) for _ in range(3)])
c.close()`),
        { args: [String(server.port)], env: python.env },
      );
      assert.deepEqual(lines, ["True", "False", "True", "[0, 1, 2]"]);
      // A netref Python still held when it disconnected: closed then.
      assert.ok(await finishedWithin(`kept${tag}`, 2000));
      await exportsReturnToZero(server.connections);
    },
  });

  Deno.test({
    name:
      `a TypeScript producer's error reaches Python as an exception, after the items before it (${python.name})`,
    async fn() {
      await using server = servedStreams();
      const lines = await pythonLines(
        client(`got = []
try:
    for x in c.root.failing(3):
        got.append(x)
except ValueError as e:
    print(got, str(e).splitlines()[0])
got = []
try:
    for x in rpyc.buffiter(c.root.failing(25)):
        got.append(x)
except ValueError as e:
    print(len(got), str(e).splitlines()[0])`),
        { args: [String(server.port)], env: python.env },
      );
      assert.deepEqual(lines, [
        "[0, 1, 2] producer broke after 3",
        "25 producer broke after 25",
      ]);
      await exportsReturnToZero(server.connections);
    },
  });

  Deno.test({
    name:
      `Python iterates sync generators, Set iterators, async iterables and returned dicts (${python.name})`,
    async fn() {
      await using server = servedStreams();
      const lines = await pythonLines(
        client(
          `print(list(c.root.syncCount(3)), list(rpyc.buffiter(c.root.syncCount(3))))
print(list(c.root.letters()), list(rpyc.buffiter(c.root.letters())))
pages = c.root.pages()
print(list(pages), list(pages), list(rpyc.buffiter(pages)))
try:
    next(pages)
except TypeError as e:
    print("TypeError", "not an iterator" in str(e))
print(sorted(rpyc.buffiter(c.root.data())))`,
        ),
        { args: [String(server.port)], env: python.env },
      );
      assert.deepEqual(lines, [
        "[0, 1, 2] [0, 1, 2]",
        "['a', 'b', 'c'] ['a', 'b', 'c']",
        "['p1', 'p2'] ['p1', 'p2'] ['p1', 'p2']",
        "TypeError True",
        "['a', 'b']",
      ]);
      await exportsReturnToZero(server.connections);
    },
  });
}

// ------------------------------------------ netref iterates Python

interface PyStreams {
  total(iterable: unknown, buffered?: boolean): number;
  first(iterable: unknown, n: number): unknown[];
  numbers(n: number): unknown;
  fresh(n: number): unknown;
  failing(n: number): unknown;
  containers(): [unknown, number[], unknown, unknown];
  requests(): [number, number];
  closed(): string[];
}

/** Starts tests/fixtures/rpyc_stream_service.py; `env` picks the RPyC. */
async function startStreamServer(env?: Record<string, string>) {
  const process = new PythonProcess(
    { file: "tests/fixtures/rpyc_stream_service.py" },
    { env },
  );
  const line = await process.line();
  const port = Number(line.match(/^listening on (\d+)$/)?.[1]);
  assert.ok(port > 0, `unexpected first line from the Python server: ${line}`);
  return {
    port,
    [Symbol.asyncDispose]: () => process.close().then(() => {}),
  };
}

for (const python of PYTHONS) {
  Deno.test({
    name:
      `for await on a netref of a Python generator fetches 10,000 numbers in about 100 round trips (${python.name})`,
    async fn() {
      await using server = await startStreamServer(python.env);
      await using conn = await connectRpyc<PyStreams>(
        "127.0.0.1",
        server.port,
      );
      const numbers = await conn.root.numbers(10_000);
      const [buffitersBefore, callattrsBefore] = await conn.root.requests();
      let sum = 0;
      for await (const x of numbers as AsyncIterable<number>) sum += x;
      const [buffiters, callattrs] = await conn.root.requests();
      assert.equal(sum, 49_995_000);
      // 100 full batches of 100, then an empty one; one __iter__, and the
      // requests() call itself: no __next__ per item.
      assert.equal(buffiters - buffitersBefore, 101);
      assert.equal(callattrs - callattrsBefore, 2);
      // iterate() sets the batch size.
      const fewer: number[] = [];
      for await (const x of iterate(await conn.root.numbers(5), { batch: 2 })) {
        fewer.push(x as number);
      }
      assert.deepEqual(fewer, [0, 1, 2, 3, 4]);
      assert.throws(
        () => iterate(numbers, { batch: 10_001 }),
        /batch must be a whole number from 1 to 10000/,
      );
    },
  });

  Deno.test({
    name:
      `for await iterates a Python list, tuple, dict and set (${python.name})`,
    async fn() {
      await using server = await startStreamServer(python.env);
      await using conn = await connectRpyc<PyStreams>(
        "127.0.0.1",
        server.port,
      );
      const [list, tuple, dict, set] = await conn.root.containers();
      const collect = async (iterable: unknown) => {
        const items: unknown[] = [];
        for await (const item of iterable as AsyncIterable<unknown>) {
          items.push(item);
        }
        return items;
      };
      assert.deepEqual(await collect(list), [1, 2, 3]);
      // A tuple arrives by value: an array, iterable as it is.
      assert.deepEqual(tuple, [4, 5]);
      assert.deepEqual(await collect(tuple), [4, 5]);
      assert.deepEqual(await collect(dict), ["a", "b"]);
      assert.deepEqual((await collect(set)).sort(), [7, 8]);
      // Only netrefs of objects iterate; the root's iter() fails in Python.
      await assert.rejects(
        collect(conn.root),
        (error) => error instanceof RemoteError,
      );
    },
  });

  Deno.test({
    name:
      `breaking out of for await gives the Python iterator back, so its finally runs (${python.name})`,
    async fn() {
      await using server = await startStreamServer(python.env);
      await using conn = await connectRpyc<PyStreams>(
        "127.0.0.1",
        server.port,
      );
      const fresh = await conn.root.fresh(1000);
      for await (const x of fresh as AsyncIterable<number>) {
        if (x === 3) break;
      }
      // The DEL went out before this request; Python serves them in order.
      assert.deepEqual(await conn.root.closed(), ["fresh"]);
      {
        // A generator is its own iterator: the netref holds it too, so it
        // ends when that is released as well.
        using numbers = await conn.root.numbers(1000) as
          & AsyncIterable<number>
          & Disposable;
        for await (const x of numbers) if (x === 3) break;
        assert.deepEqual(await conn.root.closed(), ["fresh"]);
      }
      assert.deepEqual(await conn.root.closed(), ["fresh", "numbers"]);
    },
  });

  Deno.test({
    name:
      `a Python producer's error rejects for await as a RemoteError (${python.name})`,
    async fn() {
      await using server = await startStreamServer(python.env);
      await using conn = await connectRpyc<PyStreams>(
        "127.0.0.1",
        server.port,
      );
      const got: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (
            const x of await conn.root.failing(3) as AsyncIterable<unknown>
          ) got.push(x);
        },
        (error) =>
          error instanceof RemoteError && error.remoteName === "ValueError" &&
          /producer broke after 3/.test(error.message),
      );
      // Python's islice() raises and drops the batch it was filling.
      assert.deepEqual(got, []);
    },
  });

  Deno.test({
    name:
      `a Python service iterates a TypeScript async generator passed to it, and its finally runs when Python lets go (${python.name})`,
    async fn() {
      await using server = await startStreamServer(python.env);
      await using conn = await connectRpyc<PyStreams>(
        "127.0.0.1",
        server.port,
      );
      const tag = String(python.major);
      const generate = async function* (n: number, name: string) {
        try {
          for (let i = 0; i < n; i++) yield i;
        } finally {
          finish(name);
        }
      };
      assert.equal(await conn.root.total(generate(100, `all${tag}`)), 4950);
      assert.ok(finished.has(`all${tag}`));
      assert.equal(
        await conn.root.total(generate(10_000, `batched${tag}`), true),
        49_995_000,
      );
      assert.deepEqual(
        await conn.root.first(generate(1000, `first${tag}`), 3),
        [0, 1, 2],
      );
      // Python's DEL follows its reply: the generator closes soon after.
      assert.ok(await finishedWithin(`first${tag}`, 2000));
      assert.ok(
        await eventually(() => conn.stats.exports === 0),
        JSON.stringify(conn.stats),
      );
    },
  });
}
