// Netrefs passed on from one connection to another stay live: the middle
// exports its proxy, relays what the far side does with it, and every
// reference table drains once the far side lets go. The services run in
// their own processes (tests/fixtures/forwarding_server.ts).

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  currentCall,
  dir,
  exposed,
  release,
  RemoteError,
  serve,
  TimeoutError,
  withOptions,
} from "../mod.ts";
import { connectRpyc } from "../rpyc.ts";
import { collectGarbage, delay } from "./_harness.ts";
import { type FixtureProcess, startFixture } from "./_processes.ts";
import { PythonProcess, startPythonServer } from "./_rpyc.ts";

type Refs = { exports: number; imports: number };

/** What the forwarding fixture serves (see tests/fixtures/). */
interface Forwarding {
  makeCounter(): RemoteCounter;
  use(counter: unknown, by: number): unknown;
  callOn(value: unknown, name: string, ...args: unknown[]): unknown;
  readOn(value: unknown, name: string): unknown;
  callKept(key: string, name: string, ...args: unknown[]): unknown;
  echo<T>(value: T): T;
  put(name: string, value: unknown): void;
  get(name: string): unknown;
  hold(name: string): { value: unknown };
  drop(name: string): void;
  refs(): Refs;
}

interface RemoteCounter {
  increment(by?: number): Promise<number>;
  count: Promise<number>;
  label: Promise<string>;
}

async function startService(): Promise<FixtureProcess> {
  return await startFixture("forwarding_server.ts", [], [
    "--allow-net",
    "--v8-flags=--expose-gc",
  ]);
}

function open(service: FixtureProcess): Promise<Connection<Forwarding>> {
  return connect<Forwarding>("127.0.0.1", service.ready.port);
}

/** Waits (collecting garbage here and in the services) until `check` holds. */
async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    collectGarbage();
    if (await check()) return;
    await delay(20);
  }
  assert.ok(await check(), `still not true after 5 s: ${what}`);
}

function drained(stats: { exports: number; imports: number }): boolean {
  return stats.exports === 0 && stats.imports === 0;
}

/**
 * Whether the services behind `services` (each asked, so that each collects
 * its garbage) and the connections `local` hold no references.
 */
async function allDrained(
  services: Connection<Forwarding>[],
  local: { stats: Refs }[],
): Promise<boolean> {
  const remote = await Promise.all(services.map((conn) => conn.root.refs()));
  return remote.every(drained) && local.every((conn) => drained(conn.stats));
}

/** Whether a service process ended without logging anything. */
async function quietExit(service: FixtureProcess): Promise<void> {
  await service.stop();
  assert.equal(service.stderr(), "");
}

class Greeter {
  readonly calls: string[] = [];
  @exposed
  name = "A's greeter";
  @exposed
  greet(who: string): string {
    this.calls.push(who);
    return `hello ${who}, from A`;
  }
  @exposed
  async callBack(callback: (x: string) => Promise<string>): Promise<string> {
    return await callback("from A");
  }
}

class Counter {
  #count = 0;
  @exposed
  label = "";
  @exposed
  increment(by = 1): number {
    return this.#count += by;
  }
  @exposed
  get count(): number {
    return this.#count;
  }
}

Deno.test("a netref from server 1 passed to server 2 is called, read, written and listed there, and both tables drain", async () => {
  const server1 = await startService();
  const server2 = await startService();
  try {
    await using conn1 = await open(server1);
    await using conn2 = await open(server2);
    const counter = await conn1.root.makeCounter() as unknown as RemoteCounter;
    const report = await conn2.root.use(counter, 5);
    assert.deepEqual(report, {
      after: 5,
      count: 5,
      label: "set by the other side",
      members: ["count", "increment", "label"],
    });
    // It was server 1's counter that server 2 changed.
    assert.equal(await counter.count, 5);
    assert.equal(await counter.label, "set by the other side");
    // Sent back to its owner, it is the original object: server 2 hands
    // back the client's own netref.
    assert.equal(await conn2.root.echo(counter), counter);
    // Server 1's root, forwarded: server 2 makes a counter on server 1.
    const made = await conn2.root.callOn(conn1.root, "makeCounter") as
      & RemoteCounter
      & object;
    assert.equal(await made.increment(2), 2);
    release(made);
    // Server 2 released it: the client's export to server 2 ends.
    await until(
      "server 2 let go of the counter",
      () => allDrained([conn2], [conn2]),
    );
    assert.deepEqual(await conn1.root.refs(), { exports: 1, imports: 0 });
    release(counter);
    await until(
      "server 1 got the counter back",
      () => allDrained([conn1], [conn1]),
    );
  } finally {
    await quietExit(server1);
    await quietExit(server2);
  }
});

