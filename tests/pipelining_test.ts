import assert from "node:assert/strict";
import { connect, connectStream, exposed, serve } from "../mod.ts";
import { TestService } from "../examples/test_service.ts";
import { Kind } from "../src/protocol/constants.ts";
import { kindName, startRelay } from "./_relay.ts";
import {
  assertDrained,
  eventually,
  harness,
  recordConnections,
} from "./_harness.ts";

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
  user(name: string): User {
    return new User(name);
  }
  @exposed
  failing(): User {
    throw new Error("no such user");
  }
}

async function withRelay<T extends object>(
  Service: new () => T,
  body: (
    root: never,
    seen: { direction: string; kind: number }[],
  ) => Promise<void>,
) {
  const recorder = recordConnections(Service);
  await using server = serve(recorder.Service, { port: 0, log: () => {} });
  await using relay = startRelay(server.addr.port);
  await using conn = await connect("127.0.0.1", relay.port);
  await body(conn.root as never, relay.seen);
  assert.ok(await eventually(() => recorder.sides.length === 1));
  await assertDrained(conn, recorder.sides[0]);
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

Deno.test("results held for pipelining are freed: after 5,000 pipelined chains the connection works and nothing is held", async () => {
  // The server holds at most 4,096 results at once; a chain's held result
  // must be released once its answer arrived, or the 4,097th chain is refused.
  await using h = await harness(Users);
  const root = h.client.root as unknown as {
    user(n: string): { rename(n: string): Promise<string> };
  };
  for (let batch = 0; batch < 10; batch++) {
    const chains = Array.from(
      { length: 500 },
      (_, i) => root.user("u").rename(`n${i}`),
    );
    assert.equal((await Promise.all(chains)).length, 500);
  }
  assert.equal(await root.user("last").rename("ok"), "renamed to ok");
  assert.ok(
    await eventually(() => h.serverSide.stats.held === 0),
    `still held: ${JSON.stringify(h.serverSide.stats)}`,
  );
});

class Adder {
  @exposed
  add(a: number, b: number): number {
    return a + b;
  }
}

/** Frames in each write a client makes, counted from their 4-byte headers. */
async function countingClient<T>(port: number) {
  const socket = await Deno.connect({ hostname: "127.0.0.1", port });
  const writes: number[] = [];
  let counting = false;
  const stream = {
    read: (buffer: Uint8Array) => socket.read(buffer),
    write: (bytes: Uint8Array) => {
      if (counting) {
        let frames = 0;
        const view = new DataView(bytes.buffer, bytes.byteOffset);
        for (let at = 0; at < bytes.length; frames++) {
          at += 4 + (view.getUint32(at) & 0x7fff_ffff);
        }
        writes.push(frames);
      }
      return socket.write(bytes);
    },
    close: () => socket.close(),
  };
  const conn = await connectStream<T>(stream);
  counting = true; // After the hello.
  return { conn, writes };
}

Deno.test("100 calls made in one turn leave in two writes: 32 at once, then the rest, so the server starts early", async () => {
  await using server = serve(Adder, { port: 0, log: () => {} });
  const { conn, writes } = await countingClient<Adder>(server.addr.port);
  await using _ = conn;
  const root = conn.root;
  const sums = await Promise.all(
    Array.from({ length: 100 }, (_, i) => root.add(i, 1)),
  );
  assert.deepEqual(sums, Array.from({ length: 100 }, (_, i) => i + 1));
  assert.deepEqual(writes, [32, 68]);
});

for (const padding of [0, 1]) {
  Deno.test(`chains made in one turn stay pipelined past the first 32 frames (${padding} call first)`, async () => {
    await withRelay(
      Users,
      async (
        root: {
          user(n: string): Promise<unknown>;
          getUser(n: string): { rename(n: string): Promise<string> };
        },
        seen,
      ) => {
        // With no call first, a getUser is the 31st frame and its rename the
        // 32nd; with one, a getUser is the 32nd and its rename the 33rd.
        const first = Array.from({ length: padding }, () => root.user("pad"));
        const renamed = Array.from(
          { length: 40 },
          (_, i) => root.getUser(`u${i}`).rename(`v${i}`),
        );
        await Promise.all(first);
        assert.deepEqual(
          await Promise.all(renamed),
          Array.from({ length: 40 }, (_, i) => `renamed to v${i}`),
        );
        // getUser answers after 5 ms: a rename that waited for it instead of
        // being pipelined would leave after a RESPONSE.
        const requests = 80 + padding;
        assert.deepEqual(
          trace(seen).slice(0, requests),
          Array.from({ length: requests }, () => "up REQUEST"),
        );
      },
    );
  });
}
