// Attacks on a real netref server over real TCP sockets. Whatever a peer
// sends, the server answers with a clear error or closes that connection with
// a logged reason; it never crashes or hangs, and a well-behaved client on the
// same server keeps working (DESIGN.md, "Security and limits").

import assert from "node:assert/strict";
import {
  AccessError,
  connect,
  type Connection,
  currentCall,
  exposed,
  ProtocolError,
  serve,
  type ServeOptions,
  type Server,
  service,
} from "../mod.ts";
import { TestService } from "../examples/test_service.ts";
import { Kind, MAGIC, Op } from "../src/protocol/constants.ts";
import {
  encodeValue,
  WireBlob,
  WireError,
  WireMap,
  WireRef,
  WireReturn,
  WireSet,
} from "../src/protocol/codec.ts";
import type { RemoteErrorInit } from "../src/errors.ts";
import { encodeFrames } from "../src/protocol/frame.ts";
import { encodeHello } from "../src/protocol/handshake.ts";
import { delay, eventually } from "./_harness.ts";
import {
  GOOD_HELLO,
  type RawMessage,
  RawPeer,
  RawRef,
  type RawTranscript,
} from "./_raw_peer.ts";

/** The example service, quiet, plus what the attacks need. */
@service("attacked")
class AttackedService extends TestService {
  override onConnect(): void {}
  override onDisconnect(): void {}

  /** Resolves after `ms`, or at once when the call is cancelled. */
  @exposed
  slow(ms: number): Promise<string> {
    const { signal } = currentCall();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve("slow"), ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve("aborted");
      }, { once: true });
    });
  }

  /** Returns its argument. */
  @exposed
  echo(value: unknown): unknown {
    return value;
  }

  /** Whether `value` is this service object itself. */
  @exposed
  isRoot(value: unknown): boolean {
    return value === this;
  }
}

/** A server, a well-behaved client on it, and what the server logged. */
interface Arena extends AsyncDisposable {
  server: Server;
  good: Connection<AttackedService>;
  /** Lines the server logged. */
  log: string[];
  /** Opens a raw attacker, optionally after a valid hello. */
  attacker(options?: { hello?: boolean }): Promise<RawPeer>;
  /** The good client (and a fresh one) still get "foo". */
  assertStillServing(): Promise<void>;
  /** Waits until a line naming `peer` and matching `pattern` was logged. */
  assertLogged(peer: RawPeer, pattern: RegExp): Promise<void>;
  /** Waits until the server holds only the good client's connection. */
  assertAttackerGone(): Promise<void>;
}

async function arena(options: ServeOptions = {}): Promise<Arena> {
  const log: string[] = [];
  const clientLog: string[] = [];
  const server = serve(AttackedService, {
    port: 0,
    log: (line) => log.push(line),
    ...options,
  });
  const port = server.addr.port;
  const good = await connect<AttackedService>("127.0.0.1", port, {
    log: (line) => clientLog.push(line),
  });
  const attackers: RawPeer[] = [];
  return {
    server,
    good,
    log,
    async attacker({ hello = false } = {}) {
      const peer = await RawPeer.connect(port);
      attackers.push(peer);
      if (hello) assert.ok(await peer.sendHello(), "could not send the hello");
      return peer;
    },
    async assertStillServing() {
      assert.equal(
        good.isClosed,
        false,
        "the good client's connection was closed",
      );
      assert.equal(await good.root.foo(), "foo");
      await using fresh = await connect<AttackedService>("127.0.0.1", port, {
        log: (line) => clientLog.push(line),
      });
      assert.equal(await fresh.root.foo(), "foo");
      assert.deepEqual(clientLog, [], "the good clients logged problems");
    },
    async assertLogged(peer, pattern) {
      const who = `:${peer.conn.localAddr.port}`;
      const found = () =>
        log.some((line) => line.includes(who) && pattern.test(line));
      assert.ok(
        await eventually(found, 1000),
        `nothing logged about ${who} matching ${pattern}; log: ${
          JSON.stringify(log)
        }`,
      );
    },
    async assertAttackerGone() {
      assert.ok(
        await eventually(() => server.connectionCount === 1, 2000),
        `the server still holds ${server.connectionCount} connections`,
      );
    },
    async [Symbol.asyncDispose]() {
      for (const peer of attackers) await peer.close();
      await good.close();
      await server.shutdown({ deadline: 1000 });
    },
  };
}

/**
 * Reads until the server closes `peer`, then checks the CLOSE reason (when
 * `closeMessage` is required, or when one came anyway), the log, and that
 * everyone else is still served.
 */
async function assertClosed(
  a: Arena,
  peer: RawPeer,
  reason: RegExp,
  { closeMessage = true } = {},
): Promise<RawTranscript> {
  const transcript = await peer.readToEnd(2000);
  assert.notEqual(
    transcript.end,
    "timeout",
    `the server did not close the connection within 2 s; it sent ${
      JSON.stringify(transcript.messages)
    }`,
  );
  if (closeMessage || transcript.closeReason !== null) {
    assert.match(transcript.closeReason ?? "(no CLOSE message)", reason);
  }
  await a.assertLogged(peer, reason);
  await a.assertAttackerGone();
  await a.assertStillServing();
  return transcript;
}

// [REQUEST, id, target, op, path, payload, hold]
function request(
  id: unknown,
  target: unknown,
  op: unknown,
  path: unknown,
  payload: unknown = op === Op.CALL ? [] : null,
  hold: unknown = false,
): unknown[] {
  return [Kind.REQUEST, id, target, op, path, payload, hold];
}

