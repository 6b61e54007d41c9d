/**
 * One fuzzing connection's input, made from the seed and the connection's
 * index alone (so any one of them can be made again): a hello or first
 * request, a prefix of valid frames that builds up state on the server,
 * then valid frames mixed with structurally mutated ones, then a tail of
 * byte-level mutations that most often end the connection.
 *
 * @module
 */

import { WireVersion } from "../src/rpyc/constants.ts";
import { mix, Random } from "./_random.ts";
import { concat, mutateBytes, mutateTree } from "./_mutate.ts";
import {
  helloBytes,
  helloMap,
  type Message,
  netrefFrame,
  netrefPayload,
  NetrefPeer,
} from "./_netref_wire.ts";
import {
  rpycFrame,
  rpycNode,
  rpycPayload,
  RpycPeer,
  zlibBomb,
} from "./_rpyc_wire.ts";
import { brineValue, netrefValue } from "./_values.ts";
import type { Encoded, Node } from "./_tree.ts";

/** One frame as sent, with what it is. */
export interface SentFrame {
  /** The bytes on the wire, header included. */
  bytes: Uint8Array;
  /** What the frame is, and how it was mutated. */
  label: string;
}

/** How the connection ends once its frames are written. */
export type CloseMode = "now" | "drain";

/** Everything one fuzzing connection sends. */
export interface Batch {
  /** The connection's index in the run. */
  index: number;
  /** netref or RPyC, and for RPyC the wire version. */
  wire: "netref" | "rpyc5" | "rpyc6";
  frames: SentFrame[];
  /** Close at once, or after reading until the server closes (briefly). */
  close: CloseMode;
  /** Write in pieces split at these offsets, to test reassembly; else in one write. */
  splits: number[];
}

/**
 * Makes connection `index` of the run with `seed`.
 *
 * @param seed The run's seed.
 * @param index The connection's index.
 * @returns Its frames and how to send them.
 */
export function makeBatch(seed: number, index: number): Batch {
  const r = new Random(mix(seed, index));
  const wire = r.weighted<Batch["wire"]>([
    [60, "netref"],
    [20, "rpyc5"],
    [20, "rpyc6"],
  ]);
  const frames = wire === "netref" ? netrefFrames(r) : rpycFrames(r, wire);
  const total = frames.reduce((n, f) => n + f.bytes.length, 0);
  const splits: number[] = [];
  if (r.chance(0.1)) {
    for (let i = r.range(2, 8); i > 0; i--) splits.push(r.int(total));
    splits.sort((a, b) => a - b);
  }
  return {
    index,
    wire,
    frames,
    close: r.chance(0.5) ? "now" : "drain",
    splits,
  };
}

/** All of a batch's bytes, as they go on the wire. */
export function batchBytes(frames: readonly SentFrame[]): Uint8Array {
  return concat(...frames.map((f) => f.bytes));
}

/** How many frames of each part a connection sends. */
function shape(r: Random): { prefix: number; middle: number; tail: number } {
  return {
    prefix: r.range(1, 12),
    middle: r.range(0, 28),
    tail: r.weighted([[45, 0], [35, 1], [20, r.range(2, 4)]]),
  };
}

function netrefFrames(r: Random): SentFrame[] {
  const peer = new NetrefPeer();
  const frames: SentFrame[] = [];
  const hello = helloMap(r);
  if (r.chance(0.06)) frames.push(mutatedHello(r, hello));
  else frames.push({ bytes: helloBytes(hello).bytes, label: "hello" });
  const { prefix, middle, tail } = shape(r);
  const anyValue = () => netrefValue(r, peer, 2);
  let last: Uint8Array = new Uint8Array(0);
  const frameOf = (message: Message, node: Node, label: string) => {
    const payload = netrefPayload({ ...message, node });
    last = payload.bytes;
    return {
      bytes: netrefFrame(payload.bytes, message.blobs !== undefined),
      label,
    };
  };
  for (let i = 0; i < prefix; i++) {
    const message = peer.next(r);
    frames.push(frameOf(message, message.node, message.label));
  }
  for (let i = 0; i < middle; i++) {
    const message = peer.next(r);
    if (r.chance(0.55)) {
      frames.push(frameOf(message, message.node, message.label));
    } else {
      const { node, what } = mutateTree(r, message.node, anyValue);
      frames.push(frameOf(message, node, `${message.label} (${what})`));
    }
  }
  for (let i = 0; i < tail; i++) {
    const message = r.chance(0.05) ? peer.close(r) : peer.next(r);
    const payload = netrefPayload(message);
    frames.push(
      brokenFrame(
        r,
        message.label,
        payload,
        last,
        (bytes) =>
          netrefFrame(bytes, message.blobs !== undefined && r.chance(0.8)),
      ),
    );
    last = payload.bytes;
  }
  return frames;
}

