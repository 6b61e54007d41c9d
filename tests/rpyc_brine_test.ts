// Brine and channel framing, checked byte for byte against Python RPyC 5.3
// (/usr/bin/python3 with Debian's python3-rpyc).

import assert from "node:assert/strict";
import {
  COMPRESSED_ITEMS_FLOOR,
  COMPRESSED_ITEMS_PER_BYTE,
  dump,
  dumpable,
  load,
} from "../src/rpyc/brine.ts";
import { decodeMessage } from "../src/rpyc/wire.ts";
import {
  type BrineValue,
  PyComplex,
  PyEllipsis,
  PyFloat,
  PyFrozenSet,
  PyNotImplemented,
  PySlice,
  PyTuple,
} from "../src/rpyc/py_values.ts";
import {
  ChannelDecoder,
  encodeChannelFrame,
  loadChannelZlib,
} from "../src/rpyc/channel.ts";
import {
  BrineTag,
  Handle,
  Label,
  Msg,
  WireVersion,
} from "../src/rpyc/constants.ts";
import { ProtocolError } from "../src/errors.ts";

await loadChannelZlib();

/** Runs a Python script that reads JSON on stdin and prints JSON. */
async function python<T>(script: string, input: unknown): Promise<T> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // frozenset iteration order of strings depends on the hash seed.
    env: { PYTHONHASHSEED: "0" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const errorText = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `python3 failed:\n${errorText}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** Python's brine.dump of each expression, as hex. */
function pythonDump(exprs: string[]): Promise<string[]> {
  return python(
    `import json, sys
from rpyc.core import brine
print(json.dumps([brine.dump(eval(e)).hex() for e in json.load(sys.stdin)]))`,
    exprs,
  );
}

/** For each [expr, hex]: [repr(brine.load(hex)), repr(eval(expr))]. */
function pythonLoad(pairs: [string, string][]): Promise<[string, string][]> {
  return python(
    `import json, sys
from rpyc.core import brine
print(json.dumps([[repr(brine.load(bytes.fromhex(h))), repr(eval(e))]
                  for e, h in json.load(sys.stdin)]))`,
    pairs,
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
}

function bytesOf(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Python expression and the value it stands for here. */
type Case = [python: string, value: BrineValue];

const INT_CASES: Case[] = [
  ["0", 0],
  ["-48", -48],
  ["159", 159],
  ["-49", -49],
  ["160", 160],
  ["255", 255],
  ["256", 256],
  ["-1000000", -1000000],
  ["2**53 - 1", Number.MAX_SAFE_INTEGER],
  ["-(2**53 - 1)", Number.MIN_SAFE_INTEGER],
  ["2**53", 2n ** 53n],
  ["-(2**64)", -(2n ** 64n)],
  ["10**300", 10n ** 300n],
  ["-(10**4299)", -(10n ** 4299n)],
];

const FLOAT_CASES: Case[] = [
  ["1.5", 1.5],
  ["0.1", 0.1],
  ["-2.5e-300", -2.5e-300],
  ["1e300", 1e300],
  ["2.0**60", 2 ** 60],
  ["2.0", new PyFloat(2)],
  ["0.0", new PyFloat(0)],
  ["-0.0", new PyFloat(-0)],
  ["float('inf')", Infinity],
  ["float('-inf')", -Infinity],
  ["float('nan')", NaN],
  ["13+18.2j", new PyComplex(13, 18.2)],
  ["complex(0, -1)", new PyComplex(0, -1)],
];

const STRING_CASES: Case[] = [
  ["''", ""],
  ["'a'", "a"],
  ["'h\\xe9llo \\u2603 \\U0001d11e'", "h\u00e9llo \u2603 \u{1d11e}"],
  ["'\\ufeffbom'", "\ufeffbom"],
  ["'\\x00'", "\x00"],
  ["'x' * 300", "x".repeat(300)],
  // The ASCII fast path: its longest string, one each side of STR4, and a
  // non-ASCII last character that sends a string back to the encoder.
  ["'y' * 255", "y".repeat(255)],
  ["'y' * 256", "y".repeat(256)],
  ["'abcd'", "abcd"],
  ["'abcde'", "abcde"],
  ["'abc\\xe9'", "abc\u00e9"],
  ["'abcd\\u2603'", "abcd\u2603"],
  ["b''", bytesOf()],
  ["b'\\x00'", bytesOf(0)],
  ["b'ab'", ascii("ab")],
  ["b'abc'", ascii("abc")],
  ["b'abcd'", ascii("abcd")],
  ["b'abcde'", ascii("abcde")],
  ["bytes(range(255))", new Uint8Array(range(255))],
  ["bytes(256)", new Uint8Array(256)],
  ["bytes(70000)", new Uint8Array(70000)],
];

const STRUCTURE_CASES: Case[] = [
  ["None", null],
  ["True", true],
  ["False", false],
  ["Ellipsis", PyEllipsis],
  ["NotImplemented", PyNotImplemented],
  ["()", PyTuple.of()],
  ["(1,)", PyTuple.of(1)],
  ["(1, 2)", PyTuple.of(1, 2)],
  ["(1, 2, 3)", PyTuple.of(1, 2, 3)],
  ["(1, 2, 3, 4)", PyTuple.of(1, 2, 3, 4)],
  ["tuple(range(5))", new PyTuple(range(5))],
  ["tuple(range(300))", new PyTuple(range(300))],
  [
    "((1, (2, ('a', None))), (), (True, b'x'))",
    PyTuple.of(
      PyTuple.of(1, PyTuple.of(2, PyTuple.of("a", null))),
      PyTuple.of(),
      PyTuple.of(true, ascii("x")),
    ),
  ],
  ["frozenset()", new PyFrozenSet()],
  ["frozenset([5, 6, 7])", new PyFrozenSet([5, 6, 7])],
  ["slice(1, 2, 3)", new PySlice(1, 2, 3)],
  ["slice(None, 10)", new PySlice(null, 10)],
  ["slice('a', 2.5, (1,))", new PySlice("a", 2.5, PyTuple.of(1))],
  [
    // The example in brine.py's docstring.
    "('he', 7, u'llo', 8, (), 900, None, True, Ellipsis, 18.2, 18.2j + 13, " +
    "slice(1,2,3), frozenset([5,6,7]), NotImplemented)",
    PyTuple.of(
      "he",
      7,
      "llo",
      8,
      PyTuple.of(),
      900,
      null,
      true,
      PyEllipsis,
      18.2,
      new PyComplex(13, 18.2),
      new PySlice(1, 2, 3),
      new PyFrozenSet([5, 6, 7]),
      PyNotImplemented,
    ),
  ],
  [
    // A request as RPyC sends it: getattr(root, "echo").
    `(${Msg.REQUEST}, 7, (${Handle.GETATTR}, (${Label.TUPLE}, ` +
    `((${Label.LOCAL_REF}, ('TestService', 1401, 1402)), (${Label.VALUE}, 'echo')))))`,
    PyTuple.of(
      Msg.REQUEST,
      7,
      PyTuple.of(
        Handle.GETATTR,
        PyTuple.of(
          Label.TUPLE,
          PyTuple.of(
            PyTuple.of(Label.LOCAL_REF, PyTuple.of("TestService", 1401, 1402)),
            PyTuple.of(Label.VALUE, "echo"),
          ),
        ),
      ),
    ),
  ],
];

/** dump() matches Python, load() gives the value, and Python loads ours. */
async function checkAgainstPython(cases: Case[]): Promise<void> {
  const exprs = cases.map(([expr]) => expr);
  const expected = await pythonDump(exprs);
  const ours = cases.map(([, value]) => hex(dump(value)));
  for (const [i, [expr, value]] of cases.entries()) {
    assert.equal(ours[i], expected[i], `dump() of ${expr}`);
    assert.deepStrictEqual(
      load(fromHex(expected[i])),
      value,
      `load() of ${expr}`,
    );
  }
  const reprs = await pythonLoad(cases.map(([expr], i) => [expr, ours[i]]));
  for (const [i, [loaded, wanted]] of reprs.entries()) {
    assert.equal(loaded, wanted, `Python's load() of our ${cases[i][0]}`);
  }
}