function callRoot(id: number, name: string, args: unknown[] = []): unknown[] {
  return request(id, 0, Op.CALL, [name], args);
}

/** Checks that the answer to `id` is a RESPONSE carrying `value`. */
async function assertResponse(
  peer: RawPeer,
  id: number,
  value: unknown,
): Promise<RawMessage> {
  const answer = await peer.answerTo(id);
  assert.ok(answer !== null, `no answer to request ${id}`);
  assert.deepEqual(answer.slice(0, 3), [Kind.RESPONSE, id, value]);
  return answer;
}

/** Checks that the answer to `id` is an ERROR named `name`, message matching. */
async function assertError(
  peer: RawPeer,
  id: number,
  name: string,
  message: RegExp,
): Promise<void> {
  const answer = await peer.answerTo(id);
  assert.ok(answer !== null, `no answer to request ${id}`);
  assert.equal(answer[0], Kind.ERROR, `expected ERROR, got ${answer}`);
  const error = answer[2] as { name: string; message: string };
  assert.equal(error.name, name);
  assert.match(error.message, message);
}

/** Checks that `peer` is still served: root.foo() over its own socket. */
async function assertPeerServed(peer: RawPeer, id: number): Promise<void> {
  assert.ok(await peer.sendMessages(callRoot(id, "foo")), "write failed");
  await assertResponse(peer, id, "foo");
}

/** A fixed pseudo-random generator (mulberry32). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(seed: number): Uint8Array {
  const random = prng(seed);
  const bytes = new Uint8Array(1 + Math.floor(random() * 4096));
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Math.floor(random() * 256);
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A hello header (magic, version, length) followed by `body`. */
function rawHello(body: Uint8Array, version = 1, magic = MAGIC): Uint8Array {
  const header = new Uint8Array(9);
  header.set(magic, 0);
  header[4] = version;
  new DataView(header.buffer).setUint32(5, body.length);
  return concat(header, body);
}

function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/** msgpack of `[value]` nested `depth` times around nil. */
function nestedArray(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x91); // fixarray of one
  bytes[depth] = 0xc0; // nil
  return bytes;
}

/** msgpack of `{a: {a: ... nil}}` nested `depth` times. */
function nestedMap(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth * 3 + 1);
  for (let i = 0; i < depth; i++) bytes.set([0x81, 0xa1, 0x61], i * 3);
  bytes[depth * 3] = 0xc0;
  return bytes;
}

/** A REQUEST calling root[name] with one argument given as raw msgpack. */
function callWithRawArg(id: number, name: string, arg: Uint8Array): Uint8Array {
  const head = encodeValue([Kind.REQUEST, id, 0, Op.CALL, [name]]);
  // Re-open the 5-element array as 7 elements: [..., [arg], false].
  const out = concat(head, new Uint8Array([0x91]), arg, new Uint8Array([0xc2]));
  assert.equal(out[0], 0x95);
  out[0] = 0x97;
  return out;
}

// --------------------------------------------------------------- handshake

Deno.test("the server closes a connection that opens with random bytes, and logs why", async (t) => {
  await using a = await arena({ handshakeTimeout: 1000 });
  for (const seed of [1, 2, 3, 42, 1234, 0xdeadbeef]) {
    const bytes = randomBytes(seed);
    await t.step(`seed ${seed}: ${bytes.length} bytes`, async () => {
      await using peer = await a.attacker();
      await peer.send(bytes);
      await assertClosed(a, peer, /magic "NREF"/);
    });
  }
});

Deno.test("the server closes a connection whose hello has the wrong magic, version or body", async (t) => {
  await using a = await arena();
  const body = encodeValue(GOOD_HELLO);
  const enc = new TextEncoder();
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "an HTTP request",
      enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      /magic "NREF".*47 45 54 20/,
    ],
    ["lower-case magic", rawHello(body, 1, enc.encode("nref")), /magic "NREF"/],
    [
      "an RPyC-style frame",
      new Uint8Array([0, 0, 0, 5, 0, 1, 2, 3, 4]),
      /magic "NREF"/,
    ],
    ["protocol version 2", rawHello(body, 2), /version 2, this side speaks 1/],
    ["protocol version 0", rawHello(body, 0), /version 0, this side speaks 1/],
    [
      "protocol version 255",
      rawHello(body, 255),
      /version 255, this side speaks 1/,
    ],
    [
      "a hello announcing 1 GB",
      rawHello(new Uint8Array(0)).fill(0xff, 5, 9),
      /hello of 4294967295 bytes exceeds 65536/,
    ],
    [
      "a hello body that is not msgpack",
      rawHello(new Uint8Array([0xdc, 0xff])),
      /malformed hello/,
    ],
    [
      "a hello body that is not a map",
      rawHello(encodeValue([1, 2, 3])),
      /hello lacks/,
    ],
    [
      "a hello without features",
      rawHello(encodeValue({ implementation: "x", maxFrameBytes: 1024 })),
      /hello lacks/,
    ],
    [
      "a hello with maxFrameBytes 1",
      rawHello(encodeValue({ ...GOOD_HELLO, maxFrameBytes: 1 })),
      /hello lacks/,
    ],
    [
      "a hello with a numeric token",
      rawHello(encodeValue({ ...GOOD_HELLO, token: 7 })),
      /hello lacks/,
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, async () => {
      await using peer = await a.attacker();
      await peer.send(bytes);
      await assertClosed(a, peer, reason);
    });
  }
});

