/**
 * A brine writer for fuzzing: RPyC's value encoding, written from the same
 * trees as msgpack, with every count and length field recorded so that a
 * mutation can make one lie.
 *
 * @module
 */

import { BrineTag, IMM_INT_BIAS } from "../src/rpyc/constants.ts";
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

/** Encodes a tree as brine. */
export function encodeBrine(node: Node): Encoded {
  const out = new Out();
  write(out, node);
  return out.finish();
}

function write(out: Out, node: Node): void {
  switch (typeof node) {
    case "undefined":
      return out.byte(BrineTag.NONE);
    case "boolean":
      return out.byte(node ? BrineTag.TRUE : BrineTag.FALSE);
    case "number":
      if (Number.isSafeInteger(node)) return writeInt(out, node);
      out.byte(BrineTag.FLOAT);
      return out.f64(node);
    case "bigint":
      return writeInt(out, node);
    case "string":
      out.byte(BrineTag.UNICODE);
      return writeBytes(out, utf8.encode(node));
  }
  if (node === null) return out.byte(BrineTag.NONE);
  if (node instanceof Uint8Array) return writeBytes(out, node);
  if (Array.isArray(node)) return writeTuple(out, node);
  if (node instanceof PyNode) return writePy(out, node);
  if (node instanceof RawNode) return out.bytes(node.bytes);
  if (node instanceof NestNode) {
    for (let i = 0; i < node.depth; i++) out.byte(BrineTag.TUP1);
    return write(out, node.inner);
  }
  if (node instanceof RepeatNode) {
    writeTupleHeader(out, node.count);
    const item = encodeBrine(node.item).bytes;
    for (let i = 0; i < node.count; i++) out.bytes(item);
    return;
  }
  if (node instanceof IntNode) return writeInt(out, node.value);
  if (node instanceof F32Node) {
    out.byte(BrineTag.FLOAT);
    return out.f64(node.value);
  }
  if (node instanceof MapNode) return writeTuple(out, node.entries);
  if (node instanceof ExtNode) return write(out, node.body);
  if (isPlainMap(node)) return writeTuple(out, Object.entries(node));
}

function writeInt(out: Out, value: number | bigint): void {
  if (value >= -0x30 && value <= 0x9f) {
    return out.byte(Number(value) + IMM_INT_BIAS);
  }
  writeIntText(out, String(value));
}

function writeIntText(out: Out, text: string): void {
  const bytes = utf8.encode(text);
  if (bytes.length < 256) {
    out.byte(BrineTag.INT_L1);
    out.lengthField(1, bytes.length);
  } else {
    out.byte(BrineTag.INT_L4);
    out.lengthField(4, bytes.length);
  }
  out.bytes(bytes);
}

function writeBytes(out: Out, bytes: Uint8Array): void {
  const length = bytes.length;
  if (length === 0) return out.byte(BrineTag.EMPTY_STR);
  if (length <= 4) out.byte(BrineTag.STR1 + length - 1);
  else if (length < 256) {
    out.byte(BrineTag.STR_L1);
    out.lengthField(1, length);
  } else {
    out.byte(BrineTag.STR_L4);
    out.lengthField(4, length);
  }
  out.bytes(bytes);
}

function writeTuple(out: Out, items: readonly Node[]): void {
  writeTupleHeader(out, items.length);
  for (const item of items) write(out, item);
}

function writeTupleHeader(out: Out, length: number): void {
  if (length === 0) out.byte(BrineTag.EMPTY_TUPLE);
  else if (length <= 4) out.byte(BrineTag.TUP1 + length - 1);
  else if (length < 256) {
    out.byte(BrineTag.TUP_L1);
    out.lengthField(1, length);
  } else {
    out.byte(BrineTag.TUP_L4);
    out.lengthField(4, length);
  }
}

function writePy(out: Out, node: PyNode): void {
  const items = node.items;
  switch (node.kind) {
    case "float":
      out.byte(BrineTag.FLOAT);
      return out.f64(Number(items[0] ?? 0));
    case "complex":
      out.byte(BrineTag.COMPLEX);
      out.f64(Number(items[0] ?? 0));
      return out.f64(Number(items[1] ?? 0));
    case "frozenset":
      out.byte(BrineTag.FSET);
      return writeTuple(out, items);
    case "slice":
      out.byte(BrineTag.SLICE);
      return writeTuple(out, items);
    case "ellipsis":
      return out.byte(BrineTag.ELLIPSIS);
    case "notimplemented":
      return out.byte(BrineTag.NOT_IMPLEMENTED);
    case "inttext":
      return writeIntText(out, String(items[0] ?? ""));
  }
}
