/**
 * Random values for the fuzzer, for both wires: ordinary data, the corner
 * cases a codec gets wrong (integer edges, -0, NaN, long and odd strings),
 * and the probes a peer should never be able to use (thenables, `toJSON`,
 * `__proto__`, every extension type, nesting thousands of levels deep).
 *
 * @module
 */

import { Ext, RefKind } from "../src/protocol/constants.ts";
import type { Random } from "./_random.ts";
import {
  ExtNode,
  F32Node,
  IntNode,
  MapNode,
  NestNode,
  type Node,
  PyNode,
  RawNode,
} from "./_tree.ts";

/** Member names a handler might meet as keys or a peer might try as paths. */
export const ODD_NAMES: readonly string[] = [
  "then",
  "toJSON",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "length",
  "secret",
  "__class__",
  "__dict__",
  "__getattribute__",
  "",
  "a",
  "b",
  "x".repeat(300),
];

const INTEGERS: readonly (number | bigint)[] = [
  0,
  1,
  -1,
  127,
  128,
  255,
  256,
  -32,
  -33,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 64n - 1n,
];

const FLOATS: readonly number[] = [
  0.5,
  -0,
  NaN,
  Infinity,
  -Infinity,
  1e308,
  5e-324,
  3.14159,
];

/** A string: short, unicode, long, or one of the odd names. */
export function randomString(r: Random): string {
  switch (r.int(6)) {
    case 0:
      return r.pick(ODD_NAMES);
    case 1:
      return "héllo wörld ✓ 🦕";
    case 2:
      return "s".repeat(r.length(5000));
    case 3:
      return String.fromCharCode(...r.bytes(r.length(20)));
    default:
      return ["foo", "bar", "x", "name", "value"][r.int(5)] + r.int(100);
  }
}

/** An integer near an edge of some encoding. */
export function randomInteger(r: Random): number | bigint {
  return r.chance(0.5) ? r.pick(INTEGERS) : r.range(-1000, 100000);
}

/** What a netref value generator needs to know about its connection. */
export interface NetrefValueContext {
  /** Ids of refs this peer exported that the server may hold. */
  ourRefs(): number;
  /** The highest ref id the server may have exported to this peer. */
  serverRefs(): number;
  /** Whether the value goes in a blob frame (so BLOB extensions may point somewhere). */
  blobBytes: number;
}

/** A reference to one of this peer's objects: a callback or an object. */
export function ourRef(r: Random, ctx: NetrefValueContext, fn = true): Node {
  const id = r.chance(0.9) ? r.range(1, ctx.ourRefs() + 1) : r.pick(BAD_IDS);
  const kind = fn ? RefKind.FUNCTION : r.pick([RefKind.OBJECT, 2, -1]);
  return new ExtNode(Ext.REF, [id, kind]);
}

/** One of the server's objects coming back to it (0: its root). */
export function theirRef(r: Random, ctx: NetrefValueContext): Node {
  const id = r.chance(0.9) ? r.range(0, ctx.serverRefs() + 1) : r.pick(BAD_IDS);
  return new ExtNode(Ext.RETURN, id);
}

const BAD_IDS: readonly Node[] = [
  0,
  -1,
  2 ** 53,
  1.5,
  "1",
  null,
  2 ** 32 + 1,
  new IntNode(2n ** 64n - 1n, 0xcf),
];

/** Extension types msgpackr decodes by itself unless told not to. */
const BUILTIN_EXTS: readonly number[] = [
  0,
  0x42,
  0x62,
  0x65,
  0x69,
  0x70,
  0x73,
  0x74,
  0x78,
  -1,
];

