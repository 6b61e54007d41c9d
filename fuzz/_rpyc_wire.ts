/**
 * The RPyC wire, as the fuzzer speaks it: brine messages of both wire
 * versions (5.x tuples, 6.x message byte then tuple) in channel frames,
 * plain or zlib-compressed, carrying every request handler with boxed
 * arguments (the root, refs the server exported, callbacks of ours,
 * keyword arguments) and answers to the server's callbacks.
 *
 * @module
 */

import { deflateSync } from "node:zlib";
import {
  CHANNEL_FLUSHER,
  Handle,
  Label,
  Msg,
  WireVersion,
} from "../src/rpyc/constants.ts";
import { encodeBrine } from "./_brine.ts";
import type { Random } from "./_random.ts";
import type { Encoded, Node } from "./_tree.ts";
import { brineValue, ODD_NAMES, randomString } from "./_values.ts";

/** A message before encoding, with a name for reports. */
export interface RpycMessage {
  /** REQUEST, REPLY or EXCEPTION (or, mutated, anything). */
  msg: Node;
  /** The sequence number. */
  seq: Node;
  /** The message's arguments. */
  args: Node;
  /** Such as `REQUEST CALLATTR echo`. */
  label: string;
}

/** A message as one tree, `[msg, seq, args]`, for encoding and mutating. */
export function rpycNode(message: RpycMessage): Node {
  return [message.msg, message.seq, message.args];
}

/**
 * Encodes a message's payload for a wire version: 5.x the whole tuple, 6.x
 * its first item as one byte, then the rest as a tuple.
 */
export function rpycPayload(version: WireVersion, node: Node): Encoded {
  if (version === WireVersion.V5 || !Array.isArray(node) || node.length < 1) {
    return encodeBrine(node);
  }
  const body = encodeBrine(node.slice(1));
  const out = new Uint8Array(1 + body.bytes.length);
  out[0] = typeof node[0] === "number" ? node[0] & 0xff : 0;
  out.set(body.bytes, 1);
  return {
    bytes: out,
    lengths: body.lengths.map((f) => ({ at: f.at + 1, width: f.width })),
  };
}

/**
 * Frames a payload as RPyC's channel does: u32 length, u8 compressed flag,
 * payload, `"\n"`.
 */
export function rpycFrame(payload: Uint8Array, compress = false): Uint8Array {
  const data = compress ? new Uint8Array(deflateSync(payload)) : payload;
  const out = new Uint8Array(5 + data.length + 1);
  new DataView(out.buffer).setUint32(0, data.length);
  out[4] = compress ? 1 : 0;
  out.set(data, 5);
  out[out.length - 1] = CHANNEL_FLUSHER;
  return out;
}

let bomb: Uint8Array | null = null;

/** A compressed frame whose payload inflates to 20 MiB of zeros. */
export function zlibBomb(): Uint8Array {
  bomb ??= rpycFrame(new Uint8Array(20 * 1024 * 1024), true);
  return bomb;
}

const ROOT_CLASS = "netref.FuzzService";

/** A root method, and plausible arguments for it. */
interface Method {
  name: string;
  args(r: Random, p: RpycPeer): Node[];
  refs?: number;
  callsBack?: boolean;
}

const METHODS: readonly Method[] = [
  { name: "echo", args: (r, p) => [p.boxed(r)] },
  { name: "add", args: (r) => [value(r.int(100)), value(r.int(100))] },
  { name: "makeCounter", args: (r) => [value(r.int(10))], refs: 1 },
  {
    name: "callMe",
    args: (r, p) => [p.ourRef(r, true), p.boxed(r)],
    callsBack: true,
  },
  {
    name: "later",
    args: (r, p) => [p.ourRef(r, true), value(r.int(30))],
    callsBack: true,
  },
  { name: "sleep", args: (r) => [value(r.int(30))] },
  { name: "fail", args: (r) => [value(randomString(r))] },
  { name: "show", args: (r, p) => [p.boxed(r)] },
  { name: "json", args: (r, p) => [p.boxed(r)] },
  { name: "keys", args: (r, p) => [p.boxed(r)] },
];