/** Serves one fake "server" that sends `bytes` to whoever connects. */
async function withFakeServer(
  bytes: Uint8Array,
  run: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    try {
      await conn.write(bytes);
      const buffer = new Uint8Array(4096);
      // Drain until the client hangs up, so that it sees our bytes.
      while (await conn.read(buffer) !== null) { /* discard */ }
    } catch {
      // The client reset the connection: fine.
    } finally {
      conn.close();
    }
  })();
  try {
    await run(listener.addr.port);
  } finally {
    listener.close();
    await serving;
  }
}

Deno.test("connect() rejects a server that speaks protocol version 2 with a ProtocolError naming both versions", async (t) => {
  await t.step("version 2", async () => {
    const hello = encodeHello(GOOD_HELLO);
    hello[4] = 2;
    await withFakeServer(hello, async (port) => {
      const log: string[] = [];
      await assert.rejects(
        connect("127.0.0.1", port, { log: (line) => log.push(line) }),
        (error: Error) => {
          assert.ok(error instanceof ProtocolError, `got ${error}`);
          assert.match(error.message, /version 2\b/);
          assert.match(error.message, /speaks 1\b/);
          return true;
        },
      );
    });
  });
  await t.step("wrong magic", async () => {
    await withFakeServer(
      new TextEncoder().encode("SSH-2.0-OpenSSH\r\n"),
      async (port) => {
        await assert.rejects(
          connect("127.0.0.1", port, { log: () => {} }),
          (error: Error) => {
            assert.ok(error instanceof ProtocolError, `got ${error}`);
            assert.match(error.message, /magic "NREF"/);
            return true;
          },
        );
      },
    );
  });
});

Deno.test("the server closes a connection whose hello does not come within handshakeTimeout", async (t) => {
  // With RPyC compatibility on, a connection silent from the start is taken
  // for an RPyC client (tests/rpyc_server_test.ts); here it is netref only.
  await using a = await arena({ handshakeTimeout: 200, rpyc: false });
  const partial: [string, Uint8Array][] = [
    ["nothing at all", new Uint8Array(0)],
    ["half the magic", MAGIC.subarray(0, 2)],
    ["the header but not the body", encodeHello(GOOD_HELLO).subarray(0, 9)],
    ["all but the last byte", encodeHello(GOOD_HELLO).slice(0, -1)],
  ];
  for (const [name, bytes] of partial) {
    await t.step(name, async () => {
      await using peer = await a.attacker();
      if (bytes.length > 0) await peer.send(bytes);
      const start = performance.now();
      await assertClosed(a, peer, /no hello from .* within 200 ms/);
      const elapsed = performance.now() - start;
      assert.ok(elapsed < 1500, `closed only after ${elapsed} ms`);
    });
  }
});

Deno.test("with RPyC on, a partial hello is still timed out by netref's handshake", async (t) => {
  await using a = await arena({ handshakeTimeout: 200 });
  for (
    const [name, bytes] of [
      ["half the magic", MAGIC.subarray(0, 2)],
      ["all but the last byte", encodeHello(GOOD_HELLO).slice(0, -1)],
    ] as const
  ) {
    await t.step(name, async () => {
      await using peer = await a.attacker();
      await peer.send(bytes);
      await assertClosed(a, peer, /no hello from .* within 200 ms/);
    });
  }
});

// ----------------------------------------------------------------- framing

Deno.test("the server closes and logs a connection that ends in the middle of a hello or a frame", async (t) => {
  await using a = await arena();
  const frame = encodeFrames([encodeValue(callRoot(1, "foo"))]);
  const hello = encodeHello(GOOD_HELLO);

  await t.step("truncated frame, then half-close", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.send(frame.subarray(0, frame.length - 3));
    await peer.closeWrite();
    const transcript = await peer.readToEnd(2000);
    assert.notEqual(transcript.end, "timeout");
    await a.assertLogged(peer, /middle of a frame/);
    await a.assertAttackerGone();
    await a.assertStillServing();
  });

  await t.step("truncated frame header, then close", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.send(frame.subarray(0, 2));
    await peer.close();
    await a.assertAttackerGone();
    await a.assertLogged(peer, /middle of a frame/);
    await a.assertStillServing();
  });

  await t.step("truncated hello, then half-close", async () => {
    await using peer = await a.attacker();
    await peer.send(hello.subarray(0, hello.length - 4));
    await peer.closeWrite();
    const transcript = await peer.readToEnd(2000);
    assert.notEqual(transcript.end, "timeout");
    assert.match(
      transcript.closeReason ?? "(no CLOSE)",
      /closed the connection during the handshake/,
    );
    await a.assertLogged(peer, /during the handshake/);
    await a.assertAttackerGone();
    await a.assertStillServing();
  });

  await t.step("truncated hello, then close", async () => {
    await using peer = await a.attacker();
    await peer.send(hello.subarray(0, 6));
    await peer.close();
    await a.assertAttackerGone();
    await a.assertLogged(peer, /during the handshake/);
    await a.assertStillServing();
  });
});

