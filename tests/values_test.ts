import assert from "assert";
import { exposed, isNetref } from "../mod.ts";
import { harness } from "./_harness.ts";

class Point {
  constructor(readonly x: number, readonly y: number) {}
  @exposed
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

class EchoService {
  #kept: unknown = null;
  @exposed
  echo<T>(value: T): T {
    return value;
  }
  @exposed
  typeOf(value: unknown): string {
    if (value instanceof Map) return "Map";
    if (value instanceof Set) return "Set";
    if (value instanceof Date) return "Date";
    if (value instanceof Uint8Array) return "Uint8Array";
    if (Array.isArray(value)) return "Array";
    return value === null ? "null" : typeof value;
  }
  @exposed
  keep(value: unknown): void {
    this.#kept = value;
  }
  @exposed
  isKept(value: unknown): boolean {
    return value === this.#kept;
  }
  @exposed
  kept(): unknown {
    return this.#kept;
  }
  @exposed
  forget(): void {
    this.#kept = null;
  }
  @exposed
  point(): Point {
    return new Point(3, 4);
  }
}

Deno.test("values travel by copy and come back equal", async (t) => {
  await using h = await harness(EchoService);
  const root = h.client.root;
  const cases: [string, unknown][] = [
    ["null", null],
    ["undefined", undefined],
    ["true", true],
    ["false", false],
    ["an integer", 42],
    ["a negative float", -1.5],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["a large integer", 2 ** 53 - 1],
    ["a bigint", 1234567890123456789n],
    ["a negative bigint", -42n],
    ["an empty string", ""],
    ["a unicode string", "héllo ✓ 日本"],
    ["a Uint8Array", new Uint8Array([0, 1, 255])],
    ["an empty Uint8Array", new Uint8Array(0)],
    ["an array", [1, "two", [3, [4]]]],
    ["a plain object", { a: 1, nested: { b: [true, null] } }],
    ["a Date", new Date("2026-11-26T08:00:00.123Z")],
    ["a Map", new Map<unknown, unknown>([["a", 1], [2, { b: 3 }]])],
    ["a Set", new Set([1, "x", 3])],
  ];
  for (const [name, value] of cases) {
    await t.step(name, async () => {
      assert.deepStrictEqual(await root.echo(value), value);
    });
  }
});

Deno.test("Map, Set, Date and Uint8Array keep their types on the other side", async () => {
  await using h = await harness(EchoService);
  const root = h.client.root;
  assert.equal(await root.typeOf(new Map()), "Map");
  assert.equal(await root.typeOf(new Set()), "Set");
  assert.equal(await root.typeOf(new Date()), "Date");
  assert.equal(await root.typeOf(new Uint8Array(2)), "Uint8Array");
  assert.equal(await root.typeOf({}), "object");
  const bytes = await root.echo(new Uint8Array([1, 2]));
  assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
});

Deno.test("an error sent as a value arrives as an error", async () => {
  await using h = await harness(EchoService);
  const error = await h.client.root.echo(
    new TypeError("bad"),
  ) as unknown as Error;
  assert.ok(error instanceof Error);
  assert.match(error.message, /bad/);
});

Deno.test("a '__proto__' key is refused by name and pollutes nothing", async () => {
  await using h = await harness(EchoService);
  const evil = JSON.parse('{"a": {"__proto__": {"polluted": true}}, "ok": 1}');
  await assert.rejects(
    h.client.root.echo(evil),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.equal(
        error.message,
        'Cannot send args[0].a["__proto__"]: a key named __proto__ does not travel',
      );
      return true;
    },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepStrictEqual(await h.client.root.echo({ ok: 1 }), { ok: 1 });
});

Deno.test("class instances travel by reference and expose only @exposed members", async () => {
  await using h = await harness(EchoService);
  using point = await h.client.root.point();
  assert.ok(isNetref(point));
  assert.equal(await point.norm(), 5);
  await assert.rejects(Promise.resolve(point.x), /'x'/);
});

Deno.test("a netref sent back to its owner arrives as the original object", async () => {
  await using h = await harness(EchoService);
  const root = h.client.root;
  // The client's own object goes to the server and comes back as itself.
  const mine = new Point(1, 1);
  const fn = () => "local";
  assert.equal(await root.echo(mine), mine);
  assert.equal(await root.echo(fn), fn);
  // The server's object comes to the client and goes back as itself.
  using point = await root.point();
  await root.keep(point);
  assert.equal(await root.isKept(point), true);
  assert.equal(await root.kept(), point, "one proxy per remote object");
  await root.forget();
});

Deno.test("symbols and cyclic data are refused with a clear error", async () => {
  await using h = await harness(EchoService);
  await assert.rejects(
    h.client.root.echo(Symbol("s")),
    /Cannot send args\[0\]: symbols do not travel \(Symbol\(s\)\)/,
  );
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(h.client.root.echo(cyclic), /nests deeper than/);
});

Deno.test("large Uint8Arrays travel as blobs after the value, intact and in place", async () => {
  await using h = await harness(EchoService);
  const big = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
  const other = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 13) & 0xff);
  assert.deepStrictEqual(await h.client.root.echo(big), big);
  const nested = {
    a: big,
    list: [other, new Uint8Array(10), other],
    map: new Map([["x", big]]),
  };
  assert.deepStrictEqual(await h.client.root.echo(nested), nested);
  assert.equal(await h.client.root.typeOf(big), "Uint8Array");
  const back = await h.client.root.echo(big) as Uint8Array;
  assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
});

Deno.test("a blob message over the peer's maxFrameBytes fails locally with RangeError", async () => {
  await using h = await harness(EchoService, {
    serve: { maxFrameBytes: 100_000 },
  });
  await assert.rejects(
    h.client.root.echo(new Uint8Array(200_000)),
    (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /exceeds the peer's maxFrameBytes 100000/);
      return true;
    },
  );
  assert.equal(
    await h.client.root.typeOf(new Uint8Array(90_000)),
    "Uint8Array",
  );
});
