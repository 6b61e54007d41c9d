/**
 * Mutations: structural ones on a message's tree (wrong types, missing or
 * extra fields, huge repeated counts, deep nesting) that keep the encoding
 * well-formed, and byte-level ones on an encoding (bit flips, truncation,
 * trailing bytes, splicing, length fields that lie).
 *
 * @module
 */

import type { Random } from "./_random.ts";
import {
  type Encoded,
  isPlainMap,
  MapNode,
  NestNode,
  type Node,
  RepeatNode,
} from "./_tree.ts";

/**
 * Changes one place in a tree, copying the containers on the way to it so
 * that the original stays as it was.
 *
 * @param r Random numbers.
 * @param node The tree (most often a message array).
 * @param anyValue Makes a replacement value.
 * @returns The mutated tree and a description.
 */
export function mutateTree(
  r: Random,
  node: Node,
  anyValue: () => Node,
): { node: Node; what: string } {
  if (!Array.isArray(node) && !isPlainMap(node)) {
    return { node: anyValue(), what: "replaced the whole message" };
  }
  let what = "";
  const visit = (current: Node, depth: number): Node => {
    const children = childrenOf(current);
    if (children === null || children.length === 0) {
      what = `replaced a ${typeName(current)} at depth ${depth}`;
      return anyValue();
    }
    const i = r.int(children.length);
    if (r.chance(0.45) && childrenOf(children[i]) !== null) {
      return withChild(current, i, visit(children[i], depth + 1));
    }
    const op = r.weighted<string>([
      [40, "replace"],
      [10, "drop"],
      [10, "extra"],
      [6, "repeat"],
      [6, "nest"],
      [4, "truncateArray"],
    ]);
    switch (op) {
      case "replace":
        what = `replaced item ${i} at depth ${depth} with another value`;
        return withChild(current, i, anyValue());
      case "drop":
        what = `dropped item ${i} at depth ${depth}`;
        return withoutChild(current, i);
      case "extra":
        what = `added items at depth ${depth}`;
        return Array.isArray(current)
          ? [...current, anyValue(), ...(r.chance(0.3) ? [anyValue()] : [])]
          : withChild(current, i, anyValue());
      case "repeat": {
        // Many copies of something small; a few of something big.
        const count = roughSize(children[i]) < 64
          ? r.weighted([[10, 2], [10, 100], [4, 5000], [1, 60000]])
          : r.pick([2, 20]);
        what = `repeated item ${i} at depth ${depth} ${count} times`;
        return withChild(current, i, new RepeatNode(count, children[i]));
      }
      case "nest": {
        const levels = r.pick([100, 1000, 20000]);
        what = `nested item ${i} at depth ${depth} ${levels} levels deep`;
        return withChild(current, i, new NestNode(levels, children[i]));
      }
      default:
        what = `cut the array at depth ${depth} to ${i} items`;
        return Array.isArray(current) ? current.slice(0, i) : current;
    }
  };
  const mutated = visit(node, 0);
  return { node: mutated, what };
}

function childrenOf(node: Node): Node[] | null {
  if (Array.isArray(node)) return node;
  if (node instanceof MapNode) return node.entries.map(([, v]) => v);
  if (isPlainMap(node)) return Object.values(node);
  return null;
}

function withChild(node: Node, i: number, child: Node): Node {
  if (Array.isArray(node)) {
    const copy = node.slice();
    copy[i] = child;
    return copy;
  }
  if (node instanceof MapNode) {
    return new MapNode(
      node.entries.map(([k, v], j) => [k, j === i ? child : v]),
    );
  }
  if (isPlainMap(node)) {
    const keys = Object.keys(node);
    return { ...node, [keys[i]]: child };
  }
  return node;
}

function withoutChild(node: Node, i: number): Node {
  if (Array.isArray(node)) return node.filter((_, j) => j !== i);
  if (node instanceof MapNode) {
    return new MapNode(node.entries.filter((_, j) => j !== i));
  }
  if (isPlainMap(node)) {
    const copy = { ...node };
    delete copy[Object.keys(node)[i]];
    return copy;
  }
  return node;
}