function value(v: Node): Node {
  return [Label.VALUE, v];
}

function tupleOf(items: Node[]): Node {
  return [Label.TUPLE, items];
}

/**
 * One fuzzing RPyC peer's view of its connection: its sequence numbers, the
 * instance ids the server may have exported to it, and its own objects.
 */
export class RpycPeer {
  #seq = 1;
  #serverRefs = 0;
  #ourRefs = 0;
  #callbacks = 0;

  /** A boxed value: by value, a tuple of boxed items, or a ref either way. */
  boxed(r: Random, depth = 2): Node {
    const choice = r.weighted<string>([
      [60, "value"],
      [depth > 0 ? 10 : 0, "tuple"],
      [10, "ourRef"],
      [8, "theirRef"],
      [depth > 0 ? 3 : 0, "kwargsThen"],
      [2, "badLabel"],
    ]);
    switch (choice) {
      case "value":
        return value(brineValue(r));
      case "tuple":
        return tupleOf(
          Array.from({ length: r.length(6) }, () => this.boxed(r, depth - 1)),
        );
      case "ourRef":
        return this.ourRef(r, r.chance(0.6));
      case "theirRef":
        return this.theirRef(r);
      case "kwargsThen":
        // A dict-like ((name, value), ...) whose `then` is our function.
        return tupleOf([tupleOf([value("then"), this.ourRef(r, true)])]);
      default:
        return [r.pick<Node>([0, 5, -1, "1", null]), brineValue(r, 1)];
    }
  }

  /** One of our objects, by reference: a function or some object. */
  ourRef(r: Random, callable: boolean): Node {
    const id = r.chance(0.9)
      ? ++this.#ourRefs
      : r.pick<Node>([0, -1, 2n ** 70n]);
    const pack = callable
      ? ["builtins.function", 1, id]
      : [r.pick(["builtins.list", "builtins.dict", "mod.Thing"]), 9, id];
    return [Label.REMOTE_REF, r.chance(0.95) ? pack : brineValue(r, 1)];
  }