Deno.test("brine dump() matches Python for ints small and large", async () => {
  await checkAgainstPython(INT_CASES);
});

Deno.test("brine dump() matches Python for floats and complex numbers", async () => {
  await checkAgainstPython(FLOAT_CASES);
});

Deno.test("brine dump() matches Python for str and bytes of every length class", async () => {
  await checkAgainstPython(STRING_CASES);
});

Deno.test("brine dump() matches Python for tuples, frozensets, slices and singletons", async () => {
  await checkAgainstPython(STRUCTURE_CASES);
});

Deno.test("brine load() output dumps back to the same bytes", async () => {
  const cases = [
    ...INT_CASES,
    ...FLOAT_CASES,
    ...STRING_CASES,
    ...STRUCTURE_CASES,
  ];
  const encoded = await pythonDump(cases.map(([expr]) => expr));
  for (const [i, text] of encoded.entries()) {
    assert.equal(hex(dump(load(fromHex(text)))), text, cases[i][0]);
  }
});

Deno.test("brine dump() sends safe-integer numbers as ints and other numbers as floats", () => {
  assert.deepStrictEqual(dump(5), dump(5n));
  assert.deepStrictEqual(dump(-0), dump(0));
  assert.equal(dump(new PyFloat(5))[0], BrineTag.FLOAT);
  assert.equal(dump(0.5)[0], BrineTag.FLOAT);
  assert.equal(dump(2 ** 53)[0], BrineTag.FLOAT);
  assert.equal(dump(2n ** 53n)[0], BrineTag.INT_L1);
  assert.deepStrictEqual(load(dump(2n)), 2);
  assert.deepStrictEqual(load(dump(new PyFloat(0.5))), 0.5);
  assert.deepStrictEqual(load(dump(1e15)), 1e15);
  assert.deepStrictEqual(load(dump(new PyFloat(1e15))), new PyFloat(1e15));
  assert.equal(new PyFloat(-0).toString(), "-0.0");
  assert.equal(+new PyFloat(2), 2);
});