function mutatedHello(r: Random, hello: { [key: string]: Node }): SentFrame {
  const how = r.int(4);
  if (how === 0) {
    const { node, what } = mutateTree(
      r,
      hello,
      () => netrefValue(r, new NetrefPeer(), 1),
    );
    return { bytes: helloBytes(node).bytes, label: `hello (${what})` };
  }
  if (how === 1) {
    const version = r.pick([0, 2, 255]);
    return {
      bytes: helloBytes(hello, version).bytes,
      label: `hello (version ${version})`,
    };
  }
  const encoded = helloBytes(hello);
  const { bytes, what } = mutateBytes(r, encoded, encoded.bytes);
  return { bytes, label: `hello (${what})` };
}

function rpycFrames(r: Random, wire: "rpyc5" | "rpyc6"): SentFrame[] {
  const version = wire === "rpyc5" ? WireVersion.V5 : WireVersion.V6;
  const peer = new RpycPeer();
  const frames: SentFrame[] = [];
  const { prefix, middle, tail } = shape(r);
  const anyValue = () => r.chance(0.5) ? brineValue(r, 2) : peer.boxed(r);
  let last: Uint8Array = new Uint8Array(0);
  const frameOf = (node: Node, label: string) => {
    const payload = rpycPayload(version, node);
    last = payload.bytes;
    const compress = payload.bytes.length > 3000 || r.chance(0.05);
    return { bytes: rpycFrame(payload.bytes, compress), label };
  };
  // A Python client's first request, so that the server knows its protocol.
  const first = r.chance(0.9) ? peer.getRoot() : peer.next(r);
  frames.push(frameOf(rpycNode(first), first.label));
  for (let i = 1; i < prefix; i++) {
    const message = peer.next(r);
    frames.push(frameOf(rpycNode(message), message.label));
  }
  for (let i = 0; i < middle; i++) {
    const message = peer.next(r);
    if (r.chance(0.55)) {
      frames.push(frameOf(rpycNode(message), message.label));
    } else {
      const { node, what } = mutateTree(r, rpycNode(message), anyValue);
      frames.push(frameOf(node, `${message.label} (${what})`));
    }
  }
  for (let i = 0; i < tail; i++) {
    if (r.chance(0.02)) {
      frames.push({ bytes: zlibBomb(), label: "zlib bomb (20 MiB of zeros)" });
      continue;
    }
    const message = r.chance(0.05) ? peer.close() : peer.next(r);
    const payload = rpycPayload(version, rpycNode(message));
    frames.push(
      brokenFrame(r, message.label, payload, last, (bytes) => {
        const frame = rpycFrame(bytes, r.chance(0.1));
        // The channel's own fields: the compressed flag and the "\n" after.
        if (r.chance(0.15)) frame[4] = r.pick([1, 2, 0xff]);
        if (r.chance(0.1)) frame[frame.length - 1] = r.pick([0, 0x0d]);
        return frame;
      }),
    );
    last = payload.bytes;
  }
  return frames;
}

/**
 * A frame broken at the byte level: a mutated payload in an honest frame,
 * an honest payload behind a header that lies, or noise.
 */
function brokenFrame(
  r: Random,
  label: string,
  payload: Encoded,
  other: Uint8Array,
  frame: (payload: Uint8Array) => Uint8Array,
): SentFrame {
  const how = r.weighted<string>([
    [70, "payload"],
    [20, "header"],
    [10, "noise"],
  ]);
  if (how === "payload") {
    const { bytes, what } = mutateBytes(r, payload, other);
    return { bytes: frame(bytes), label: `${label} (${what})` };
  }
  if (how === "header") {
    const bytes = frame(payload.bytes);
    const view = new DataView(bytes.buffer);
    const honest = view.getUint32(0);
    const lie = r.pick([
      0,
      honest + r.range(1, 16),
      Math.max(0, honest - r.range(1, 16)),
      0x7fffffff,
      16 * 1024 * 1024 + 1,
      0xffffffff,
      (honest ^ 0x80000000) >>> 0,
    ]);
    view.setUint32(0, lie >>> 0);
    return {
      bytes,
      label: `${label} (header says ${lie >>> 0}, payload is ${
        honest & 0x7fffffff
      })`,
    };
  }
  return {
    bytes: r.bytes(r.length(64)),
    label: "noise (random bytes, no frame)",
  };
}