Deno.test("a forwarded netref released by its holder keeps working for the side it was forwarded to, until that side lets go", async () => {
  const server1 = await startService();
  const server2 = await startService();
  try {
    await using conn1 = await open(server1);
    await using conn2 = await open(server2);
    const counter = await conn1.root.makeCounter() as unknown as RemoteCounter;
    await conn2.root.put("counter", counter);
    release(counter);
    assert.throws(() => counter.increment(1), ReferenceError);
    assert.equal(await conn2.root.callKept("counter", "increment", 2), 2);
    assert.deepEqual(await conn1.root.refs(), { exports: 1, imports: 0 });
    await conn2.root.drop("counter");
    await until(
      "the counter went back to server 1 once server 2 let go",
      () => allDrained([conn1, conn2], [conn1, conn2]),
    );
  } finally {
    await quietExit(server1);
    await quietExit(server2);
  }
});

Deno.test("client A's object, kept by a shared service, is called by client B and the calls reach A", async () => {
  const hub = await startService();
  try {
    await using a = await open(hub);
    await using b = await open(hub);
    const greeter = new Greeter();
    await a.root.put("greeter", greeter);
    const remote = await b.root.get("greeter") as {
      greet(who: string): Promise<string>;
      name: Promise<string>;
      callBack(cb: (x: string) => string): Promise<string>;
    };
    assert.equal(await remote.greet("B"), "hello B, from A");
    assert.deepEqual(greeter.calls, ["B"]);
    assert.equal(await remote.name, "A's greeter");
    // B's callback travels the other way: hub → A, and A's call comes back
    // through the hub to B.
    assert.equal(
      await remote.callBack((x) => `B got ${x}`),
      "B got from A",
    );
    // Sent back to the service, it is the object the service keeps.
    assert.equal(await b.root.echo(remote), remote);
    release(remote);
    await b.root.drop("greeter");
    await until(
      "every table drained",
      () => allDrained([a], [a, b]),
    );
  } finally {
    await quietExit(hub);
  }
});

Deno.test("a netref kept in a member of a service object is reached through that member", async () => {
  const hub = await startService();
  try {
    await using a = await open(hub);
    await using b = await open(hub);
    const greeter = new Greeter();
    await a.root.put("greeter", greeter);
    const doubleFn = (x: number) => x * 2;
    await a.root.put("double", doubleFn);
    const holder = await b.root.hold("greeter") as unknown as {
      value: { greet(who: string): Promise<string>; name: Promise<string> };
    };
    assert.equal(await holder.value.greet("B"), "hello B, from A");
    assert.equal(await holder.value.name, "A's greeter");
    assert.deepEqual(
      (await dir(holder.value)).map((member) => member.name),
      ["callBack", "greet", "name"],
    );
    const doubler = await b.root.hold("double") as unknown as {
      value: (x: number) => Promise<number>;
    };
    assert.equal(await doubler.value(21), 42);
    // Read on its own, it is A's function itself, not a bound copy.
    const double = await doubler.value as unknown as (
      x: number,
    ) => Promise<number>;
    assert.equal(await double(4), 8);
    await b.root.put("back", double);
    assert.equal(await a.root.get("back"), doubleFn);
    release(holder);
    release(doubler);
    release(double);
    assert.deepEqual(greeter.calls, ["B"]);
    await b.root.drop("greeter");
    await b.root.drop("double");
    await b.root.drop("back");
    await until("every table drained", () => allDrained([a], [a, b]));
  } finally {
    await quietExit(hub);
  }
});