Deno.test("brine dump() refuses values brine has no type for", async (t) => {
  const cases: [string, unknown, ErrorConstructor][] = [
    ["an array", [1, 2], TypeError],
    ["an object", { a: 1 }, TypeError],
    ["undefined", undefined, TypeError],
    ["a Map", new Map(), TypeError],
    ["a symbol", Symbol("x"), TypeError],
    ["a function", () => 1, TypeError],
    ["a DataView", new DataView(new ArrayBuffer(1)), TypeError],
    [
      "a tuple holding an array",
      PyTuple.of([] as unknown as BrineValue),
      TypeError,
    ],
    ["a string with a lone surrogate", "a\ud800b", TypeError],
    ["an int of 4301 digits", 10n ** 4300n, RangeError],
    ["a negative int of 4301 digits", -(10n ** 4300n), RangeError],
  ];
  for (const [name, value, errorClass] of cases) {
    await t.step(name, () => {
      assert.throws(() => dump(value as BrineValue), errorClass);
      assert.equal(dumpable(value), false);
    });
  }
});

Deno.test("brine dumpable() agrees with dump() on dumpable values", () => {
  const cases = [
    ...INT_CASES,
    ...FLOAT_CASES,
    ...STRING_CASES,
    ...STRUCTURE_CASES,
  ];
  for (const [expr, value] of cases) assert.equal(dumpable(value), true, expr);
  assert.equal(dumpable(10n ** 4300n - 1n), true);
});