/** A msgpack value for the netref wire, at most `depth` levels deep. */
export function netrefValue(
  r: Random,
  ctx: NetrefValueContext,
  depth = 3,
): Node {
  const leaf = depth <= 0;
  const choice = r.weighted<string>([
    [6, "null"],
    [2, "undefined"],
    [3, "bool"],
    [12, "int"],
    [4, "float"],
    [10, "string"],
    [3, "bin"],
    [leaf ? 0 : 8, "array"],
    [leaf ? 0 : 8, "object"],
    [leaf ? 0 : 2, "anymap"],
    [6, "ourRef"],
    [4, "theirRef"],
    [leaf ? 0 : 2, "thenable"],
    [leaf ? 0 : 2, "extMap"],
    [leaf ? 0 : 2, "extSet"],
    [leaf ? 0 : 2, "extError"],
    [1, "extBlob"],
    [2, "date"],
    [2, "builtinExt"],
    [1, "randomExt"],
    [1, "deep"],
    [0.3, "bigBigint"],
    [0.02, "dag"],
  ]);
  switch (choice) {
    case "null":
      return null;
    case "undefined":
      return undefined;
    case "bigBigint":
      // msgpackr's big-integer extension, up to 800,000 bits.
      return new ExtNode(
        0x42,
        new RawNode(r.bytes(r.pick([9, 1000, 100_000]))),
        false,
      );
    case "dag":
      return new RawNode(dagBomb(r.range(8, 28)));
    case "bool":
      return r.chance(0.5);
    case "int": {
      const value = randomInteger(r);
      if (typeof value === "bigint" || !r.chance(0.2)) return value;
      // The same integer, in a wider format than needed.
      return new IntNode(value, r.pick([0xcc, 0xcd, 0xce, 0xcf, 0xd3]));
    }
    case "float":
      return r.chance(0.2)
        ? new F32Node(r.pick(FLOATS))
        : r.pick(FLOATS) * (r.chance(0.5) ? 1 : r.float());
    case "string":
      return randomString(r);
    case "bin":
      return r.bytes(r.length(300));
    case "array":
      return Array.from(
        { length: r.length(12) },
        () => netrefValue(r, ctx, depth - 1),
      );
    case "object": {
      // No prototype: a key such as __proto__ is then an own property.
      const object: { [key: string]: Node } = Object.create(null);
      for (let i = r.length(8); i > 0; i--) {
        object[r.chance(0.4) ? r.pick(ODD_NAMES) : randomString(r)] =
          netrefValue(r, ctx, depth - 1);
      }
      return object;
    }
    case "anymap":
      return new MapNode(
        Array.from({ length: r.length(6) }, () => [
          netrefValue(r, ctx, 0),
          netrefValue(r, ctx, depth - 1),
        ]),
      );
    case "ourRef":
      return ourRef(r, ctx, r.chance(0.7));
    case "theirRef":
      return theirRef(r, ctx);
    case "thenable":
      // A peer's object that looks like a promise.
      return r.chance(0.7)
        ? { then: ourRef(r, ctx) }
        : { then: theirRef(r, ctx), catch: ourRef(r, ctx) };
    case "extMap":
      return new ExtNode(
        Ext.MAP,
        Array.from(
          { length: r.chance(0.1) ? 3 : 2 * r.length(5) },
          () => netrefValue(r, ctx, depth - 1),
        ),
      );
    case "extSet":
      return new ExtNode(
        Ext.SET,
        r.chance(0.1) ? netrefValue(r, ctx, 0) : Array.from(
          { length: r.length(6) },
          () => netrefValue(r, ctx, depth - 1),
        ),
      );
    case "extError":
      return new ExtNode(Ext.ERROR, {
        name: r.chance(0.8) ? "TypeError" : netrefValue(r, ctx, 0),
        message: r.chance(0.8) ? randomString(r) : netrefValue(r, ctx, 0),
        ...(r.chance(0.5) ? { stack: netrefValue(r, ctx, 0) } : {}),
        ...(r.chance(0.3) ? { code: netrefValue(r, ctx, 0) } : {}),
        ...(r.chance(0.3) ? { cause: netrefValue(r, ctx, depth - 1) } : {}),
      });
    case "extBlob": {
      const length = r.int(ctx.blobBytes + 2);
      return new ExtNode(Ext.BLOB, [
        r.chance(0.8) ? r.int(Math.max(1, ctx.blobBytes - length + 1)) : -1,
        r.chance(0.9) ? length : 2 ** 40,
      ]);
    }
    case "date": {
      const size = r.pick([4, 8, 12, 3]);
      return new ExtNode(-1, new RawNode(r.bytes(size)), false);
    }
    case "builtinExt": {
      const type = r.pick(BUILTIN_EXTS);
      return r.chance(0.5)
        ? new ExtNode(type, new RawNode(r.bytes(r.length(16))), false)
        : new ExtNode(type, netrefValue(r, ctx, 0), r.chance(0.7));
    }
    case "randomExt":
      return new ExtNode(
        r.range(-128, 127),
        new RawNode(r.bytes(r.length(20))),
        false,
      );
    default:
      return new NestNode(r.range(50, 5000), netrefValue(r, ctx, 0));
  }
}

