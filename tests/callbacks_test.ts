import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  currentCall,
  exposed,
  serve,
} from "../mod.ts";
import { TestService } from "../examples/test_service.ts";
import { eventually, harness } from "./_harness.ts";

type Listener = (event: string) => unknown;

class EventService {
  // Arguments are typed as what the caller passes; they arrive as netrefs, so
  // every call on them is awaited.
  #listeners: Listener[] = [];
  @exposed
  async each(items: number[], fn: (n: number) => number): Promise<number[]> {
    const out: number[] = [];
    for (const item of items) out.push(await fn(item));
    return out;
  }
  @exposed
  subscribe(listener: Listener): void {
    this.#listeners.push(listener);
  }
  @exposed
  async emit(event: string): Promise<number> {
    await Promise.all(this.#listeners.map((listener) => listener(event)));
    return this.#listeners.length;
  }
  @exposed
  emitLater(event: string, ms: number): void {
    setTimeout(() => this.#listeners.forEach((l) => l(event)), ms);
  }
  @exposed
  clear(): void {
    this.#listeners = [];
  }
  @exposed
  async askClient(question: string): Promise<unknown> {
    // Both ends serve: the server calls the client's root.
    const client = (currentCall().connection as Connection<ClientSide>).root;
    return await client.answer(question);
  }
  @exposed
  async useObject(helper: Helper): Promise<string> {
    return await helper.greet("server");
  }
  @exposed
  async pokeHidden(helper: Helper): Promise<unknown> {
    return await (helper as unknown as Record<string, () => Promise<unknown>>)
      .hidden();
  }
}

class ClientSide {
  @exposed
  answer(question: string): string {
    return `client answers ${question}`;
  }
}

class Helper {
  @exposed
  greet(name: string): string {
    return `hello ${name}`;
  }
  hidden(): string {
    return "the server must not reach this";
  }
}

Deno.test("the server calls a client callback during the request", async () => {
  await using h = await harness(EventService);
  assert.deepEqual(await h.client.root.each([1, 2, 3], (n) => n * 10), [
    10,
    20,
    30,
  ]);
});

Deno.test("a callback kept by the server is called later, after the request", async () => {
  await using h = await harness(EventService);
  const events: string[] = [];
  await h.client.root.subscribe((event: string) => events.push(event));
  assert.equal(await h.client.root.emit("first"), 1);
  await h.client.root.emitLater("later", 20);
  assert.ok(await eventually(() => events.length === 2));
  assert.deepEqual(events, ["first", "later"]);
  await h.client.root.clear();
});

Deno.test("both ends serve: the server calls the client's root object", async () => {
  await using h = await harness(EventService, {
    connect: { service: new ClientSide() },
  });
  assert.equal(await h.client.root.askClient("why"), "client answers why");
});

Deno.test("the server calls exposed members of an object the client passes, and only those", async () => {
  await using h = await harness(EventService);
  assert.equal(await h.client.root.useObject(new Helper()), "hello server");
  await assert.rejects(
    h.client.root.pokeHidden(new Helper()),
    /'hidden'.*not @exposed/,
  );
});

Deno.test("a client callback that throws fails the server's await with RemoteError", async () => {
  await using h = await harness(EventService);
  await assert.rejects(
    h.client.root.each([1], () => {
      throw new Error("client side failure");
    }),
    /client side failure/,
  );
});

Deno.test("remote objects returned by reference keep state, and `using` releases them", async () => {
  await using h = await harness(TestService);
  {
    using counter = await h.client.root.makeCounter();
    assert.equal(await counter.increment(), 1);
    assert.equal(await counter.increment(4), 5);
    assert.equal(await counter.count, 5);
    assert.equal(h.client.stats.imports, 1);
    assert.equal(h.serverSide.stats.exports, 1);
  }
  assert.equal(h.client.stats.imports, 0);
  assert.ok(await eventually(() => h.serverSide.stats.exports === 0, 1000));
});

Deno.test("a released netref refuses further use", async () => {
  await using h = await harness(TestService);
  const counter = await h.client.root.makeCounter();
  counter[Symbol.dispose]();
  assert.throws(() => counter.increment(), /released/);
});

Deno.test("a callback that outlives its connection fails with ConnectionClosedError", async () => {
  let saved: Listener | null = null;
  let serverSide: Connection | null = null;
  class Keeper {
    onConnect(conn: Connection) {
      serverSide = conn;
    }
    @exposed
    keep(fn: Listener) {
      saved = fn;
    }
  }
  await using server = serve(Keeper, { port: 0, log: () => {} });
  const conn = await connect<Keeper>("127.0.0.1", server.addr.port);
  await conn.root.keep(() => "hi");
  await conn.close();
  await (serverSide as unknown as Connection).closed;
  await assert.rejects(
    Promise.resolve((saved as unknown as Listener)("x")),
    /closed/,
  );
});