Deno.test("brine load() counts tuple items against maxItems before building them", () => {
  const nested = PyTuple.of(PyTuple.of(1, 2, 3), PyTuple.of(4, 5, 6));
  const bytes = dump(nested);
  // 2 items in the outer tuple and 3 in each inner one: 8 in all.
  assert.deepStrictEqual(load(bytes, { maxItems: 8 }), nested);
  assert.throws(
    () => load(bytes, { maxItems: 7 }),
    (error: unknown) =>
      error instanceof ProtocolError && /past maxItems 7/.test(error.message),
  );
  // The default budget is netref's: a million items, then no more.
  const million = dump(new PyTuple(new Array(1_000_000).fill(0)));
  assert.equal((load(million) as PyTuple).length, 1_000_000);
  const over = dump(new PyTuple(new Array(1_000_001).fill(0)));
  assert.throws(() => load(over), /past maxItems 1000000/);
});

Deno.test("brine load() of a compressed value allows max(131072, 32 × its compressed length) items", () => {
  assert.equal(COMPRESSED_ITEMS_FLOOR, 131_072);
  assert.equal(COMPRESSED_ITEMS_PER_BYTE, 32);
  const floor = dump(new PyTuple(new Array(131_072).fill(0)));
  assert.equal(
    (load(floor, { compressedBytes: 10 }) as PyTuple).length,
    131_072,
  );
  const over = dump(new PyTuple(new Array(131_073).fill(0)));
  assert.throws(
    () => load(over, { compressedBytes: 10 }),
    (error: unknown) =>
      error instanceof ProtocolError &&
      error.message.includes(
        "a tuple of 131073 items at offset 5 takes the value past 131072 items, the most a value compressed to 10 bytes may hold (max(131072, 32 × 10))",
      ),
  );
  // Beyond the floor, 32 items per compressed byte.
  assert.equal(
    (load(over, { compressedBytes: 4097 }) as PyTuple).length,
    131_073,
  );
  // The nested tuple that goes past it is named: 2 + 131,069 + 2 items.
  const nested = dump(
    PyTuple.of(new PyTuple(new Array(131_069).fill(0)), PyTuple.of(1, 2)),
  );
  assert.throws(
    () => load(nested, { compressedBytes: 10 }),
    /a tuple of 2 items at offset 131076 takes the value past 131072 items/,
  );
  assert.equal((load(nested, { compressedBytes: 4097 }) as PyTuple).length, 2);
  // maxItems still applies when it is the smaller budget.
  assert.throws(
    () => load(over, { compressedBytes: 10, maxItems: 100 }),
    /a tuple of 131073 items at offset 5 takes the value past maxItems 100$/,
  );
});

Deno.test("brine load() reads short decimal ints as Python's int() does", () => {
  const intL1 = (text: string) =>
    load(new Uint8Array([BrineTag.INT_L1, text.length, ...ascii(text)]));
  assert.ok(Object.is(intL1("-0"), 0));
  assert.equal(intL1("+5"), 5);
  assert.equal(intL1("00012"), 12);
  assert.equal(intL1("-999999999999999"), -999_999_999_999_999);
  assert.equal(intL1("9007199254740993"), 9007199254740993n);
  assert.throws(() => intL1("-"), /int "-" is not decimal digits, at offset 2/);
  assert.throws(() => intL1("1a"), /int "1a" is not decimal digits/);
  assert.throws(
    () => load(new Uint8Array([BrineTag.INT_L1, 3, 0x31, 0x32])),
    /truncated: int digits needs 3 bytes at offset 2, 2 remain/,
  );
});