Deno.test("a call through a forward that times out is cancelled at the owner too", async () => {
  const hub = await startService();
  try {
    await using a = await open(hub);
    await using b = await open(hub);
    let aborted: (reason: unknown) => void;
    const abortSeen = new Promise((resolve) => aborted = resolve);
    class Slow {
      @exposed
      wait(): Promise<void> {
        const { signal } = currentCall();
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            aborted(signal.reason);
            reject(signal.reason);
          });
        });
      }
    }
    await a.root.put("slow", new Slow());
    const slow = await b.root.get("slow") as { wait(): Promise<void> };
    await assert.rejects(
      () => withOptions(slow, { timeout: 200 }).wait(),
      TimeoutError,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reason = await Promise.race([
      abortSeen,
      new Promise((resolve) =>
        timer = setTimeout(() => resolve("no abort within 3 s"), 3000)
      ),
    ]);
    clearTimeout(timer);
    assert.ok(reason instanceof DOMException, String(reason));
    assert.equal(reason.name, "AbortError");
    release(slow);
    await b.root.drop("slow");
    await until("every table drained", () => allDrained([a], [a, b]));
  } finally {
    await quietExit(hub);
  }
});

Deno.test("when the owner of a forwarded object disconnects, calls through the forward fail with ConnectionClosedError, without a hang", async () => {
  const hub = await startService();
  try {
    const a = await open(hub);
    await using b = await open(hub);
    await a.root.put("greeter", new Greeter());
    const remote = await b.root.get("greeter") as {
      greet(who: string): Promise<string>;
    };
    await a.close();
    const quick = withOptions(remote, { timeout: 5000 });
    const error = await quick.greet("B").then(
      () => assert.fail("the call should fail"),
      (error: unknown) => error,
    );
    assert.ok(error instanceof RemoteError, String(error));
    assert.equal(error.remoteName, "ConnectionClosedError");
    assert.match(error.message, /forwarded through this side.*is closed/);
    release(remote);
    await b.root.drop("greeter");
    await until(
      "the service dropped the dead forward",
      () => allDrained([b], [b]),
    );
  } finally {
    await quietExit(hub);
  }
});

Deno.test("over RPyC, a Python client's object reaches a netref client and a netref client's object reaches Python, through a shared service", async () => {
  const hub = await startService();
  try {
    await using a = await open(hub);
    await using b = await open(hub);
    await using python = new PythonProcess({
      code: `import sys, rpyc
c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
class Greeter(object):
    def __init__(self):
        self.calls = []
    def exposed_greet(self, who):
        self.calls.append(who)
        return 'hello %s, from Python' % who
g = Greeter()
c.root.put('py', g)
bg = rpyc.BgServingThread(c)
print('put', flush=True)
sys.stdin.readline()
counter = c.root.get('ts')
print(counter.increment(5))
print(counter.count)
print(repr(counter).startswith('<forwarded '))
counter.label = 'set by Python'
print(counter.label)
print([name for name in dir(counter) if not name.startswith('_')])
print(c.root.echo(counter) is counter)
print(g.calls)
del counter
print('done', flush=True)
sys.stdin.readline()
bg.stop()
c.close()
`,
    }, { args: [String(hub.ready.port)] });
    assert.equal(await python.line(), "put");
    const fromPython = await b.root.get("py") as {
      greet(who: string): Promise<string>;
    };
    assert.equal(await fromPython.greet("B"), "hello B, from Python");
    const counter = new Counter();
    await a.root.put("ts", counter);
    await python.send("");
    const lines = [];
    for (let line = await python.line(); line !== "done";) {
      lines.push(line);
      line = await python.line();
    }
    assert.deepEqual(lines, [
      "5",
      "5",
      "True",
      "set by Python",
      "['count', 'increment', 'label']",
      "True",
      "['B']",
    ]);
    assert.equal(counter.count, 5);
    assert.equal(counter.label, "set by Python");
    release(fromPython);
    await b.root.drop("py");
    await a.root.drop("ts");
    await python.send("");
    const { code, stderr } = await python.close();
    assert.equal(code, 0, stderr);
    await until(
      "every table drained",
      () => allDrained([a], [a, b]),
    );
  } finally {
    await quietExit(hub);
  }
});

