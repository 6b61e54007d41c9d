import assert from "node:assert/strict";
import { exposed, release, type Remote } from "../mod.ts";
import { harness } from "./_harness.ts";

class Item {
  constructor(readonly n: number) {}
  @exposed
  value(): number {
    return this.n;
  }
}

class Factory {
  @exposed
  make(n: number): Item {
    return new Item(n);
  }
  @exposed
  makeMany(count: number): Item[] {
    return Array.from({ length: count }, (_, i) => new Item(i));
  }
  @exposed
  async callEach(fns: ((n: number) => number)[]): Promise<number> {
    let sum = 0;
    for (const fn of fns) sum += await fn(1);
    return sum;
  }
}

Deno.test("gc() is available: the memory tests need --v8-flags=--expose-gc", () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "function");
});

// Refs are made in functions of their own, so that no frame of the test keeps
// a proxy alive once they return.
async function useManyRefs(
  root: Remote<Factory>,
  count: number,
): Promise<number> {
  const items = await Promise.all(
    Array.from({ length: count }, (_, i) => root.make(i)),
  );
  const batch = await root.makeMany(count);
  let sum = 0;
  for (const item of items.slice(0, 100)) sum += await item.value();
  return sum + batch.length;
}

async function passManyCallbacks(
  root: Remote<Factory>,
  count: number,
): Promise<number> {
  const fns = Array.from({ length: count }, () => (n: number) => n);
  return await root.callEach(fns);
}

Deno.test("after 20,000 refs both ends' tables go back to empty through garbage collection", async () => {
  await using h = await harness(Factory);
  assert.equal(await useManyRefs(h.client.root, 10_000), 4950 + 10_000);
  await h.assertNoRefs();
});

Deno.test("5,000 callbacks passed to the server are released once it drops them", async () => {
  await using h = await harness(Factory);
  assert.equal(await passManyCallbacks(h.client.root, 5_000), 5_000);
  await h.assertNoRefs();
});

Deno.test("explicit disposal releases at once, batched into few messages", async () => {
  await using h = await harness(Factory);
  const items = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => h.client.root.make(i)),
  );
  assert.equal(h.client.stats.imports, 1000);
  assert.equal(h.serverSide.stats.exports, 1000);
  for (const item of items) item[Symbol.dispose]();
  assert.equal(h.client.stats.imports, 0);
  await h.assertNoRefs();
});

Deno.test("the same remote object received many times is one proxy, released once", async () => {
  class One {
    #item = new Item(7);
    @exposed
    get(): Item {
      return this.#item;
    }
  }
  await using h = await harness(One);
  const first = await h.client.root.get();
  for (let i = 0; i < 100; i++) assert.equal(await h.client.root.get(), first);
  assert.equal(h.client.stats.imports, 1);
  assert.equal(h.serverSide.stats.exports, 1);
  first[Symbol.dispose]();
  await h.assertNoRefs();
});

Deno.test("closing a connection drops every export at once", async () => {
  await using h = await harness(Factory, { leakCheck: false });
  const items = await h.client.root.makeMany(500);
  assert.equal(items.length, 500);
  assert.equal(h.serverSide.stats.exports, 500);
  await h.client.close();
  await h.serverSide.closed;
  assert.equal(h.serverSide.stats.exports, 0);
  assert.equal(h.client.stats.imports, 0);
});

Deno.test("a released netref cannot be used: a call through it fails with a ReferenceError naming it, and releasing again does nothing", async () => {
  await using h = await harness(Factory);
  const item = await h.client.root.make(7);
  assert.equal(await item.value(), 7);
  release(item);
  await assert.rejects(
    async () => await item.value(),
    (error: unknown) => {
      assert.ok(error instanceof ReferenceError, `got ${error}`);
      assert.match(error.message, /netref #\d+ .* it was released/);
      return true;
    },
  );
  release(item);
  await h.assertNoRefs();
});