Deno.test("brine dump() and load() stop at maxDepth", () => {
  let nested: BrineValue = null;
  for (let i = 0; i < 10; i++) nested = PyTuple.of(nested);
  const bytes = dump(nested);
  assert.deepStrictEqual(load(bytes, { maxDepth: 10 }), nested);
  assert.throws(() => load(bytes, { maxDepth: 9 }), ProtocolError);
  assert.throws(() => dump(nested, { maxDepth: 9 }), RangeError);
  assert.equal(dumpable(nested, { maxDepth: 9 }), false);
  assert.equal(dumpable(nested, { maxDepth: 10 }), true);
  // A megabyte of TUP1 tags would overflow the stack without the limit.
  const deep = new Uint8Array(1 << 20).fill(BrineTag.TUP1);
  deep[deep.length - 1] = BrineTag.NONE;
  assert.throws(() => load(deep), /nesting depth exceeds maxDepth 256/);
});

Deno.test("brine load() rejects malformed input with a ProtocolError", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty input", bytesOf(), /truncated: a tag needs 1 bytes at offset 0/],
    ["an unknown tag", bytesOf(0x07), /unknown tag 0x07 at offset 0/],
    ["the retired long tag", bytesOf(0x09), /unknown tag 0x09/],
    ["a tag past the small ints", bytesOf(0xf0), /unknown tag 0xf0/],
    [
      "truncated bytes",
      bytesOf(0x0e, 5, 1, 2),
      /truncated: bytes needs 5 bytes at offset 2, 2 remain/,
    ],
    ["truncated STR4", bytesOf(0x0d, 1), /truncated/],
    [
      "a huge bytes length",
      bytesOf(0x0f, 0xff, 0xff, 0xff, 0xff, 1),
      /bytes needs 4294967295 bytes/,
    ],
    [
      "a truncated length",
      bytesOf(0x0f, 0, 0),
      /a 4-byte length needs 4 bytes/,
    ],
    [
      "a huge tuple count",
      bytesOf(0x15, 0xff, 0xff, 0xff, 0xff, 0),
      /tuple of 4294967295 items cannot fit in the 1 bytes/,
    ],
    [
      "a tuple count beyond the bytes left",
      bytesOf(0x13, 0x51, 0x52),
      /tuple of 4 items cannot fit in the 2 bytes remaining at offset 1/,
    ],
    [
      "a tuple missing its last item",
      bytesOf(0x11, 0x0a, 0x41),
      /truncated: a tag needs 1 bytes at offset 3/,
    ],
    [
      "a huge int length",
      bytesOf(0x17, 0xff, 0xff, 0xff, 0xff),
      /int of 4294967295 characters exceeds 4300 digits/,
    ],
    [
      "an int of 4301 digits",
      new Uint8Array([0x17, 0, 0, 0x10, 0xcd, ...ascii("1".repeat(4301))]),
      /int of 4301 digits exceeds 4300/,
    ],
    [
      "an int with letters",
      new Uint8Array([0x16, 2, ...ascii("1x")]),
      /int "1x" is not decimal digits/,
    ],
    [
      "an int with an underscore",
      new Uint8Array([0x16, 3, ...ascii("1_0")]),
      /not decimal digits/,
    ],
    ["an empty int", bytesOf(0x16, 0), /int "" is not decimal digits/],
    [
      "a bare minus sign",
      new Uint8Array([0x16, 1, ...ascii("-")]),
      /not decimal digits/,
    ],
    [
      "a truncated float",
      bytesOf(0x18, 1, 2, 3),
      /an 8-byte float needs 8 bytes at offset 1, 3 remain/,
    ],
    [
      "a truncated complex",
      new Uint8Array([0x1b, ...new Uint8Array(12)]),
      /an 8-byte float needs 8 bytes at offset 9, 4 remain/,
    ],
    [
      "a str wrapping an int",
      bytesOf(0x08, 0x51),
      /a str must wrap bytes, got tag 0x51 at offset 1/,
    ],
    [
      "a str of invalid UTF-8",
      bytesOf(0x08, 0x0b, 0xff, 0xfe),
      /invalid UTF-8 in the str at offset 1/,
    ],
    [
      "a str of an encoded surrogate",
      bytesOf(0x08, 0x0c, 0xed, 0xa0, 0x80),
      /invalid UTF-8/,
    ],
    [
      "a frozenset wrapping an int",
      bytesOf(0x1a, 0x51),
      /a frozenset must wrap a tuple, got tag 0x51/,
    ],
    [
      "a frozenset wrapping bytes",
      bytesOf(0x1a, 0x0a, 0x41),
      /a frozenset must wrap a tuple/,
    ],
    [
      "a slice of two items",
      bytesOf(0x19, 0x11, 0x51, 0x52),
      /a slice needs 3 items, got 2, at offset 0/,
    ],
    ["a slice wrapping None", bytesOf(0x19, 0x00), /a slice must wrap a tuple/],
    [
      "trailing bytes",
      bytesOf(0x00, 0x00, 0x00),
      /2 trailing bytes after the value, at offset 1/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => load(bytes), (error: unknown) => {
        assert.ok(
          error instanceof ProtocolError,
          `not a ProtocolError: ${error}`,
        );
        assert.match(error.message, /^Cannot decode brine: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }
  await t.step("input that is not a Uint8Array", () => {
    assert.throws(() => load([0] as unknown as Uint8Array), TypeError);
  });
});

Deno.test("brine load() rejects every truncation of a valid value", () => {
  const bytes = dump(STRUCTURE_CASES.at(-2)![1]);
  for (let length = 0; length < bytes.length; length++) {
    assert.throws(() => load(bytes.subarray(0, length)), ProtocolError);
  }
});

Deno.test("brine load() throws only ProtocolError on random bytes", () => {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < 20000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 24));
    for (let j = 0; j < bytes.length; j++) {
      // Bias towards structural tags so inputs get past the first byte.
      bytes[j] = random() < 0.5
        ? Math.floor(random() * 0x1c)
        : Math.floor(random() * 256);
    }
    let value: BrineValue;
    try {
      value = load(bytes);
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `${hex(bytes)}: ${error}`);
      continue;
    }
    // Several encodings load to one value (a 2-tuple sent as TUP_L1, say),
    // so compare values rather than bytes.
    assert.deepStrictEqual(load(dump(value)), value, hex(bytes));
  }
});