Deno.test("connectRpyc() forwards a Python object to a netref server and a netref object to Python, and gives both back", async () => {
  await using pythonServer = await startPythonServer();
  const service = await startService();
  try {
    await using py = await connectRpyc<{
      make_counter(): { increment(by?: number): number; value: number };
      held(): number;
      same<T>(value: T): T;
      each(items: number[], callback: unknown): unknown[];
    }>("127.0.0.1", pythonServer.port);
    await using conn = await open(service);
    const baseline = await py.root.held();
    // A Python object, used by the netref server through this process.
    const pyCounter = await py.root.make_counter();
    assert.equal(await conn.root.callOn(pyCounter, "increment", 5), 5);
    assert.equal(await conn.root.readOn(pyCounter, "value"), 5);
    assert.equal(await pyCounter.value, 5);
    // A netref server's object, used by Python through this process.
    const counter = await conn.root.makeCounter() as unknown as RemoteCounter;
    const increment = await (counter as unknown as { increment: unknown })
      .increment;
    assert.deepEqual(await py.root.each([1, 2], increment), [1, 3]);
    assert.equal(await counter.count, 3);
    assert.equal(await py.root.same(counter), counter);
    release(pyCounter);
    release(counter);
    release(increment);
    await until(
      "every table drained",
      async () =>
        await allDrained([conn], [py, conn]) &&
        await py.root.held() === baseline,
    );
  } finally {
    await quietExit(service);
  }
});

Deno.test("when the connection a netref was forwarded over closes, the netref goes back to its owner", async () => {
  const server1 = await startService();
  const server2 = await startService();
  try {
    await using conn1 = await open(server1);
    const conn2 = await open(server2);
    const counter = await conn1.root.makeCounter() as unknown as RemoteCounter;
    await conn2.root.put("counter", counter);
    release(counter);
    assert.equal(await conn2.root.callKept("counter", "increment", 1), 1);
    assert.deepEqual(await conn1.root.refs(), { exports: 1, imports: 0 });
    await conn2.close();
    await until(
      "server 1 got the counter back",
      () => allDrained([conn1], [conn1]),
    );
  } finally {
    await quietExit(server1);
    await quietExit(server2);
  }
});

Deno.test("RPyC over RPyC: a Python client's object, forwarded by a netref service to a Python store, comes back as itself and stays callable", async () => {
  await using store = new PythonProcess({
    code: `import sys, threading, rpyc
from rpyc.utils.server import ThreadedServer
class Store(rpyc.Service):
    value = None
    def exposed_set_value(self, value):
        Store.value = value
    def exposed_fetch_value(self):
        return Store.value
    def exposed_add_to_value(self, x):
        return Store.value.add(x)
server = ThreadedServer(Store, hostname='127.0.0.1', port=0)
server._listen()  # start() would listen only once its thread runs
threading.Thread(target=server.start, daemon=True).start()
print('listening on', server.port, flush=True)
sys.stdin.read()
server.close()
`,
  });
  const port = Number((await store.line()).match(/^listening on (\d+)$/)?.[1]);
  await using toStore = await connectRpyc<{
    set_value(value: unknown): void;
    fetch_value(): unknown;
    add_to_value(x: number): unknown;
  }>("127.0.0.1", port);
  class Intermediate {
    @exposed
    async setValue(value: unknown): Promise<void> {
      await toStore.root.set_value(value);
    }
    @exposed
    async fetchValue(): Promise<unknown> {
      return await toStore.root.fetch_value();
    }
    @exposed
    async addToValue(x: number): Promise<unknown> {
      return await toStore.root.add_to_value(x);
    }
  }
  const intermediate = serve(new Intermediate(), { port: 0, log: () => {} });
  try {
    const client = new PythonProcess({
      code: `import sys, rpyc
c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
class Box(object):
    def __init__(self):
        self.items = [1]
    def exposed_add(self, x):
        self.items.append(x)
        return len(self.items)
box = Box()
c.root.setValue(1)
print(c.root.fetchValue())
c.root.setValue(box)
print(c.root.fetchValue() is box)
print(c.root.addToValue(2))
print(box.items)
c.root.setValue(None)
c.close()
`,
    }, { args: [String(intermediate.addr.port)] });
    const lines = [
      await client.line(),
      await client.line(),
      await client.line(),
      await client.line(),
    ];
    const { code, stderr } = await client.close();
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines, ["1", "True", "2", "[1, 2]"]);
    await until(
      "the intermediate gave everything back",
      () => drained(toStore.stats),
    );
  } finally {
    await intermediate.shutdown({ deadline: 1000 });
  }
});