Deno.test("the server refuses a frame longer than maxFrameBytes before allocating it", async (t) => {
  await using a = await arena({ maxFrameBytes: 1024 });
  const oneGigabyte = 1024 * 1024 * 1024;
  const reason = new RegExp(`length ${oneGigabyte} exceeds maxFrameBytes 1024`);

  await t.step("a header announcing 1 GB", async () => {
    const before = Deno.memoryUsage();
    await using peer = await a.attacker({ hello: true });
    await peer.send(frameHeader(oneGigabyte));
    await assertClosed(a, peer, reason);
    const after = Deno.memoryUsage();
    const grown = after.external - before.external;
    assert.ok(grown < 64 * 1024 * 1024, `memory grew by ${grown} bytes`);
  });

  await t.step(
    "a header announcing 1 GB, split across two writes",
    async () => {
      await using peer = await a.attacker({ hello: true });
      const header = frameHeader(oneGigabyte);
      await peer.send(header.subarray(0, 2));
      // Time apart is the point here: the two halves arrive as two reads.
      await delay(30);
      await peer.send(header.subarray(2));
      await assertClosed(a, peer, reason);
      await peer.close();
    },
  );

  await t.step(
    "a header announcing 1 GB after a valid frame, in one write",
    async () => {
      await using peer = await a.attacker({ hello: true });
      await peer.send(
        concat(
          encodeFrames([encodeValue(callRoot(1, "foo"))]),
          frameHeader(oneGigabyte),
        ),
      );
      await assertClosed(a, peer, reason);
      await peer.close();
    },
  );

  await t.step("a frame of maxFrameBytes + 1", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.send(concat(frameHeader(1025), new Uint8Array(1025)));
    await assertClosed(a, peer, /length 1025 exceeds maxFrameBytes 1024/);
  });

  await t.step("a frame of exactly maxFrameBytes is served", async () => {
    let padding = "";
    let payload = encodeValue(callRoot(1, "foo", [padding]));
    while (payload.length < 1024) {
      padding += "x";
      payload = encodeValue(callRoot(1, "foo", [padding]));
    }
    assert.equal(payload.length, 1024);
    await using peer = await a.attacker({ hello: true });
    await peer.sendPayloads(payload);
    await assertResponse(peer, 1, "foo");
  });
});

// ---------------------------------------------------------------- messages

Deno.test("the server closes a connection that sends malformed messages", async (t) => {
  await using a = await arena();
  const bytes = (...b: number[]) => new Uint8Array(b);
  const notMsgpack = /Cannot decode payload/;
  const notArray = /not an array \[kind, \.\.\.\]/;
  const badShape =
    /REQUEST 1: expected \[REQUEST, id, target, op, path, payload, hold\]/;
  const cases: [string, Uint8Array, RegExp][] = [
    ["an empty payload", bytes(), notMsgpack],
    ["an array header without its items", bytes(0xdc, 0xff, 0xff), notMsgpack],
    ["a str8 cut short", bytes(0xd9, 0x10, 0x61), notMsgpack],
    ["two values in one frame", bytes(0x90, 0x90), notMsgpack],
    ["an unknown extension type", bytes(0xd4, 99, 0), notMsgpack],
    [
      "a REF extension that is not [id, kind]",
      encodeValue(new WireRef(-1, 0)),
      /Cannot decode reference: expected \[id, kind\]/,
    ],
    [
      "a REF extension holding a string",
      encodeValue(new WireRef("x" as unknown as number, 0)),
      /Cannot decode reference/,
    ],
    [
      "a RETURN extension holding a string",
      encodeValue(new WireReturn("x" as unknown as number)),
      /Cannot decode returned reference: expected an id/,
    ],
    [
      "a RETURN extension holding -1",
      encodeValue(new WireReturn(-1)),
      /Cannot decode returned reference/,
    ],
    [
      "a Map extension of odd length",
      encodeValue(new WireMap([1, 2, 3])),
      /Cannot decode Map/,
    ],
    [
      "a Set extension holding a number",
      encodeValue(new WireSet(7 as unknown as unknown[])),
      /Cannot decode Set/,
    ],
    [
      "an error extension without a message",
      encodeValue(new WireError({ name: "E" } as RemoteErrorInit)),
      /Cannot decode error/,
    ],
    ["the reserved byte 0xc1", bytes(0xc1), /byte 0xc1 at 0 is not msgpack/],
    ["a number", encodeValue(42), notArray],
    ["a string", encodeValue("REQUEST"), notArray],
    ["a map", encodeValue({ kind: 0 }), notArray],
    ["nil", encodeValue(null), notArray],
    ["an empty array", encodeValue([]), notArray],
    ["an array whose kind is a string", encodeValue(["0", 1]), notArray],
    ["an unknown message kind", encodeValue([99, 1]), /unknown kind 99/],
    ["a negative message kind", encodeValue([-1, 1]), /unknown kind -1/],
    ["a fractional message kind", encodeValue([0.5, 1]), /unknown kind 0\.5/],
    ["a PING without an id", encodeValue([Kind.PING]), /PING: bad id/],
    ["a REQUEST without an id", encodeValue([Kind.REQUEST]), /REQUEST: bad id/],
    ["a REQUEST with id 0", encodeValue(callRoot(0, "foo")), /REQUEST: bad id/],
    [
      "a REQUEST with id -1",
      encodeValue(callRoot(-1, "foo")),
      /REQUEST: bad id/,
    ],
    [
      "a REQUEST with id 1.5",
      encodeValue(callRoot(1.5, "foo")),
      /REQUEST: bad id/,
    ],
    [
      "a REQUEST with a string id",
      encodeValue(request("1", 0, Op.CALL, ["foo"])),
      /REQUEST: bad id/,
    ],
    [
      "a REQUEST missing its last fields",
      encodeValue([Kind.REQUEST, 1, 0, Op.CALL]),
      badShape,
    ],
    [
      "a REQUEST with an extra field",
      encodeValue([...callRoot(1, "foo"), 0]),
      badShape,
    ],
    [
      "a REQUEST with a string target",
      encodeValue(request(1, "root", Op.CALL, ["foo"])),
      badShape,
    ],
    [
      "a REQUEST with a fractional target",
      encodeValue(request(1, 0.5, Op.CALL, ["foo"])),
      badShape,
    ],
    [
      "a REQUEST whose path is a string",
      encodeValue(request(1, 0, Op.CALL, "foo")),
      badShape,
    ],
    [
      "a REQUEST whose path holds numbers",
      encodeValue(request(1, 0, Op.CALL, [1, 2])),
      badShape,
    ],
    [
      "a REQUEST whose path holds nil",
      encodeValue(request(1, 0, Op.GET, [null])),
      badShape,
    ],
    [
      "a REQUEST whose path holds a map",
      encodeValue(request(1, 0, Op.GET, [{}])),
      badShape,
    ],
    [
      "a REQUEST whose path is 65 names long",
      encodeValue(request(1, 0, Op.GET, new Array(65).fill("foo"))),
      badShape,
    ],
    ["a REQUEST with op 4", encodeValue(request(1, 0, 4, ["foo"])), badShape],
    ["a REQUEST with op -1", encodeValue(request(1, 0, -1, ["foo"])), badShape],
    [
      "a REQUEST with op 1.5",
      encodeValue(request(1, 0, 1.5, ["foo"])),
      badShape,
    ],
    [
      "a REQUEST with op NaN",
      encodeValue(request(1, 0, NaN, ["foo"])),
      badShape,
    ],
    [
      "a REQUEST with a string op",
      encodeValue(request(1, 0, "CALL", ["foo"])),
      badShape,
    ],
    [
      "a CALL whose payload is a string",
      encodeValue(request(1, 0, Op.CALL, ["foo"], "x")),
      badShape,
    ],
    [
      "a CALL whose payload is nil",
      encodeValue(request(1, 0, Op.CALL, ["foo"], null)),
      badShape,
    ],
    [
      "a CALL whose payload is a map",
      encodeValue(request(1, 0, Op.CALL, ["foo"], { 0: 1 })),
      badShape,
    ],
    [
      "a REQUEST whose hold flag is a number",
      encodeValue(request(1, 0, Op.CALL, ["foo"], [], 1)),
      badShape,
    ],
    [
      "a RELEASE that is not a list of pairs",
      encodeValue([Kind.RELEASE, [1], []]),
      /Cannot handle RELEASE/,
    ],
    [
      "a RELEASE without held ids",
      encodeValue([Kind.RELEASE, []]),
      /Cannot handle RELEASE/,
    ],
  ];
  for (const [name, payload, reason] of cases) {
    await t.step(name, async () => {
      await using peer = await a.attacker({ hello: true });
      await peer.sendPayloads(payload);
      await assertClosed(a, peer, reason);
    });
  }
});