/** The compressed flag of each frame in `bytes`. */
function frameFlags(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = [];
  for (let offset = 0; offset < bytes.length;) {
    flags.push(bytes[offset + 4]);
    offset += 5 + view.getUint32(offset) + 1;
  }
  return flags;
}

// Python's Channel over a stream that only records writes or replays bytes.
const PY_CHANNEL = `import json, sys
from rpyc.core import brine
from rpyc.core.channel import Channel
class Stream:
    MAX_IO_CHUNK = 64000
    def __init__(self, data=b""):
        self.data, self.out = data, bytearray()
    def write(self, data):
        self.out += data
    def read(self, count):
        chunk, self.data = self.data[:count], self.data[count:]
        if len(chunk) != count:
            raise EOFError("short read")
        return chunk
`;

Deno.test("channel decoder unframes Python's frames, compressed or not, in any chunking", async () => {
  const { stream, payloads } = await python<
    { stream: string; payloads: string[] }
  >(
    PY_CHANNEL + `
values = [None, (1, 2, 'three'), b'x' * 2999, ('big', tuple(range(2000))), 'z' * 100000]
stream = Stream()
channel = Channel(stream)
payloads = [brine.dump(v) for v in values]
for p in payloads:
    channel.send(p)
print(json.dumps({"stream": stream.out.hex(), "payloads": [p.hex() for p in payloads]}))`,
    null,
  );
  const bytes = fromHex(stream);
  // Payloads over 3000 bytes arrive with the compressed flag set.
  assert.deepStrictEqual(frameFlags(bytes), [0, 0, 1, 1, 1]);
  const wanted = payloads.map(fromHex);
  for (const size of [bytes.length, 1, 7, 4096]) {
    const decoder = new ChannelDecoder();
    const messages: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) {
      messages.push(...decoder.push(bytes.slice(i, i + size)));
    }
    decoder.end();
    assert.equal(decoder.bufferedBytes, 0);
    assert.deepStrictEqual(messages, wanted, `chunks of ${size}`);
  }
  assert.deepStrictEqual(
    load(wanted[3]),
    PyTuple.of("big", new PyTuple(range(2000))),
  );
});

