/**
 * The netref wire, as the fuzzer speaks it: a peer's hello, and a stream of
 * plausible messages of every kind (requests on the root, on refs and on
 * held results, answers to the server's callbacks, releases, pings, blob
 * frames) that follow one connection's state, so that mutations start from
 * frames that reach deep into the server.
 *
 * @module
 */

import {
  BLOB_FRAME_FLAG,
  Kind,
  MAGIC,
  Op,
  PROTOCOL_VERSION,
} from "../src/protocol/constants.ts";
import { encodeMsgpack } from "./_msgpack.ts";
import type { Random } from "./_random.ts";
import { type Encoded, ExtNode, IntNode, type Node, RawNode } from "./_tree.ts";
import {
  dagBomb,
  netrefValue,
  type NetrefValueContext,
  ODD_NAMES,
  ourRef,
  randomInteger,
  randomString,
} from "./_values.ts";

/** A message before encoding, with a name for reports. */
export interface Message {
  /** The message array (or, mutated, anything). */
  node: Node;
  /** Such as `REQUEST CALL echo`. */
  label: string;
  /** Raw bytes after the value: set for a blob frame. */
  blobs?: Uint8Array;
}

/** Encodes the hello map with its `NREF` header. */
export function helloBytes(map: Node, version = PROTOCOL_VERSION): Encoded {
  const body = encodeMsgpack(map);
  const out = new Uint8Array(9 + body.bytes.length);
  out.set(MAGIC, 0);
  out[4] = version;
  new DataView(out.buffer).setUint32(5, body.bytes.length);
  out.set(body.bytes, 9);
  return {
    bytes: out,
    lengths: [
      { at: 5, width: 4 },
      ...body.lengths.map((f) => ({ at: f.at + 9, width: f.width })),
    ],
  };
}

/** A hello a client might send, announcing some features. */
export function helloMap(r: Random): { [key: string]: Node } {
  const features: string[] = [];
  if (r.chance(0.7)) features.push("pipelining");
  if (r.chance(0.6)) features.push("blobs");
  return {
    implementation: "netref-fuzz/0.0.0",
    maxFrameBytes: r.chance(0.9) ? 16 * 1024 * 1024 : r.range(64, 100000),
    features,
    ...(r.chance(0.2) ? { service: "fuzz" } : {}),
  };
}

/**
 * Frames a payload: a u32 length, with the blob flag for a blob frame.
 */
export function netrefFrame(payload: Uint8Array, blob = false): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(
    0,
    blob ? (payload.length | BLOB_FRAME_FLAG) >>> 0 : payload.length,
  );
  out.set(payload, 4);
  return out;
}

/** Encodes a message's payload; a blob frame's includes its value length and raw bytes. */
export function netrefPayload(message: Message): Encoded {
  const value = encodeMsgpack(message.node);
  if (message.blobs === undefined) return value;
  const out = new Uint8Array(4 + value.bytes.length + message.blobs.length);
  new DataView(out.buffer).setUint32(0, value.bytes.length);
  out.set(value.bytes, 4);
  out.set(message.blobs, 4 + value.bytes.length);
  return {
    bytes: out,
    lengths: [
      { at: 0, width: 4 },
      ...value.lengths.map((f) => ({ at: f.at + 4, width: f.width })),
    ],
  };
}

/** A root method, and how to make plausible arguments for it. */
interface Method {
  path: string[];
  args(r: Random, s: NetrefPeer): Node[];
  /** How many refs the server exports to us for one call. */
  refs?: number;
  /** Whether the server calls one of our functions back. */
  callsBack?: boolean;
}