/** About how many bytes a tree encodes to, counted up to 4096. */
function roughSize(node: Node, budget = 4096): number {
  if (typeof node === "string") return node.length;
  if (node instanceof Uint8Array) return node.length;
  const children = childrenOf(node);
  if (children === null) return node instanceof NestNode ? node.depth : 9;
  let size = 1;
  for (const child of children) {
    size += roughSize(child, budget - size);
    if (size >= budget) break;
  }
  return size;
}

function typeName(node: Node): string {
  if (node === null) return "null";
  if (Array.isArray(node)) return "array";
  if (typeof node === "object") return node.constructor?.name ?? "map";
  return typeof node;
}

/** Bytes that mean something to msgpack or brine: headers of big things, reserved tags. */
const INTERESTING: readonly number[] = [
  0x00,
  0xff,
  0x7f,
  0x80,
  0xc0,
  0xc1,
  0xc7,
  0xc9,
  0xd4,
  0xd8,
  0xdb,
  0xdd,
  0xdf,
  0x0f,
  0x15,
  0x17,
  0x1a,
  0x19,
];

/**
 * Changes an encoding's bytes with one to three byte-level mutations.
 *
 * @param r Random numbers.
 * @param encoded The bytes and their length fields.
 * @param other Another payload of the same connection, for splicing.
 * @returns The mutated bytes and a description.
 */
export function mutateBytes(
  r: Random,
  encoded: Encoded,
  other: Uint8Array,
): { bytes: Uint8Array; what: string } {
  let bytes: Uint8Array = encoded.bytes.slice();
  const done: string[] = [];
  for (let n = r.range(1, 3); n > 0; n--) {
    const op = r.weighted<string>([
      [encoded.lengths.length > 0 ? 25 : 0, "lie"],
      [15, "flip"],
      [12, "interesting"],
      [10, "truncate"],
      [10, "trailing"],
      [8, "insert"],
      [6, "delete"],
      [6, "splice"],
    ]);
    const at = r.int(Math.max(1, bytes.length));
    switch (op) {
      case "lie": {
        const field = r.pick(encoded.lengths);
        if (field.at + field.width > bytes.length) break;
        const view = new DataView(bytes.buffer);
        const old = field.width === 1
          ? bytes[field.at]
          : field.width === 2
          ? view.getUint16(field.at)
          : view.getUint32(field.at);
        const max = field.width === 1
          ? 0xff
          : field.width === 2
          ? 0xffff
          : 0xffffffff;
        const lie = r.pick([0, old - 1, old + 1, old * 2, max, r.int(max + 1)]);
        const value = Math.max(0, Math.min(max, lie));
        if (field.width === 1) bytes[field.at] = value;
        else if (field.width === 2) view.setUint16(field.at, value);
        else view.setUint32(field.at, value);
        done.push(`length at ${field.at} ${old} -> ${value}`);
        break;
      }
      case "flip":
        if (bytes.length === 0) break;
        bytes[at] ^= 1 << r.int(8);
        done.push(`bit flip at ${at}`);
        break;
      case "interesting":
        if (bytes.length === 0) break;
        bytes[at] = r.pick(INTERESTING);
        done.push(`byte at ${at} = 0x${bytes[at].toString(16)}`);
        break;
      case "truncate":
        bytes = bytes.slice(0, at);
        done.push(`truncated to ${at}`);
        break;
      case "trailing": {
        const extra = r.chance(0.5)
          ? new Uint8Array([r.pick([0xc0, 0x00, 0x01, 0x90])])
          : r.bytes(r.range(1, 8));
        bytes = concat(bytes, extra);
        done.push(`${extra.length} trailing bytes`);
        break;
      }
      case "insert": {
        const chunk = r.bytes(r.range(1, 16));
        bytes = concat(bytes.subarray(0, at), chunk, bytes.subarray(at));
        done.push(`inserted ${chunk.length} bytes at ${at}`);
        break;
      }
      case "delete": {
        const end = Math.min(bytes.length, at + r.range(1, 16));
        bytes = concat(bytes.subarray(0, at), bytes.subarray(end));
        done.push(`deleted ${at}..${end}`);
        break;
      }
      default: {
        const from = r.int(Math.max(1, other.length));
        bytes = concat(bytes.subarray(0, at), other.subarray(from));
        done.push(`spliced at ${at} with another frame from ${from}`);
      }
    }
  }
  return { bytes, what: done.join(", ") || "unchanged" };
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