Deno.test("an RPyC message from Python that inflates past its item budget is refused, ordinary compressed ones are read", async () => {
  const { stream } = await python<{ stream: string }>(
    PY_CHANNEL + `
item = (5, (2, ((1, frozenset(['s' * 21])),)))
values = [
    tuple([0] * 100000),
    tuple(tuple([0] * 100) for i in range(1000)),
    tuple(('k%d' % (i % 50), i % 7) for i in range(50000)),
    tuple(item for i in range(60000)),
]
stream = Stream()
channel = Channel(stream)
for v in values:
    channel.send(brine.dump((2, 1, (1, v))))
print(json.dumps({"stream": stream.out.hex()}))`,
    null,
  );
  const bytes = fromHex(stream);
  assert.deepStrictEqual(frameFlags(bytes), [1, 1, 1, 1]);
  const payloads = new ChannelDecoder().push(bytes);
  // A tuple of 100,000 zeros, a 1,000 × 100 matrix of zeros, 50,000 pairs.
  const sizes = payloads.slice(0, 3).map((payload) => {
    const { args } = decodeMessage(WireVersion.V5, payload);
    return ((args as PyTuple).items[1] as PyTuple).length;
  });
  assert.deepStrictEqual(sizes, [100_000, 1_000, 50_000]);
  // 540,000 items in a frame of about 16 KB.
  assert.throws(
    () => decodeMessage(WireVersion.V5, payloads[3]),
    (error: unknown) =>
      error instanceof ProtocolError &&
      /takes the value past \d+ items, the most a value compressed to \d+ bytes may hold \(max\(131072, 32 × \d+\)\); send it uncompressed or in smaller parts$/
        .test(error.message),
  );
});

Deno.test("channel frames we encode are read by Python's Channel.recv", async () => {
  const payloads = [
    dump(null),
    dump(new Uint8Array(2995)), // 3000 bytes with its tag and length
    dump(new Uint8Array(2996)),
    dump(PyTuple.of("big", "y".repeat(50000))),
  ];
  const frames = payloads.map((p) => encodeChannelFrame(p));
  // RPyC's rule: compress payloads longer than 3000 bytes, at level 1.
  assert.deepStrictEqual(frames.map((f) => f[4]), [0, 0, 1, 1]);
  const received = await python<string[]>(
    PY_CHANNEL + `
channel = Channel(Stream(bytes.fromhex(json.load(sys.stdin))))
print(json.dumps([channel.recv().hex() for _ in range(4)]))`,
    frames.map(hex).join(""),
  );
  assert.deepStrictEqual(received, payloads.map(hex));
});

Deno.test("channel frames without compression match Python's bytes exactly", async () => {
  const payload = dump(PyTuple.of(Msg.REPLY, 3, PyTuple.of(Label.VALUE, "ok")));
  const [framed] = await python<string[]>(
    PY_CHANNEL + `
stream = Stream()
Channel(stream).send(bytes.fromhex(json.load(sys.stdin)))
print(json.dumps([stream.out.hex()]))`,
    hex(payload),
  );
  assert.equal(hex(encodeChannelFrame(payload)), framed);
  const big = new Uint8Array(5000);
  assert.equal(encodeChannelFrame(big, { compress: false })[4], 0);
  assert.equal(
    encodeChannelFrame(bytesOf(1), { compressionThreshold: 0 })[4],
    1,
  );
});

