/**
 * The value trees the fuzzer builds frames from, shared by its msgpack and
 * brine writers, and the output buffer both write into. A tree may say what
 * no honest encoder would (a chosen integer width, raw bytes, a nesting a
 * thousand levels deep), and the writers record where every length or
 * count field lies, so that a mutation can make one of them lie.
 *
 * @module
 */

/** A value to encode: plain JavaScript data, or one of the node classes below. */
export type Node =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Node[]
  | MapNode
  | ExtNode
  | IntNode
  | F32Node
  | RawNode
  | NestNode
  | RepeatNode
  | PyNode
  | { [key: string]: Node };

/** A msgpack map whose keys may be anything, in this order. */
export class MapNode {
  /** @param entries Key and value pairs. */
  constructor(readonly entries: [Node, Node][]) {}
}

/**
 * A msgpack extension: its type byte and a body (a tree, or raw bytes).
 * msgpackr writes its structured extensions (netref's own among them)
 * inline: a one-byte extension of that type holding 0, then the body as the
 * next value; other extensions carry their body as their payload.
 */
export class ExtNode {
  /**
   * @param type The extension type, -128 to 127.
   * @param body Encoded as msgpack, or as is when a {@linkcode RawNode}.
   * @param inline Whether the body follows a one-byte extension instead of
   *   being its payload.
   */
  constructor(
    readonly type: number,
    readonly body: Node,
    readonly inline = true,
  ) {}
}

/** A msgpack integer written with one chosen format byte (0xcc to 0xd3). */
export class IntNode {
  /**
   * @param value The integer.
   * @param format The msgpack format byte to write it with.
   */
  constructor(readonly value: number | bigint, readonly format: number) {}
}

/** A msgpack 32-bit float. */
export class F32Node {
  /** @param value The float. */
  constructor(readonly value: number) {}
}

/** Bytes written as they are. */
export class RawNode {
  /** @param bytes The bytes. */
  constructor(readonly bytes: Uint8Array) {}
}

/** `inner` inside `depth` one-item arrays (msgpack) or tuples (brine). */
export class NestNode {
  /**
   * @param depth How many levels.
   * @param inner The innermost value.
   */
  constructor(readonly depth: number, readonly inner: Node) {}
}

/** An array (msgpack) or tuple (brine) of `count` copies of one item, encoded once. */
export class RepeatNode {
  /**
   * @param count How many copies.
   * @param item The item.
   */
  constructor(readonly count: number, readonly item: Node) {}
}

/**
 * A brine value with no JavaScript counterpart: a float that is a whole
 * number, a frozenset, a slice, a complex, Ellipsis or NotImplemented, or an
 * int written from its decimal text (which may not be decimal at all).
 */
export class PyNode {
  /**
   * @param kind Which Python value.
   * @param items Its members or parts.
   */
  constructor(
    readonly kind:
      | "float"
      | "frozenset"
      | "slice"
      | "complex"
      | "ellipsis"
      | "notimplemented"
      | "inttext",
    readonly items: Node[] = [],
  ) {}
}

/** Where a length or count field sits in an encoding, and its width in bytes. */
export interface LengthField {
  /** Offset of the field. */
  at: number;
  /** 1, 2 or 4 bytes, big-endian. */
  width: 1 | 2 | 4;
}

/** An encoding and the length fields in it. */
export interface Encoded {
  /** The bytes. */
  bytes: Uint8Array;
  /** Every length or count field written. */
  lengths: LengthField[];
}

/** A growable big-endian output buffer that records length fields. */
export class Out {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  /** Length fields written so far. */
  readonly lengths: LengthField[] = [];

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  u16(value: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.#length, value);
    this.#length += 2;
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value >>> 0);
    this.#length += 4;
  }

  u64(value: bigint): void {
    this.#reserve(8);
    this.#view.setBigUint64(this.#length, BigInt.asUintN(64, value));
    this.#length += 8;
  }

  f32(value: number): void {
    this.#reserve(4);
    this.#view.setFloat32(this.#length, value);
    this.#length += 4;
  }

  f64(value: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value);
    this.#length += 8;
  }

  bytes(value: Uint8Array): void {
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
  }

  /** Writes a length or count field, and records where it is. */
  lengthField(width: 1 | 2 | 4, value: number): void {
    this.lengths.push({ at: this.#length, width });
    if (width === 1) this.byte(value);
    else if (width === 2) this.u16(value);
    else this.u32(value);
  }

  /** Appends another encoding, keeping its length fields. */
  embed(encoded: Encoded): void {
    for (const field of encoded.lengths) {
      this.lengths.push({ at: field.at + this.#length, width: field.width });
    }
    this.bytes(encoded.bytes);
  }

  finish(): Encoded {
    return {
      bytes: this.#buffer.slice(0, this.#length),
      lengths: this.lengths,
    };
  }

  #reserve(count: number): void {
    const needed = this.#length + count;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** Whether a node is a plain object standing for a map with string keys. */
export function isPlainMap(node: Node): node is { [key: string]: Node } {
  if (typeof node !== "object" || node === null) return false;
  const proto = Object.getPrototypeOf(node);
  return proto === Object.prototype || proto === null;
}

export const utf8 = new TextEncoder();