const ROOT_METHODS: readonly Method[] = [
  {
    path: ["echo"],
    // Now and then a structured-clone DAG, which doubles at each level.
    args: (r, s) =>
      r.chance(0.002) ? [new RawNode(dagBomb(r.range(20, 28)))] : [s.value(r)],
  },
  { path: ["add"], args: (r, s) => [s.smallValue(r), s.smallValue(r)] },
  {
    path: ["makeCounter"],
    args: (r) => r.chance(0.8) ? [r.int(100)] : [],
    refs: 1,
  },
  {
    path: ["callMe"],
    args: (r, s) => [ourRef(r, s), s.smallValue(r)],
    callsBack: true,
  },
  {
    path: ["later"],
    args: (r, s) => [ourRef(r, s), r.int(30)],
    callsBack: true,
  },
  { path: ["sleep"], args: (r) => [r.int(30)] },
  {
    path: ["blob"],
    args: (r) => [r.chance(0.5) ? r.int(100) : r.int(200_000)],
  },
  { path: ["fail"], args: (r) => [randomString(r)] },
  { path: ["show"], args: (r, s) => [s.value(r)] },
  { path: ["json"], args: (r, s) => [s.value(r)] },
  { path: ["keys"], args: (r, s) => [s.value(r)] },
  { path: ["counter", "increment"], args: (r) => [r.int(10)] },
  { path: ["counter", "child"], args: () => [], refs: 1 },
];

const ROOT_MEMBERS: readonly string[][] = [
  ["version"],
  ["data"],
  ["data", "a", "b"],
  ["counter"],
  ["counter", "value"],
  ["echo"],
];

const REF_METHODS: readonly Method[] = [
  { path: ["increment"], args: (r) => [r.int(10)] },
  { path: ["child"], args: () => [], refs: 1 },
  { path: ["take"], args: (r, s) => [s.value(r)] },
  { path: [], args: (r, s) => [s.smallValue(r)] },
];

/**
 * One fuzzing peer's view of its netref connection: which ids it used,
 * which refs the server may have exported to it, which results it asked the
 * server to hold, and which callbacks the server may be calling.
 */
export class NetrefPeer implements NetrefValueContext {
  #nextId = 1;
  #serverRefs = 0;
  #ourRefs = 0;
  #callbacks = 0;
  #held: number[] = [];
  /** Raw bytes available to BLOB extensions in the message being built. */
  blobBytes = 0;

  ourRefs(): number {
    return this.#ourRefs;
  }

  serverRefs(): number {
    return this.#serverRefs;
  }

  /** Any value, counting the refs to our objects it may create. */
  value(r: Random): Node {
    this.#ourRefs++;
    return netrefValue(r, this);
  }

  /** A scalar most of the time. */
  smallValue(r: Random): Node {
    return r.chance(0.7) ? randomInteger(r) : this.value(r);
  }