/**
 * A value of msgpackr's structured-clone extensions (ids 0x69, pointers
 * 0x70) that decodes to a pair of pairs of pairs, `levels` deep, each level
 * pointing twice to the one below: a few bytes per level, 2^levels paths
 * for whoever walks it.
 */
export function dagBomb(levels: number): Uint8Array {
  const out = new Uint8Array(8 + (levels - 1) * 13);
  const view = new DataView(out.buffer);
  let at = 0;
  const ext = (type: number, id: number) => {
    out[at++] = 0xd6;
    out[at++] = type;
    view.setUint32(at, id);
    at += 4;
  };
  // Level n is [level n-1, pointer to level n-1]: the ids open outermost
  // first, the innermost level is "x", and the pointers close the pairs.
  for (let level = levels; level >= 2; level--) {
    ext(0x69, level);
    out[at++] = 0x92;
  }
  ext(0x69, 1);
  out[at++] = 0xa1;
  out[at++] = 0x78;
  for (let level = 2; level <= levels; level++) ext(0x70, level - 1);
  return out;
}

/** A brine value (unboxed: what goes inside `(VALUE, x)`). */
export function brineValue(r: Random, depth = 3): Node {
  const leaf = depth <= 0;
  const choice = r.weighted<string>([
    [5, "none"],
    [3, "bool"],
    [12, "int"],
    [2, "bigint"],
    [3, "float"],
    [10, "str"],
    [4, "bytes"],
    [leaf ? 0 : 8, "tuple"],
    [leaf ? 0 : 2, "frozenset"],
    [1, "slice"],
    [1, "complex"],
    [1, "const"],
    [1, "badint"],
    [1, "badstr"],
    [1, "deep"],
  ]);
  switch (choice) {
    case "none":
      return null;
    case "bool":
      return r.chance(0.5);
    case "int":
      return randomInteger(r);
    case "bigint":
      return BigInt(r.u32()) ** BigInt(r.range(2, 40)) *
        (r.chance(0.5) ? 1n : -1n);
    case "float":
      return r.chance(0.3)
        ? new PyNode("float", [r.pick([0, -0, 2, 1e15])])
        : r.pick(FLOATS);
    case "str":
      return randomString(r);
    case "bytes":
      return r.bytes(r.length(300));
    case "tuple":
      return Array.from(
        { length: r.length(12) },
        () => brineValue(r, depth - 1),
      );
    case "frozenset":
      return new PyNode(
        "frozenset",
        Array.from({ length: r.length(6) }, () => brineValue(r, depth - 1)),
      );
    case "slice":
      return new PyNode("slice", [
        brineValue(r, 0),
        brineValue(r, 0),
        brineValue(r, 0),
      ]);
    case "complex":
      return new PyNode("complex", [r.pick(FLOATS), r.pick(FLOATS)]);
    case "const":
      return new PyNode(r.chance(0.5) ? "ellipsis" : "notimplemented");
    case "badint":
      return new PyNode("inttext", [
        r.pick(["", "+", "-", "12a", "0x10", " 1", "9".repeat(5000)]),
      ]);
    case "badstr":
      // UNICODE around bytes that are not UTF-8.
      return new RawNode(new Uint8Array([0x08, 0x0b, 0xff, 0xfe]));
    default:
      return new NestNode(r.range(50, 5000), brineValue(r, 0));
  }
}
