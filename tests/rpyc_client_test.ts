// connectRpyc(): a netref client calling real Python RPyC servers (a
// ThreadedServer serving the classic TestService, with Debian's
// python3-rpyc, and with RPyC 6 when RPYC6_PYTHONPATH is set), and netref's
// own server over RPyC in both wire versions. tests/rpyc6_test.ts checks
// which version connectRpyc() speaks first.

import assert from "node:assert/strict";
import {
  type Connection,
  dir,
  exposed,
  release,
  RemoteError,
  serve,
  setAttr,
} from "../mod.ts";
import { connectRpyc, kwargs } from "../src/rpyc/client.ts";
import { delay, pythonTest, startPythonServer } from "./_rpyc.ts";

/** The Python TestService, as seen from TypeScript. */
interface PyCounter {
  increment(by?: number): number;
  value: number;
}
interface PyTestService {
  foo(): string;
  bar(): string;
  version: string;
  add(a: number, ...rest: unknown[]): number;
  each(items: number[], callback: (item: number) => unknown): unknown[];
  fail(message: string): never;
  call_and_fail(callback: () => unknown): unknown;
  make_counter(): PyCounter;
  items(): unknown;
  same<T>(value: T): T;
  held(): number;
  greet_client(name: string): string;
  secret(): string;
  count_and_fail(): never;
  runs(): number;
}

async function eventually(
  check: () => Promise<boolean> | boolean,
  ms = 5000,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    (globalThis as { gc?: () => void }).gc?.();
    if (await check()) return true;
    await delay(20);
  }
  return false;
}

pythonTest(
  "connectRpyc() calls the classic TestService on a Python ThreadedServer",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
    );
    assert.equal(conn.peer.implementation, `rpyc/${peer.major}`);
    assert.equal(await conn.root.foo(), "foo");
    assert.equal(await conn.root.bar(), "bar");
    assert.equal(await conn.root.version, "1.0");
    assert.deepEqual(await conn.root.same([1, "two", null, [true]]), [
      1,
      "two",
      null,
      [true],
    ]);
    assert.ok((await conn.ping()) >= 0);
  },
);

pythonTest(
  "connectRpyc() passes keyword arguments with kwargs()",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    assert.equal(await conn.root.add(2, 3), 5);
    assert.equal(await conn.root.add(2, kwargs({ b: 3, scale: 10 })), 50);
    await assert.rejects(
      () => conn.root.add(1, kwargs({ nope: 1 })),
      (error: RemoteError) =>
        error.remoteName === "TypeError" && /nope/.test(error.message),
    );
  },
);

pythonTest(
  "connectRpyc() lets Python call TypeScript callbacks, and throws come back through Python",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    const seen: number[] = [];
    const doubled = await conn.root.each([1, 2, 3], (x: number) => {
      seen.push(x);
      return x * 2;
    });
    assert.deepEqual(doubled, [2, 4, 6]);
    assert.deepEqual(seen, [1, 2, 3]);
    function throwingCallback(): never {
      throw new TypeError("thrown in TypeScript");
    }
    await assert.rejects(
      () => conn.root.call_and_fail(throwingCallback),
      (error: RemoteError) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.remoteName, "TypeError");
        assert.match(error.message, /thrown in TypeScript/);
        // Python's traceback, with the TypeScript one nested in it.
        assert.match(error.remoteStack!, /in exposed_call_and_fail/);
        assert.match(error.remoteStack!, /throwingCallback/);
        return true;
      },
    );
  },
);

pythonTest(
  "connectRpyc() rejects with RemoteError carrying the Python class name and traceback",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    await assert.rejects(
      () => conn.root.fail("boom"),
      (error: RemoteError) => {
        assert.ok(error instanceof RemoteError);
        assert.equal(error.remoteName, "ValueError");
        assert.equal(error.message, "ValueError: boom");
        assert.match(
          error.remoteStack!,
          /^Traceback \(most recent call last\)/,
        );
        assert.match(error.remoteStack!, /raise ValueError\(message\)/);
        return true;
      },
    );
    await assert.rejects(
      () => conn.root.secret(),
      (error: RemoteError) =>
        error.remoteName === "AttributeError" && /secret/.test(error.message),
    );
  },
);

pythonTest(
  "a Python method that raises AttributeError itself runs once: the exposed_ retry is only for a failed lookup",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    await assert.rejects(
      () => conn.root.count_and_fail(),
      (error: RemoteError) =>
        error.remoteName === "AttributeError" &&
        /count_and_fail found no such thing/.test(error.message),
    );
    assert.equal(await conn.root.runs(), 1);
  },
);