Deno.test("the server closes a connection that sends malformed blob frames", async (t) => {
  await using a = await arena();
  // A blob frame: header length with the top bit set, then a u32 length of
  // the msgpack value, the value, and the raw bytes.
  const blobFrame = (valueLength: number, value: Uint8Array, raw: number) => {
    const payload = new Uint8Array(4 + value.length + raw);
    new DataView(payload.buffer).setUint32(0, valueLength);
    payload.set(value, 4);
    const frame = new Uint8Array(4 + payload.length);
    new DataView(frame.buffer).setUint32(
      0,
      (payload.length | 0x80000000) >>> 0,
    );
    frame.set(payload, 4);
    return frame;
  };
  const call = (blob: WireBlob) =>
    encodeValue([Kind.REQUEST, 1, 0, Op.CALL, ["echo"], [blob], false]);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "a value length past the payload",
      blobFrame(1000, encodeValue(callRoot(1, "foo")), 0),
      /Cannot decode blob frame: value of 1000 bytes/,
    ],
    [
      "a blob past the raw bytes",
      blobFrame(
        call(new WireBlob(0, 100)).length,
        call(new WireBlob(0, 100)),
        10,
      ),
      /Cannot decode blob: expected \[offset, length\] within the frame's 10 raw bytes/,
    ],
    [
      "a blob with a negative offset",
      blobFrame(
        call(new WireBlob(-1, 1)).length,
        call(new WireBlob(-1, 1)),
        10,
      ),
      /Cannot decode blob/,
    ],
  ];
  for (const [name, frame, reason] of cases) {
    await t.step(name, async () => {
      await using peer = await a.attacker({ hello: true });
      await peer.send(frame);
      await assertClosed(a, peer, reason);
    });
  }
  await t.step("a blob in a plain frame", async () => {
    await using peer = await a.attacker({ hello: true });
    // Even an empty one: a plain frame has no raw bytes to point into.
    await peer.sendPayloads(call(new WireBlob(0, 0)));
    await assertClosed(
      a,
      peer,
      /Cannot decode blob: expected \[offset, length\] in a blob frame, not a plain one/,
    );
  });
  await a.assertStillServing();
});