Deno.test("channel decoder refuses an oversized frame from its header alone", () => {
  const decoder = new ChannelDecoder({ maxFrameBytes: 1024 });
  assert.deepStrictEqual(decoder.push(bytesOf(0, 0, 4)), []);
  assert.throws(
    () => decoder.push(bytesOf(1, 0)),
    (error: unknown) =>
      error instanceof ProtocolError &&
      error.message ===
        "Cannot decode frame: length 1025 exceeds maxFrameBytes 1024",
  );
  // The stream is out of step now: later pushes fail too.
  assert.throws(
    () => decoder.push(encodeChannelFrame(bytesOf(1))),
    /failed earlier/,
  );
  const huge = new ChannelDecoder();
  assert.throws(
    () => huge.push(bytesOf(0xff, 0xff, 0xff, 0xff, 0)),
    /length 4294967295 exceeds maxFrameBytes 16777216/,
  );
});

Deno.test("channel decoder rejects malformed frames with a ProtocolError", async (t) => {
  const bomb = encodeChannelFrame(new Uint8Array(1 << 20), {
    compressionLevel: 9,
  });
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "a flag other than 0 or 1",
      bytesOf(0, 0, 0, 1, 2, 0, 0x0a),
      /compressed flag 2 is neither 0 nor 1/,
    ],
    [
      "a missing newline",
      bytesOf(0, 0, 0, 1, 0, 0, 0x00),
      /expected "\\n" after the 1-byte payload, got 0x00/,
    ],
    [
      "invalid zlib data",
      bytesOf(0, 0, 0, 3, 1, 1, 2, 3, 0x0a),
      /invalid zlib data in a 3-byte compressed payload/,
    ],
    [
      "truncated zlib data",
      (() => {
        const frame = encodeChannelFrame(new Uint8Array(4000));
        const cut = frame.length - 6;
        const shortened = frame.slice(0, cut);
        new DataView(shortened.buffer).setUint32(0, cut - 5 - 1);
        shortened[cut - 1] = 0x0a;
        return shortened;
      })(),
      /invalid zlib data/,
    ],
    [
      "a zlib bomb",
      bomb,
      /compressed payload inflates past maxFrameBytes 65536/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      const decoder = new ChannelDecoder({ maxFrameBytes: 65536 });
      assert.throws(() => decoder.push(bytes), (error: unknown) => {
        assert.ok(
          error instanceof ProtocolError,
          `not a ProtocolError: ${error}`,
        );
        assert.match(error.message, /^Cannot decode frame: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }
  await t.step("a stream that ends inside a frame", () => {
    const decoder = new ChannelDecoder();
    decoder.push(encodeChannelFrame(bytesOf(1, 2, 3)).subarray(0, 6));
    assert.equal(decoder.bufferedBytes, 6);
    assert.throws(
      () => decoder.end(),
      /stream ended 6 bytes into a frame of 9/,
    );
  });
  await t.step("a maxFrameBytes that is not a count", () => {
    assert.throws(() => new ChannelDecoder({ maxFrameBytes: -1 }), RangeError);
    assert.throws(() => new ChannelDecoder({ maxFrameBytes: 1.5 }), RangeError);
  });
});

Deno.test("channel decoder does not keep or share the caller's chunk", () => {
  const decoder = new ChannelDecoder();
  const frame = encodeChannelFrame(bytesOf(1, 2, 3));
  const twice = new Uint8Array([...frame, ...frame]);
  const readBuffer = twice.slice(0, 10);
  const [first] = decoder.push(readBuffer);
  readBuffer.fill(0xee);
  const [second] = decoder.push(twice.slice(10));
  assert.deepStrictEqual(first, bytesOf(1, 2, 3));
  assert.deepStrictEqual(second, bytesOf(1, 2, 3));
});