pythonTest(
  "connectRpyc() uses Python objects by reference and gives them back",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    // Python holds the root it sent, as its own clients do.
    const baseline = await conn.root.held();
    {
      using counter = await conn.root.make_counter();
      assert.equal(await counter.increment(5), 5);
      assert.equal(await counter.increment(), 6);
      assert.equal(await counter.value, 6);
      assert.equal(await conn.root.held(), baseline + 1);
      assert.equal(conn.stats.imports, 1);
      // A netref sent back arrives in Python as the object itself.
      assert.equal(await conn.root.same(counter), counter);
    }
    assert.equal(conn.stats.imports, 0);
    assert.ok(
      await eventually(async () => await conn.root.held() === baseline),
      "Python still holds the counter after release",
    );
    // A Python list travels by reference; its safe dunders are reachable.
    const items = await conn.root.items();
    assert.equal(await (items as { __len__(): number }).__len__(), 3);
    release(items);
    // Chains wait for each result: RPyC has no pipelining.
    assert.equal(await conn.root.make_counter().increment(41), 41);
    assert.ok(
      await eventually(async () => await conn.root.held() === baseline),
      "a pipelined temporary was not given back",
    );
  },
);

pythonTest(
  "connectRpyc() supports setAttr() and dir() with Python's exposed_ prefix",
  async (peer) => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { version: peer.major },
    );
    await setAttr(conn.root, "version", "2.0");
    assert.equal(await conn.root.version, "2.0");
    const members = await dir(conn.root);
    const names = members.map((m) => m.name);
    for (const name of ["foo", "bar", "version", "make_counter"]) {
      assert.ok(names.includes(name), `dir() lacks ${name}: ${names}`);
    }
    assert.ok(!names.includes("secret") && !names.includes("exposed_foo"));
    assert.equal(members.find((m) => m.name === "foo")?.kind, "method");
    assert.equal(members.find((m) => m.name === "version")?.kind, "field");
  },
);

pythonTest(
  "connectRpyc() serves its own service to the Python server",
  async (peer) => {
    class ClientSide {
      @exposed
      greet(name: string): string {
        return `hello ${name}`;
      }
    }
    await using python = await startPythonServer();
    await using conn = await connectRpyc<PyTestService>(
      "127.0.0.1",
      python.port,
      { service: new ClientSide(), version: peer.major },
    );
    assert.equal(await conn.root.greet_client("python"), "hello python");
  },
);

pythonTest(
  "connectRpyc() closes: the Python server sees the client go, calls then fail",
  async (peer) => {
    await using python = await startPythonServer();
    const conn = await connectRpyc<PyTestService>("127.0.0.1", python.port, {
      version: peer.major,
    });
    assert.equal(await conn.root.foo(), "foo");
    await conn.close();
    assert.equal(await python.process.line(), "disconnected");
    assert.ok(conn.isClosed);
    await assert.rejects(() => conn.root.foo(), /closed/);
  },
);

class Echo {
  @exposed
  echo<T>(value: T): T {
    return value;
  }
  @exposed
  call(callback: (x: number) => unknown, x: number): Promise<unknown> {
    return Promise.resolve(callback(x));
  }
  @exposed
  fail(): never {
    throw new RangeError("out of range");
  }
}

for (const version of [5, 6] as const) {
  Deno.test(`connectRpyc() reaches a netref server over RPyC ${version}'s wire format`, async () => {
    const serverSides: Connection[] = [];
    class Served extends Echo {
      onConnect(conn: Connection) {
        serverSides.push(conn);
      }
    }
    await using server = serve(Served, { port: 0, log: () => {} });
    const conn = await connectRpyc<Echo>("127.0.0.1", server.addr.port, {
      version,
    });
    try {
      assert.equal(conn.peer.implementation, `rpyc/${version}`);
      assert.deepEqual(await conn.root.echo([1, "a", null]), [1, "a", null]);
      assert.equal(await conn.root.call((x) => x + 1, 41), 42);
      await assert.rejects(
        () => conn.root.fail(),
        (error: RemoteError) =>
          error.remoteName === "ValueError" &&
          /out of range/.test(error.message),
      );
      assert.equal(serverSides[0].peer.implementation, `rpyc/${version}`);
      (globalThis as { gc?: () => void }).gc?.();
      assert.ok(
        await eventually(() => serverSides[0].stats.exports === 0),
        `server exports left: ${JSON.stringify(serverSides[0].stats)}`,
      );
    } finally {
      await conn.close();
    }
  });
}