Deno.test("a __proto__ key in a payload pollutes no prototype", async () => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  // {"__proto__": {"polluted": true}} as msgpack, the key a real own key.
  const poison = concat(
    new Uint8Array([0x81, 0xa9]),
    new TextEncoder().encode("__proto__"),
    encodeValue({ polluted: true }),
  );
  await peer.sendPayloads(callWithRawArg(1, "echo", poison));
  const answer = await peer.answerTo(1);
  assert.ok(answer !== null, "no answer");
  assert.equal(answer[0], Kind.RESPONSE);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  const echoed = answer[2] as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(echoed), Object.prototype);
  // It came back as it was sent: an own key named __proto__.
  assert.ok(Object.hasOwn(echoed, "__proto__"));
  assert.deepStrictEqual(echoed["__proto__"], { polluted: true });
  await assertPeerServed(peer, 2);
  await a.assertStillServing();
});

// -------------------------------------------------------------------- refs

Deno.test("a REQUEST on an unknown ref id gets an ERROR naming the id, and the connection stays usable", async (t) => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  let id = 1;
  const cases: [string, number, RegExp][] = [
    ["ref 999", 999, /ref #999\b/],
    ["ref 2^40", 2 ** 40, new RegExp(`ref #${2 ** 40}\\b`)],
    ["the unheld result of request 999", -999, /request 999\b.*not held/],
  ];
  for (const [name, target, message] of cases) {
    await t.step(name, async () => {
      for (const op of [Op.GET, Op.CALL, Op.SET, Op.DIR]) {
        const rid = id++;
        await peer.sendMessages(
          request(rid, target, op, op === Op.DIR ? [] : ["foo"]),
        );
        await assertError(peer, rid, "ReferenceError", message);
      }
      await assertPeerServed(peer, id++);
      await a.assertStillServing();
    });
  }
});

Deno.test("a RETURN of a ref the server never exported gets an ERROR, and the connection stays usable", async (t) => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  await t.step("as a call argument", async () => {
    await peer.sendMessages(callRoot(1, "echo", [new WireReturn(77)]));
    await assertError(peer, 1, "ReferenceError", /ref #77\b/);
    await assertPeerServed(peer, 2);
  });
  await t.step("nested in an argument", async () => {
    await peer.sendMessages(
      callRoot(3, "foo", [{ a: [1, new WireReturn(78)] }]),
    );
    await assertError(peer, 3, "ReferenceError", /ref #78\b/);
    await assertPeerServed(peer, 4);
  });
  await a.assertStillServing();
});

Deno.test("a ref the peer released cannot be reached again, by REQUEST or by RETURN", async () => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  await peer.sendMessages(callRoot(1, "makeCounter"));
  const answer = await peer.answerTo(1);
  assert.ok(answer !== null && answer[0] === Kind.RESPONSE, `got ${answer}`);
  const counter = answer[2];
  assert.ok(counter instanceof RawRef, `expected a ref, got ${counter}`);
  await peer.sendMessages(
    request(2, counter.id, Op.CALL, ["increment"], [5]),
  );
  await assertResponse(peer, 2, 5);
  await peer.sendMessages([Kind.RELEASE, [counter.id, 1], []]);
  await peer.sendMessages(request(3, counter.id, Op.CALL, ["increment"], []));
  await assertError(
    peer,
    3,
    "ReferenceError",
    new RegExp(`ref #${counter.id}\\b`),
  );
  await peer.sendMessages(callRoot(4, "echo", [new WireReturn(counter.id)]));
  await assertError(
    peer,
    4,
    "ReferenceError",
    new RegExp(`ref #${counter.id}\\b`),
  );
  await assertPeerServed(peer, 5);
  await a.assertStillServing();
});

Deno.test("the root sent back as an argument arrives as the root, not as bad input", async () => {
  // A netref client lowers its `root` proxy to RETURN 0 (outbound.ts), and
  // Inbound.returnedRef maps 0 to the root: the codec must accept id 0.
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  await peer.sendMessages(callRoot(1, "isRoot", [new WireReturn(0)]));
  const answer = await peer.readToEnd(300);
  assert.equal(answer.closeReason, null, `closed: ${answer.closeReason}`);
  assert.deepEqual(answer.messages[0], [Kind.RESPONSE, 1, true]);
  assert.equal(
    await a.good.root.isRoot(a.good.root as unknown as AttackedService),
    true,
  );
  await a.assertStillServing();
});

Deno.test("RELEASE of more than was exported closes the connection with a reason", async (t) => {
  await using a = await arena();
  await t.step("a ref never exported", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages([Kind.RELEASE, [999, 1], []]);
    await assertClosed(a, peer, /release ref #999 x1: more than was sent/);
  });
  await t.step("a ref exported once, released twice", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages(callRoot(1, "makeCounter"));
    const answer = await peer.answerTo(1);
    const counter = answer?.[2];
    assert.ok(counter instanceof RawRef, `expected a ref, got ${counter}`);
    await peer.sendMessages([Kind.RELEASE, [counter.id, 2], []]);
    await assertClosed(
      a,
      peer,
      new RegExp(`release ref #${counter.id} x2: more than was sent`),
    );
  });
  await t.step(
    "a ref exported once, released once and then again",
    async () => {
      await using peer = await a.attacker({ hello: true });
      await peer.sendMessages(callRoot(1, "makeCounter"));
      const counter = (await peer.answerTo(1))?.[2];
      assert.ok(counter instanceof RawRef, `expected a ref, got ${counter}`);
      await peer.sendMessages(
        [Kind.RELEASE, [counter.id, 1], []],
        [Kind.RELEASE, [counter.id, 1], []],
      );
      await assertClosed(
        a,
        peer,
        new RegExp(`release ref #${counter.id} x1: more than was sent`),
      );
      await peer.close();
    },
  );
  await t.step("a count of zero", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages([Kind.RELEASE, [1, 0], []]);
    await assertClosed(a, peer, /release ref #1 x0/);
  });
  await t.step("a count of 2^53", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages([Kind.RELEASE, [1, 2 ** 53], []]);
    await assertClosed(a, peer, /release ref #1 x/);
  });
});

