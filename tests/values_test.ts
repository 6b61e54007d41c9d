import assert from "node:assert/strict";
import { exposed, isNetref, setAttr } from "../mod.ts";
import { harness } from "./_harness.ts";
import { MAX_VALUE_NODES } from "../src/protocol/constants.ts";
import { addExtension } from "msgpackr/pack";

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

Deno.test("a '__proto__' key travels as data, an own key, and pollutes nothing", async () => {
  await using h = await harness(EchoService);
  const evil = JSON.parse(
    '{"a": {"__proto__": {"polluted": true}}, "__proto__": [1], "ok": 1}',
  );
  const back = await h.client.root.echo(evil) as Record<string, unknown>;
  assert.deepStrictEqual(back, evil);
  assert.ok(Object.hasOwn(back, "__proto__"));
  assert.deepStrictEqual(Object.keys(back.a as object), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.equal(Object.getPrototypeOf(back.a), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
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

/** What a value is, as the receiving side sees it. */
function kind(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    return Object.is(value, -0) ? "-0" : typeof value;
  }
  return Object.prototype.toString.call(value).slice(8, -1);
}

class KindService {
  @exposed
  kindOf(value: unknown): string {
    return kind(value);
  }
  @exposed
  echo<T>(value: T): T {
    return value;
  }
  @exposed
  second(_first: unknown, second: unknown): unknown {
    return second;
  }
  @exposed
  sample(name: string): unknown {
    return samples().find(([n]) => n === name)?.[1];
  }
  @exposed
  refused(name: string): unknown {
    return { deep: [refusals().find(([n]) => n === name)?.[1]] };
  }
}

const Float16 = (globalThis as Record<string, unknown>).Float16Array as
  | (new (values: number[]) => unknown)
  | undefined;

/** Values that must arrive as they were sent, whichever side sends them. */
function samples(): [string, unknown][] {
  const bytes = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
  const list: [string, unknown][] = [
    ["a 65-bit bigint", 2n ** 64n],
    ["a negative 65-bit bigint", -(2n ** 63n) - 1n],
    ["a 10,000-bit bigint", 3n ** 6300n],
    ["a negative 10,000-bit bigint", -(7n ** 3600n)],
    ["the largest uint64", 2n ** 64n - 1n],
    ["the smallest int64", -(2n ** 63n)],
    ["-0", -0],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["an Int8Array", new Int8Array([-128, -1, 0, 127])],
    ["a Uint8ClampedArray", new Uint8ClampedArray([0, 128, 255])],
    ["an Int16Array", new Int16Array([-32768, 1, 32767])],
    ["a Uint16Array", new Uint16Array([0, 65535])],
    ["an Int32Array", new Int32Array([-(2 ** 31), 2 ** 31 - 1])],
    ["a Uint32Array", new Uint32Array([0, 2 ** 32 - 1])],
    ["a Float32Array", new Float32Array([1.5, -0, NaN, Infinity])],
    ["a Float64Array", new Float64Array([Math.PI, -0, NaN, -Infinity])],
    ["a BigInt64Array", new BigInt64Array([-(2n ** 63n), 1n])],
    ["a BigUint64Array", new BigUint64Array([2n ** 64n - 1n, 0n])],
    ["an empty Float64Array", new Float64Array(0)],
    ["a view into part of a buffer", new Int32Array(bytes.buffer, 4, 3)],
    ["an ArrayBuffer", bytes.buffer.slice(0, 10)],
    ["an empty ArrayBuffer", new ArrayBuffer(0)],
    ["a DataView", new DataView(bytes.buffer, 3, 9)],
    ["a Uint8Array", bytes],
    ["a Date", new Date("2026-11-30T22:00:00.123Z")],
    ["a Date before 1970", new Date(-1234567890123)],
    ["an invalid Date", new Date(NaN)],
    ["a Map", new Map<unknown, unknown>([[1, "one"], ["-0", -0], [-0, 1]])],
    ["a Set", new Set<unknown>([1n, 2n ** 80n, "x"])],
    [
      "all of them nested",
      {
        list: [-0, 2n ** 100n, new Float64Array([1, 2])],
        map: new Map([["dates", new Set([new Date(0)])]]),
      },
    ],
  ];
  if (Float16 !== undefined) {
    list.push(["a Float16Array", new Float16([1.5, -2, 65504])]);
  }
  return list;
}

/** Values that cannot travel, and what the refusal says. */
function refusals(): [string, unknown, RegExp][] {
  return [
    ["a RegExp", /a+/g, /a RegExp does not travel/],
    ["a Promise", Promise.resolve(1), /a Promise does not travel/],
    ["a WeakMap", new WeakMap(), /a WeakMap does not travel/],
    ["a WeakSet", new WeakSet(), /a WeakSet does not travel/],
    ["a WeakRef", new WeakRef({}), /a WeakRef does not travel/],
    [
      "a SharedArrayBuffer",
      new SharedArrayBuffer(8),
      /a SharedArrayBuffer does not travel/,
    ],
    ["a boxed number", new Number(1), /a boxed Number does not travel/],
    ["a symbol", Symbol("s"), /symbols do not travel/],
  ];
}

function assertSame(actual: unknown, expected: unknown): void {
  assert.equal(kind(actual), kind(expected));
  if (expected instanceof DataView) {
    const a = actual as DataView;
    assert.deepStrictEqual(
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength),
    );
  } else if (expected instanceof ArrayBuffer) {
    assert.deepStrictEqual(
      new Uint8Array(actual as ArrayBuffer),
      new Uint8Array(expected),
    );
  } else {
    assert.deepStrictEqual(actual, expected);
  }
}

Deno.test("every value type round-trips client → server → client with its type", async (t) => {
  await using h = await harness(KindService);
  const root = h.client.root;
  for (const [name, value] of samples()) {
    await t.step(name, async () => {
      assert.equal(await root.kindOf(value), kind(value), "on the server");
      assertSame(await root.echo(value), value);
    });
  }
});

Deno.test("every value type the server creates reaches the client with its type", async (t) => {
  await using h = await harness(KindService);
  for (const [name, value] of samples()) {
    await t.step(name, async () => {
      assertSame(await h.client.root.sample(name), value);
    });
  }
});

Deno.test("-0 keeps its sign in arrays, objects, Map keys and values", async () => {
  await using h = await harness(KindService);
  const back = await h.client.root.echo({
    list: [-0, 0],
    map: new Map([[-0, -0]]),
  }) as { list: number[]; map: Map<number, number> };
  assert.ok(Object.is(back.list[0], -0) && Object.is(back.list[1], 0));
  const [[key, value]] = [...back.map];
  assert.ok(Object.is(key, 0), "a Map key -0 is the key 0 in a Map already");
  assert.ok(Object.is(value, -0));
});

Deno.test("large typed arrays and ArrayBuffers travel as blobs, intact", async () => {
  await using h = await harness(KindService);
  const floats = Float64Array.from({ length: 100_000 }, (_, i) => i / 7);
  assert.equal(await h.client.root.kindOf(floats), "Float64Array");
  assertSame(await h.client.root.echo(floats), floats);
  const buffer = Uint8Array.from({ length: 200_000 }, (_, i) => i & 0xff)
    .buffer;
  assertSame(await h.client.root.echo(buffer), buffer);
  const nested = { a: [new Int16Array(40_000).fill(-3)], b: floats };
  assertSame(await h.client.root.echo(nested), nested);
});

Deno.test("a value that cannot travel is refused with a TypeError naming its path", async (t) => {
  await using h = await harness(KindService);
  for (const [name, value, reason] of refusals()) {
    await t.step(`${name}, as an argument`, async () => {
      await assert.rejects(
        h.client.root.echo({ a: { b: [1, new Map([["k", value]])] } }),
        (error: unknown) => {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(
            error.message,
            /^Cannot send args\[0\]\.a\.b\[1\]\.values\(\)\[0\]: /,
          );
          assert.match(error.message, reason);
          return true;
        },
      );
    });
  }
  await t.step("as the second argument, in a Set", async () => {
    await assert.rejects(
      h.client.root.second(1, new Set([1, /x/])),
      /^TypeError: Cannot send args\[1\]\.values\(\)\[1\]: a RegExp/,
    );
  });
  await t.step("as the value of a setAttr", async () => {
    await assert.rejects(
      setAttr(h.client.root, "x", { "odd key": /x/ }),
      /Cannot send value\["odd key"\]: a RegExp does not travel/,
    );
  });
  await t.step(
    "in a result: the caller gets the server's TypeError",
    async () => {
      await assert.rejects(
        h.client.root.refused("a RegExp"),
        /Cannot send result\.deep\[0\]: a RegExp does not travel/,
      );
    },
  );
  // Nothing was half sent: the connection still works.
  assert.equal(await h.client.root.kindOf(1), "number");
});

Deno.test("a message over the item budget fails locally with RangeError, and one under it travels", async () => {
  await using h = await harness(KindService);
  const over = new Array(MAX_VALUE_NODES).fill(0);
  await assert.rejects(
    h.client.root.echo(over),
    (error: unknown) => {
      assert.ok(error instanceof RangeError, String(error));
      assert.match(
        error.message,
        /^Cannot send message of \d+ bytes: it holds more than 1000000 items/,
      );
      return true;
    },
  );
  const under = new Array(MAX_VALUE_NODES - 100).fill(1);
  assert.equal(
    (await h.client.root.echo(under) as number[]).length,
    under.length,
  );
});

Deno.test("extensions another module registers with msgpackr change nothing netref decodes", async () => {
  // msgpackr's registry is global to its module: a reader for netref's own
  // type numbers, as an application using msgpackr might register.
  for (let type = 0; type <= 9; type++) {
    addExtension({ type, unpack: () => "hijacked" });
  }
  await using h = await harness(KindService);
  const value = {
    map: new Map([["k", new Set([1])]]),
    when: new Date(0),
    big: 2n ** 70n,
    nothing: undefined,
  };
  assertSame(await h.client.root.echo(value), value);
  const local = () => "local";
  assert.equal(await h.client.root.echo(local), local);
});
