/**
 * A msgpack writer for fuzzing: it writes exactly the tree it is given,
 * including integer widths, extension types and raw bytes no real encoder
 * would choose, and records its length fields.
 *
 * @module
 */

import {
  type Encoded,
  ExtNode,
  F32Node,
  IntNode,
  isPlainMap,
  MapNode,
  NestNode,
  type Node,
  Out,
  PyNode,
  RawNode,
  RepeatNode,
  utf8,
} from "./_tree.ts";

/** Encodes a tree as msgpack. */
export function encodeMsgpack(node: Node): Encoded {
  const out = new Out();
  write(out, node);
  return out.finish();
}

function write(out: Out, node: Node): void {
  switch (typeof node) {
    case "undefined":
      // msgpackr's undefined: fixext 1 of type 0.
      out.byte(0xd4);
      out.byte(0);
      return out.byte(0);
    case "boolean":
      return out.byte(node ? 0xc3 : 0xc2);
    case "number":
      return writeNumber(out, node);
    case "bigint":
      return writeBigint(out, node);
    case "string":
      return writeString(out, utf8.encode(node));
  }
  if (node === null) return out.byte(0xc0);
  if (node instanceof Uint8Array) {
    header(out, node.length, [0xc4, 0xc5, 0xc6]);
    return out.bytes(node);
  }
  if (Array.isArray(node)) {
    if (node.length < 16) out.byte(0x90 | node.length);
    else header(out, node.length, [0, 0xdc, 0xdd]);
    for (const item of node) write(out, item);
    return;
  }
  if (node instanceof MapNode) {
    mapHeader(out, node.entries.length);
    for (const [key, value] of node.entries) {
      write(out, key);
      write(out, value);
    }
    return;
  }
  if (node instanceof ExtNode) return writeExt(out, node);
  if (node instanceof IntNode) return writeInt(out, node);
  if (node instanceof F32Node) {
    out.byte(0xca);
    return out.f32(node.value);
  }
  if (node instanceof RawNode) return out.bytes(node.bytes);
  if (node instanceof NestNode) {
    for (let i = 0; i < node.depth; i++) out.byte(0x91);
    return write(out, node.inner);
  }
  if (node instanceof RepeatNode) {
    if (node.count < 16) out.byte(0x90 | node.count);
    else header(out, node.count, [0, 0xdc, 0xdd]);
    const item = encodeMsgpack(node.item).bytes;
    for (let i = 0; i < node.count; i++) out.bytes(item);
    return;
  }
  if (node instanceof PyNode) {
    // No msgpack meaning: written as its items, a wrong type for the receiver.
    return write(out, node.items);
  }
  if (isPlainMap(node)) {
    const keys = Object.keys(node);
    mapHeader(out, keys.length);
    for (const key of keys) {
      writeString(out, utf8.encode(key));
      write(out, node[key]);
    }
  }
}

function header(out: Out, length: number, formats: number[]): void {
  if (length < 0x100 && formats[0] !== 0) {
    out.byte(formats[0]);
    out.lengthField(1, length);
  } else if (length < 0x10000) {
    out.byte(formats[1]);
    out.lengthField(2, length);
  } else {
    out.byte(formats[2]);
    out.lengthField(4, length);
  }
}

function mapHeader(out: Out, count: number): void {
  if (count < 16) out.byte(0x80 | count);
  else header(out, count, [0, 0xde, 0xdf]);
}

function writeString(out: Out, bytes: Uint8Array): void {
  if (bytes.length < 32) out.byte(0xa0 | bytes.length);
  else header(out, bytes.length, [0xd9, 0xda, 0xdb]);
  out.bytes(bytes);
}

function writeNumber(out: Out, value: number): void {
  if (!Number.isInteger(value) || Object.is(value, -0)) {
    out.byte(0xcb);
    return out.f64(value);
  }
  if (value >= 0) {
    if (value < 0x80) return out.byte(value);
    if (value < 0x100) return writeInt(out, new IntNode(value, 0xcc));
    if (value < 0x10000) return writeInt(out, new IntNode(value, 0xcd));
    if (value < 0x100000000) return writeInt(out, new IntNode(value, 0xce));
    if (Number.isSafeInteger(value)) {
      return writeInt(out, new IntNode(value, 0xcf));
    }
  } else {
    if (value >= -32) return out.byte(value & 0xff);
    if (value >= -0x80) return writeInt(out, new IntNode(value, 0xd0));
    if (value >= -0x8000) return writeInt(out, new IntNode(value, 0xd1));
    if (value >= -0x80000000) return writeInt(out, new IntNode(value, 0xd2));
    if (Number.isSafeInteger(value)) {
      return writeInt(out, new IntNode(value, 0xd3));
    }
  }
  out.byte(0xcb);
  out.f64(value);
}

function writeBigint(out: Out, value: bigint): void {
  writeInt(out, new IntNode(value, value < 0n ? 0xd3 : 0xcf));
}

function writeInt(out: Out, node: IntNode): void {
  const value = BigInt(node.value);
  out.byte(node.format);
  switch (node.format) {
    case 0xcc:
    case 0xd0:
      return out.byte(Number(BigInt.asUintN(8, value)));
    case 0xcd:
    case 0xd1:
      return out.u16(Number(BigInt.asUintN(16, value)));
    case 0xce:
    case 0xd2:
      return out.u32(Number(BigInt.asUintN(32, value)));
    default:
      return out.u64(value);
  }
}

const FIXEXT: Record<number, number> = {
  1: 0xd4,
  2: 0xd5,
  4: 0xd6,
  8: 0xd7,
  16: 0xd8,
};

function writeExt(out: Out, node: ExtNode): void {
  if (node.inline) {
    out.byte(0xd4);
    out.byte(node.type & 0xff);
    out.byte(0);
    return write(out, node.body);
  }
  const body = node.body instanceof RawNode
    ? { bytes: node.body.bytes, lengths: [] }
    : encodeMsgpack(node.body);
  const fixed = FIXEXT[body.bytes.length];
  if (fixed !== undefined) out.byte(fixed);
  else header(out, body.bytes.length, [0xc7, 0xc8, 0xc9]);
  out.byte(node.type & 0xff);
  out.embed(body);
}