// --------------------------------------------------------------- exposure

const UNREACHABLE = [
  "secret",
  "constructor",
  "__proto__",
  "prototype",
  "onConnect",
  "onDisconnect",
  "toString",
  "hasOwnProperty",
];

Deno.test("members that are not @exposed are unreachable through raw requests", async (t) => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  let id = 1;
  const ops: [string, number, unknown][] = [
    ["GET", Op.GET, null],
    ["CALL", Op.CALL, []],
    ["SET", Op.SET, { polluted: true }],
    ["DIR", Op.DIR, null],
  ];
  for (const name of UNREACHABLE) {
    await t.step(name, async () => {
      for (const [opName, op, payload] of ops) {
        const rid = id++;
        await peer.sendMessages(request(rid, 0, op, [name], payload));
        const answer = await peer.answerTo(rid);
        assert.ok(answer !== null, `no answer to ${opName} ${name}`);
        assert.equal(
          answer[0],
          Kind.ERROR,
          `${opName} ${name} answered ${answer}`,
        );
        const error = answer[2] as { name: string; message: string };
        assert.equal(error.name, "AccessError", `${opName} ${name}`);
        assert.ok(error.message.includes(`'${name}'`), error.message);
      }
    });
  }
  const nested: [string, string[], string, RegExp][] = [
    [
      "a method's constructor",
      ["foo", "constructor"],
      "AccessError",
      /'constructor'/,
    ],
    ["a method's call", ["foo", "call"], "AccessError", /'call'/],
    ["a method's bind", ["foo", "bind"], "AccessError", /'bind'/],
    [
      "a string's constructor",
      ["version", "constructor"],
      "TypeError",
      /'constructor'/,
    ],
    ["a string's length", ["version", "length"], "TypeError", /'length'/],
    [
      "the secret through __proto__",
      ["__proto__", "secret"],
      "AccessError",
      /'__proto__'/,
    ],
  ];
  for (const [name, path, errorName, message] of nested) {
    await t.step(name, async () => {
      const rid = id++;
      await peer.sendMessages(request(rid, 0, Op.CALL, path, []));
      await assertError(peer, rid, errorName, message);
    });
  }
  await t.step("constructor of a pipelined result", async () => {
    const first = id++;
    const second = id++;
    await peer.sendMessages(
      request(first, 0, Op.CALL, ["makeCounter"], [], true),
      request(second, -first, Op.CALL, ["constructor"], []),
    );
    await assertError(peer, second, "AccessError", /'constructor'/);
  });
  await t.step("the connection is still served", async () => {
    await assertPeerServed(peer, id++);
    await a.assertStillServing();
  });
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  assert.equal(typeof AttackedService.prototype.secret, "function");
});

Deno.test("members that are not @exposed are unreachable through the client, with an AccessError naming them", async (t) => {
  await using a = await arena();
  const root = a.good.root as unknown as Record<
    string,
    ((...args: unknown[]) => Promise<unknown>) & PromiseLike<unknown>
  >;
  // A proxy answers these itself, never asking the server (no_crash_test.ts).
  const local = new Set(["constructor", "toString"]);
  for (const name of UNREACHABLE.filter((n) => !local.has(n))) {
    await t.step(`calling ${name}`, async () => {
      await assert.rejects(async () => await root[name](), (error: Error) => {
        assert.ok(error instanceof AccessError, `got ${error}`);
        assert.ok(error.message.includes(`'${name}'`), error.message);
        return true;
      });
    });
    await t.step(`reading ${name}`, async () => {
      await assert.rejects(async () => await root[name], (error: Error) => {
        assert.ok(error instanceof AccessError, `got ${error}`);
        assert.ok(error.message.includes(`'${name}'`), error.message);
        return true;
      });
    });
  }
  await a.assertStillServing();
});

// ------------------------------------------------------------------ limits

Deno.test("a REQUEST id reused while the first is in flight closes the connection", async (t) => {
  await using a = await arena();
  await t.step("twice in one write", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages(
      callRoot(5, "slow", [5000]),
      callRoot(5, "slow", [5000]),
    );
    await assertClosed(a, peer, /REQUEST 5: that id is already in flight/);
  });
  await t.step("the second a little later", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages(callRoot(7, "slow", [5000]));
    // The PONG comes after the server took request 7: it is in flight.
    await peer.sendMessages([Kind.PING, 1]);
    assert.deepEqual(await peer.nextMessage(2000), [Kind.PONG, 1]);
    await peer.sendMessages(callRoot(7, "foo"));
    await assertClosed(a, peer, /REQUEST 7: that id is already in flight/);
  });
  await t.step("reusing an id once it was answered is fine", async () => {
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages(callRoot(9, "slow", [10]));
    await assertResponse(peer, 9, "slow");
    await assertPeerServed(peer, 9);
    await peer.close();
    await a.assertAttackerGone();
  });
});

