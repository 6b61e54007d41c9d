import assert from "node:assert/strict";
import { encodeBareAnswer, encodeBareRequest } from "../src/protocol/bare.ts";
import type { FrameSlice } from "../src/protocol/frame.ts";
import { encodeValue } from "../src/protocol/codec.ts";
import { Kind, Op } from "../src/protocol/constants.ts";

/** Integers at every msgpack width boundary, both signs. */
const INTS = [
  0,
  1,
  31,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 31,
  2 ** 32 - 1,
  -1,
  -31,
  -32,
  -33,
  -127,
  -128,
  -129,
  -32768,
  -32769,
  -(2 ** 31),
];

/** The bytes of a bare request, or null where none could be written. */
function bareRequest(
  id: number,
  target: number,
  op: Op,
  path: string[],
): Uint8Array | null {
  const into: FrameSlice = { bytes: new Uint8Array(0), start: 0, end: 0 };
  if (!encodeBareRequest(id, target, op, path, into)) return null;
  return into.bytes.subarray(into.start, into.end);
}

/** The bytes of a bare answer, or null where none could be written. */
function bareAnswer(id: number, value: unknown): Uint8Array | null {
  const slice = encodeBareAnswer(id, value);
  return slice === null ? null : slice.bytes.subarray(slice.start, slice.end);
}

Deno.test("a bare request (a call with no arguments, or a read) is written byte for byte as msgpackr writes it", () => {
  const paths = [[], ["foo"], ["a", "b".repeat(31)], Array(15).fill("x")];
  for (const id of INTS) {
    for (const target of INTS) {
      for (const op of [Op.CALL, Op.GET]) {
        for (const path of paths) {
          const bare = bareRequest(id, target, op, path);
          const payload = op === Op.CALL ? [] : null;
          const reference = encodeValue(
            [Kind.REQUEST, id, target, op, path, payload, false],
          );
          assert.deepEqual(bare, new Uint8Array(reference));
        }
      }
    }
  }
});

Deno.test("a request a bare one cannot write (long or non-ASCII names, long paths, large ids, other ops) is left to msgpackr", () => {
  assert.equal(bareRequest(1, 0, Op.CALL, ["b".repeat(32)]), null);
  assert.equal(bareRequest(1, 0, Op.CALL, ["héllo"]), null);
  assert.equal(bareRequest(1, 0, Op.CALL, Array(16).fill("x")), null);
  assert.equal(bareRequest(2 ** 32, 0, Op.CALL, ["foo"]), null);
  assert.equal(bareRequest(1, -(2 ** 31) - 1, Op.GET, ["foo"]), null);
  assert.equal(bareRequest(1, 0, Op.SET, ["foo"]), null);
});

Deno.test("bare requests never share bytes: patching one's hold flag leaves the others as they were", () => {
  const requests = Array.from(
    { length: 1000 },
    (_, i) => bareRequest(i + 1, 0, Op.CALL, ["foo"])!,
  );
  for (const request of requests) request[request.length - 1] = 0xc3;
  for (let i = 0; i < requests.length; i++) {
    const reference = encodeValue(
      [Kind.REQUEST, i + 1, 0, Op.CALL, ["foo"], [], true],
    );
    assert.deepEqual(requests[i], new Uint8Array(reference));
  }
});

Deno.test("a bare answer (a short string, an integer within 32 bits, a boolean or null) is written byte for byte as msgpackr writes it", () => {
  const values = [...INTS, "", "foo", "x".repeat(31), true, false, null];
  for (const id of INTS.filter((n) => n > 0)) {
    for (const value of values) {
      assert.deepEqual(
        bareAnswer(id, value),
        new Uint8Array(encodeValue([Kind.RESPONSE, id, value])),
      );
    }
  }
});

Deno.test("an answer a bare one cannot write (-0, fractions, large integers, long or non-ASCII strings, undefined, objects, bigints) is left to the encoder", () => {
  const others = [
    -0,
    1.5,
    NaN,
    2 ** 32,
    -(2 ** 31) - 1,
    "x".repeat(32),
    "é",
    undefined,
    {},
    [],
    1n,
  ];
  for (const value of others) assert.equal(bareAnswer(1, value), null);
});