  /** The next plausible message. */
  next(r: Random): Message {
    this.blobBytes = 0;
    const kind = r.weighted<string>([
      [60, "request"],
      [8, "response"],
      [3, "error"],
      [4, "cancel"],
      [8, "release"],
      [4, "ping"],
      [2, "pong"],
      [4, "blob"],
    ]);
    switch (kind) {
      case "request":
        return this.request(r);
      case "response":
        return {
          node: [Kind.RESPONSE, this.#callbackId(r), this.value(r)],
          label: "RESPONSE",
        };
      case "error":
        return {
          node: [
            Kind.ERROR,
            this.#callbackId(r),
            netrefValue(r, this, 2),
          ],
          label: "ERROR",
        };
      case "cancel":
        return {
          node: [Kind.CANCEL, r.range(1, this.#nextId)],
          label: "CANCEL",
        };
      case "release":
        return this.#release(r);
      case "ping":
        return { node: [Kind.PING, r.range(1, 1000)], label: "PING" };
      case "pong":
        return { node: [Kind.PONG, r.range(1, 5)], label: "PONG" };
      default:
        return this.#blobRequest(r);
    }
  }

  /** A REQUEST: a call, read, write or listing on the root, a ref or a held result. */
  request(r: Random): Message {
    const id = this.#nextId++;
    const targetKind = r.weighted<string>([
      [70, "root"],
      [this.#serverRefs > 0 ? 20 : 2, "ref"],
      [this.#held.length > 0 ? 15 : 1, "held"],
    ]);
    const target = targetKind === "root"
      ? 0
      : targetKind === "ref"
      ? r.range(1, this.#serverRefs + 1)
      : -(this.#held.length > 0 ? r.pick(this.#held) : r.range(1, id));
    const op = r.weighted<number>([
      [60, Op.CALL],
      [20, Op.GET],
      [6, Op.SET],
      [8, Op.DIR],
      [1, 4],
    ]);
    let path: Node[];
    let payload: Node = null;
    if (op === Op.CALL) {
      const method = r.chance(0.05)
        ? { path: [r.pick(ODD_NAMES)], args: () => [] }
        : r.pick(targetKind === "root" ? ROOT_METHODS : REF_METHODS);
      path = method.path;
      payload = method.args(r, this);
      this.#serverRefs += method.refs ?? 0;
      if (method.callsBack) this.#callbacks++;
    } else {
      path = targetKind === "root"
        ? r.chance(0.9) ? r.pick(ROOT_MEMBERS) : [r.pick(ODD_NAMES)]
        : r.pick([["value"], [], ["increment"], [r.pick(ODD_NAMES)]]);
      if (op === Op.SET) payload = this.value(r);
      // A read of `counter` or `data` may hand out a ref.
      if (op === Op.GET && path[0] === "counter" && path.length === 1) {
        this.#serverRefs++;
      }
    }
    const hold = r.chance(0.25);
    if (hold) this.#held.push(id);
    return {
      node: [Kind.REQUEST, id, target, op, path, payload, hold],
      label: `REQUEST ${opName(op)} ${
        target === 0 ? "root" : target > 0 ? `ref ${target}` : `held ${-target}`
      }.${path.join(".")}`,
    };
  }

  #callbackId(r: Random): number {
    return r.range(1, Math.max(1, this.#callbacks) + 1);
  }

  #release(r: Random): Message {
    const refs: Node[] = [];
    for (let i = r.length(4); i > 0; i--) {
      refs.push(
        r.chance(0.9) ? r.range(1, this.#serverRefs + 1) : r.pick([0, -1, 1.5]),
      );
      refs.push(
        r.chance(0.85)
          ? 1
          : r.pick<Node>([0, -1, 2, 2 ** 31, 2 ** 53, new IntNode(-1n, 0xd3)]),
      );
    }
    const held: Node[] = [];
    if (this.#held.length > 0 && r.chance(0.5)) {
      held.push(this.#held.splice(r.int(this.#held.length), 1)[0]);
    }
    if (r.chance(0.1)) held.push(r.range(1, this.#nextId + 5));
    return { node: [Kind.RELEASE, refs, held], label: "RELEASE" };
  }

  /** An echo whose argument holds BLOB extensions into the frame's raw bytes. */
  #blobRequest(r: Random): Message {
    const size = r.chance(0.97)
      ? r.range(1, 4096)
      : r.range(64 * 1024, 200_000);
    const blobs = size <= 4096
      ? r.bytes(size)
      : new Uint8Array(size).fill(r.int(256));
    this.blobBytes = size;
    const pieces: Node[] = [];
    for (let i = r.range(1, 3); i > 0; i--) {
      const length = r.int(size + 1);
      pieces.push(new ExtNode(6, [r.int(size - length + 1), length]));
    }
    if (r.chance(0.3)) pieces.push(netrefValue(r, this, 1));
    const id = this.#nextId++;
    return {
      node: [Kind.REQUEST, id, 0, Op.CALL, ["echo"], [pieces], false],
      label: "REQUEST CALL root.echo (blob frame)",
      blobs,
    };
  }

  /** A CLOSE, ending the connection from this side. */
  close(r: Random): Message {
    return {
      node: [Kind.CLOSE, r.chance(0.8) ? "bye" : netrefValue(r, this, 1)],
      label: "CLOSE",
    };
  }
}

function opName(op: number): string {
  return ["GET", "SET", "CALL", "DIR"][op] ?? `op ${op}`;
}