Deno.test("exceeding maxInFlight closes the connection, and the other client keeps working", async (t) => {
  await using a = await arena({ maxInFlight: 4 });
  await t.step("10 slow requests at once", async () => {
    await using peer = await a.attacker({ hello: true });
    const requests = Array.from(
      { length: 10 },
      (_, i) => callRoot(i + 1, "slow", [5000]),
    );
    await peer.sendMessages(...requests);
    const transcript = await assertClosed(
      a,
      peer,
      /exceeded maxInFlight: more than 4 requests in flight/,
    );
    const answers = transcript.messages.filter((m) => m[0] !== Kind.CLOSE);
    assert.deepEqual(answers, [], "requests were answered after all");
  });
  await t.step("4 slow requests at once are served", async () => {
    await using peer = await a.attacker({ hello: true });
    const requests = Array.from(
      { length: 4 },
      (_, i) => callRoot(i + 1, "slow", [20]),
    );
    await peer.sendMessages(...requests);
    for (let i = 1; i <= 4; i++) await assertResponse(peer, i, "slow");
    await peer.close();
    await a.assertAttackerGone();
  });
  await t.step(
    "exactly 4 in flight are accepted; the 5th closes the connection",
    async () => {
      await using peer = await a.attacker({ hello: true });
      await peer.sendMessages(
        ...Array.from({ length: 4 }, (_, i) => callRoot(i + 1, "slow", [5000])),
      );
      // A PING is answered after the four requests were taken: all four run.
      await peer.sendMessages([Kind.PING, 99]);
      const pong = await peer.nextMessage(2000);
      assert.deepEqual(pong, [Kind.PONG, 99], "four in flight were refused");
      await peer.sendMessages(callRoot(5, "slow", [5000]));
      await assertClosed(
        a,
        peer,
        /exceeded maxInFlight: more than 4 requests in flight/,
      );
    },
  );
  await t.step("the good client's slow calls are not disturbed", async () => {
    const slow = a.good.root.slow(300);
    await using peer = await a.attacker({ hello: true });
    await peer.sendMessages(
      ...Array.from({ length: 10 }, (_, i) => callRoot(i + 1, "slow", [5000])),
    );
    await assertClosed(a, peer, /exceeded maxInFlight/);
    assert.equal(await slow, "slow");
  });
});

Deno.test("a peer may have 4,096 results held for pipelining; asking for one more closes its connection", async () => {
  await using a = await arena();
  await using peer = await a.attacker({ hello: true });
  // Held results stay until the peer releases them, which this one never does.
  const hold = (id: number) => request(id, 0, Op.CALL, ["foo"], [], true);
  await peer.sendMessages(
    ...Array.from({ length: 4096 }, (_, i) => hold(i + 1)),
  );
  assert.deepEqual(await peer.answerTo(4096, 10_000), [
    Kind.RESPONSE,
    4096,
    "foo",
  ]);
  await peer.sendMessages(hold(4097));
  await assertClosed(a, peer, /asked to hold more than 4096 results/);
});

Deno.test("a value nested 10,000 deep gets a clear error or a closed connection, never a crash", async (t) => {
  await using a = await arena();
  let id = 1;
  const deep: [string, Uint8Array][] = [
    ["an array nested 10,000 deep", nestedArray(10_000)],
    ["a map nested 10,000 deep", nestedMap(10_000)],
    ["an array nested 1,000,000 deep", nestedArray(1_000_000)],
  ];
  for (const [name, value] of deep) {
    await t.step(`${name}, as a call argument`, async () => {
      await using peer = await a.attacker({ hello: true });
      const rid = id++;
      await peer.sendPayloads(callWithRawArg(rid, "echo", value));
      // Decoding a value this deep runs out of stack before any depth check
      // can answer: the frame cannot be decoded, so the connection is closed
      // with the reason (and the server keeps serving everyone else).
      const answer = await peer.nextMessage(2000);
      assert.ok(
        answer !== null && answer[0] === Kind.CLOSE,
        `expected a CLOSE, got ${JSON.stringify(answer?.slice(0, 2))}`,
      );
      assert.match(String(answer[1]), /Cannot decode payload of \d+ bytes/);
      // The CLOSE is read already: assertClosed checks the end and the log.
      await assertClosed(a, peer, /Cannot decode payload/, {
        closeMessage: false,
      });
    });
  }
  await t.step(
    "an array nested 100 deep is answered with a depth error",
    async () => {
      await using peer = await a.attacker({ hello: true });
      const rid = id++;
      await peer.sendPayloads(callWithRawArg(rid, "echo", nestedArray(100)));
      await assertError(peer, rid, "RangeError", /deeper than 64 levels/);
      await assertPeerServed(peer, id++);
      await peer.close();
    },
  );
  await t.step("a hello whose features nest 10,000 deep", async () => {
    await using peer = await a.attacker();
    const body = concat(
      encodeValue({ implementation: "x", maxFrameBytes: 1024 }),
      new Uint8Array([0xa8]),
      new TextEncoder().encode("features"),
      new Uint8Array([0x91]),
      nestedArray(10_000),
    );
    body[0] = 0x83; // the map now has three entries
    await peer.send(rawHello(body));
    await assertClosed(a, peer, /malformed hello/);
  });
});
