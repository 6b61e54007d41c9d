import assert from "assert";
import { connect, exposed, serve } from "../mod.ts";
import { TestService } from "../examples/test_service.ts";
import { Kind } from "../src/protocol/constants.ts";
import { kindName, startRelay } from "./_relay.ts";

class User {
  constructor(public name: string) {}
  @exposed
  rename(name: string): string {
    this.name = name;
    return `renamed to ${name}`;
  }
  @exposed
  profile() {
    return { name: this.name, tags: ["a", "b"] };
  }
}

class Users {
  @exposed
  data = { a: { b: { c: (x: number) => x + 1 } } };
  @exposed
  async getUser(name: string): Promise<User> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return new User(name);
  }
  @exposed
  failing(): User {
    throw new Error("no such user");
  }
}

async function withRelay<T>(
  Service: new () => T,
  body: (
    root: never,
    seen: { direction: string; kind: number }[],
  ) => Promise<void>,
) {
  await using server = serve(Service as new () => object, {
    port: 0,
    log: () => {},
  });
  await using relay = startRelay(server.addr.port);
  await using conn = await connect("127.0.0.1", relay.port);
  await body(conn.root as never, relay.seen);
}

function trace(seen: { direction: string; kind: number }[]): string[] {
  return seen.filter((f) => f.kind !== Kind.RELEASE).map((f) =>
    `${f.direction} ${kindName[f.kind]}`
  );
}

Deno.test("a member path root.a.b.c(1) is one request and one response", async () => {
  await withRelay(
    Users,
    async (
      root: { data: { a: { b: { c(x: number): Promise<number> } } } },
      seen,
    ) => {
      assert.equal(await root.data.a.b.c(1), 2);
      assert.deepEqual(trace(seen), ["up REQUEST", "down RESPONSE"]);
    },
  );
});

Deno.test("root.getUser(1).rename('x') is pipelined: both requests leave before any answer", async () => {
  await withRelay(
    Users,
    async (
      root: { getUser(n: string): { rename(n: string): Promise<string> } },
      seen,
    ) => {
      assert.equal(await root.getUser("ann").rename("bob"), "renamed to bob");
      assert.deepEqual(trace(seen), [
        "up REQUEST",
        "up REQUEST",
        "down RESPONSE",
        "down RESPONSE",
      ]);
    },
  );
});

Deno.test("the classic makeCounter().increment() chain takes one round trip", async () => {
  await withRelay(
    TestService,
    async (
      root: { makeCounter(): { increment(n: number): Promise<number> } },
      seen,
    ) => {
      assert.equal(await root.makeCounter().increment(41), 41);
      const t = trace(seen);
      assert.deepEqual(t.slice(0, 2), ["up REQUEST", "up REQUEST"]);
    },
  );
});

Deno.test("pipelining reads plain data from a pending result", async () => {
  await withRelay(
    Users,
    async (
      root: { getUser(n: string): { profile(): { tags: Promise<string[]> } } },
      seen,
    ) => {
      // profile() returns plain data; reading .tags of it is pipelined too.
      assert.deepEqual(await root.getUser("ann").profile().tags, ["a", "b"]);
      assert.deepEqual(trace(seen).slice(0, 3), [
        "up REQUEST",
        "up REQUEST",
        "up REQUEST",
      ]);
    },
  );
});

Deno.test("a failed call fails the calls pipelined on it with the same error", async () => {
  await withRelay(
    Users,
    async (root: { failing(): { rename(n: string): Promise<string> } }) => {
      await assert.rejects(root.failing().rename("x"), /no such user/);
    },
  );
});

Deno.test("chaining on a result after it arrived uses the received value", async () => {
  await withRelay(
    Users,
    async (
      root: {
        getUser(
          n: string,
        ): Promise<unknown> & { rename(n: string): Promise<string> };
      },
    ) => {
      const pending = root.getUser("ann");
      await pending;
      assert.equal(await pending.rename("zed"), "renamed to zed");
    },
  );
});