  /** The server's root or one of its exports, coming back to it. */
  theirRef(r: Random): Node {
    const root = r.chance(0.5) || this.#serverRefs === 0;
    const id = root
      ? -1
      : r.chance(0.9)
      ? r.range(1, this.#serverRefs + 1)
      : r.pick<Node>([0, -2, 2 ** 53, 2n ** 70n, 1.5]);
    const pack = [root ? ROOT_CLASS : "netref.Counter", r.int(8), id];
    return [Label.LOCAL_REF, r.chance(0.95) ? pack : brineValue(r, 1)];
  }

  /** The next plausible message. */
  next(r: Random): RpycMessage {
    const kind = r.weighted<string>([
      [70, "request"],
      [10, "reply"],
      [5, "exception"],
      [1, "unknown"],
    ]);
    if (kind === "request") return this.request(r);
    const seq = r.range(0, this.#callbacks + 1);
    if (kind === "reply") {
      return { msg: Msg.REPLY, seq, args: this.boxed(r), label: "REPLY" };
    }
    if (kind === "exception") {
      return {
        msg: Msg.EXCEPTION,
        seq,
        args: r.chance(0.2) ? 1 : [
          [r.pick(["builtins", "mod", ""]), r.pick(["ValueError", "X", ""])],
          [brineValue(r, 1)],
          r.chance(0.8) ? [] : [["attr", brineValue(r, 1)]],
          r.chance(0.8) ? "Traceback..." : brineValue(r, 1),
        ],
        label: "EXCEPTION",
      };
    }
    return {
      msg: r.pick([0, 4, 255, "x"]),
      seq,
      args: brineValue(r, 1),
      label: "unknown message kind",
    };
  }

  /** The GETROOT a Python client sends first. */
  getRoot(): RpycMessage {
    return this.#request(Handle.GETROOT, [], "GETROOT");
  }

  /** A REQUEST of some handler, with arguments that mostly make sense. */
  request(r: Random): RpycMessage {
    const handle = r.weighted<number>([
      [5, Handle.GETROOT],
      [15, Handle.GETATTR],
      [30, Handle.CALLATTR],
      [6, Handle.CALL],
      [4, Handle.SETATTR],
      [2, Handle.DELATTR],
      [3, Handle.REPR],
      [2, Handle.STR],
      [2, Handle.CMP],
      [2, Handle.HASH],
      [3, Handle.DIR],
      [3, Handle.INSPECT],
      [8, Handle.DEL],
      [3, Handle.PING],
      [1, Handle.PICKLE],
      [1, Handle.BUFFITER],
      [1, Handle.OLDSLICING],
      [1, Handle.CTXEXIT],
      [1, Handle.INSTANCECHECK],
      [1, r.pick([0, 21, 255, -1])],
    ]);
    const target = () => r.chance(0.8) ? this.theirRef(r) : this.boxed(r, 1);
    const name = () =>
      value(
        r.chance(0.85)
          ? r.pick(["echo", "version", "counter", "data", "makeCounter"])
          : r.pick(ODD_NAMES),
      );
    switch (handle) {
      case Handle.GETROOT:
        return this.#request(handle, [], "GETROOT");
      case Handle.GETATTR: {
        const attr = name();
        // Reading a method or the counter hands out a ref.
        this.#serverRefs++;
        return this.#request(handle, [target(), attr], "GETATTR");
      }
      case Handle.CALLATTR: {
        const method = r.pick(METHODS);
        this.#serverRefs += method.refs ?? 0;
        if (method.callsBack) this.#callbacks++;
        const args = method.args(r, this);
        const kwargs: Node[] = r.chance(0.15)
          ? [tupleOf([value("then"), this.ourRef(r, true)])]
          : r.chance(0.1)
          ? [value([["sep", ","]])]
          : [];
        return this.#request(
          handle,
          [
            r.chance(0.9) ? this.theirRef(r) : target(),
            value(method.name),
            tupleOf(args),
            kwargs.length === 0 ? value([]) : tupleOf(kwargs),
          ],
          `CALLATTR ${method.name}`,
        );
      }
      case Handle.CALL:
        return this.#request(
          handle,
          [
            r.chance(0.5) ? this.theirRef(r) : this.ourRef(r, true),
            tupleOf([this.boxed(r, 1)]),
            value([]),
          ],
          "CALL",
        );
      case Handle.SETATTR:
        return this.#request(
          handle,
          [target(), name(), this.boxed(r, 1)],
          "SETATTR",
        );
      case Handle.CMP:
        return this.#request(
          handle,
          [target(), this.boxed(r, 1), value(r.pick(["__eq__", "__lt__"]))],
          "CMP",
        );
      case Handle.INSPECT:
        return this.#request(
          handle,
          [value([ROOT_CLASS, 3, r.chance(0.5) ? -1 : r.int(5)])],
          "INSPECT",
        );
      case Handle.DEL:
        return this.#request(
          handle,
          [
            this.theirRef(r),
            value(r.chance(0.8) ? 1 : r.pick<Node>([0, -1, 2 ** 40, 1.5])),
          ],
          "DEL",
        );
      case Handle.PING:
        return this.#request(handle, [this.boxed(r, 1)], "PING");
      case Handle.DELATTR:
      case Handle.REPR:
      case Handle.STR:
      case Handle.HASH:
      case Handle.DIR:
        return this.#request(handle, [target()], `handler ${handle}`);
      default:
        return this.#request(
          handle,
          Array.from({ length: r.length(4) }, () => this.boxed(r, 1)),
          `handler ${handle}`,
        );
    }
  }

  /** RPyC's CLOSE request. */
  close(): RpycMessage {
    return this.#request(Handle.CLOSE, [], "CLOSE");
  }

  #request(handle: number, args: Node[], label: string): RpycMessage {
    return {
      msg: Msg.REQUEST,
      seq: this.#seq++,
      args: [handle, tupleOf(args)],
      label: `REQUEST ${label}`,
    };
  }
}
