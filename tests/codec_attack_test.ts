/**
 * Frames built to crash, stall or blow up a netref server through its
 * decoder, sent by a raw peer to a server in its own process: a crash is the
 * failure. Each must close only the attacker's connection, with a reason that
 * names the problem, before the server did the work the frame asked for.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { Kind, MAX_VALUE_NODES } from "../src/protocol/constants.ts";
import { startFixture } from "./_processes.ts";
import { GOOD_HELLO, RawPeer } from "./_raw_peer.ts";
import { encodeFrames } from "../src/protocol/frame.ts";
import { encodeHello } from "../src/protocol/handshake.ts";

function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  return Uint8Array.from(
    digits.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** `[REQUEST, id, ROOT, CALL, ["echo"], [arg], false]` with `arg` as raw bytes. */
function echoWithRawArg(id: number, arg: Uint8Array): Uint8Array {
  return concat(
    hex("97 00"),
    [id],
    hex("00 02 91 a4"),
    new TextEncoder().encode("echo"),
    hex("91"),
    arg,
    hex("c2"),
  );
}

/**
 * msgpackr's structured-clone ids (0x69) and pointers (0x70): level k is an
 * array of level k-1, defined inline with id k-1, and a pointer to it, so
 * `levels` levels decode to a DAG of 2^levels leaves from a few hundred bytes.
 */
function cloneBomb(levels: number): Uint8Array {
  let value = concat(hex("d6 69"), u32(0), hex("90"));
  for (let level = 1; level <= levels; level++) {
    value = concat(
      hex("d6 69"),
      u32(level),
      hex("92"),
      value,
      hex("d6 70"),
      u32(level - 1),
    );
  }
  return value;
}

interface Served extends AsyncDisposable {
  port: number;
  /** A fresh client still gets an answer, and the process has not exited. */
  assertServing(): Promise<void>;
  stderr(): string;
}

async function echoServer(): Promise<Served> {
  const fixture = await startFixture("codec_echo_server.ts", []);
  let exited: Deno.CommandStatus | null = null;
  fixture.child.status.then((status) => exited = status);
  const port = fixture.ready.port;
  return {
    port,
    stderr: fixture.stderr,
    async assertServing() {
      assert.equal(exited, null, `the server exited:\n${fixture.stderr()}`);
      await using client = await connect<{ foo(): string }>("127.0.0.1", port);
      assert.equal(await client.root.foo(), "foo");
    },
    async [Symbol.asyncDispose]() {
      assert.equal(exited, null, `the server exited:\n${fixture.stderr()}`);
      await fixture.stop();
      assert.doesNotMatch(fixture.stderr(), /Uncaught|panicked/);
    },
  };
}

/**
 * Sends one payload after a hello and expects the connection closed with a
 * reason matching `reason`, with no call made into the attacker meanwhile.
 */
async function assertRefused(
  server: Served,
  payload: Uint8Array,
  reason: RegExp,
): Promise<void> {
  await using peer = await RawPeer.connect(server.port);
  assert.ok(await peer.sendHello());
  await peer.sendPayloads(payload);
  const transcript = await peer.readToEnd(5000);
  assert.notEqual(
    transcript.end,
    "timeout",
    `not closed within 5 s; received ${transcript.messages.length} messages`,
  );
  assert.match(transcript.closeReason ?? "(no CLOSE message)", reason);
  for (const message of transcript.messages) {
    assert.notEqual(
      message[0],
      Kind.REQUEST,
      `the server called into a value of the refused frame: ${
        JSON.stringify(message)
      }`,
    );
  }
  await server.assertServing();
}

Deno.test("a frame holding a ref followed by a trailing byte closes that connection, and the server lives", async () => {
  await using server = await echoServer();
  // [ref #1 (object)] then one byte more: msgpackr's error path stringified
  // the decoded array, calling toJSON on the proxy, a remote call.
  await assertRefused(
    server,
    hex("91 d4 01 00 92 01 00 c0"),
    /1 trailing byte\(s\) after the value/,
  );
  await assertRefused(
    server,
    echoWithRawArg(1, hex("d4 01 00 92 01 00 c0 c0")),
    /trailing byte/,
  );
});

Deno.test("a small frame of plain values that is cut, runs on, or has a number key is refused with what failed", async (t) => {
  await using server = await echoServer();
  // Small frames without references are built in one checked pass: each
  // refusal must still name what failed, as for any frame.
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "a trailing byte",
      hex("92 01 02 c0"),
      /1 trailing byte\(s\) after the value/,
    ],
    [
      "an array cut short",
      hex("93 01 02"),
      /payload of 3 bytes: it is cut short at byte 1/,
    ],
    ["a string cut short", echoWithRawArg(1, hex("a3 61 62")), /cut short/],
    [
      "an array longer than the frame",
      echoWithRawArg(1, hex("dc 00 05 01")),
      /cut short/,
    ],
    [
      "a number as a map key",
      echoWithRawArg(1, hex("81 01 c0")),
      /a map key at byte \d+ is not a string/,
    ],
    ["a float cut short", echoWithRawArg(1, hex("cb 00 00")), /cut short/],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, async () => {
      await assertRefused(server, bytes, reason);
    });
  }
});

Deno.test("msgpackr's structured-clone ids and pointers are refused before they expand", async () => {
  await using server = await echoServer();
  const bomb = cloneBomb(26); // 2^26 leaves in under 500 bytes
  assert.ok(bomb.length < 500);
  await assertRefused(
    server,
    echoWithRawArg(1, bomb),
    /extension type 105 \(0x69\) at byte \d+ is not netref's/,
  );
});

Deno.test("msgpackr's big-integer extension is refused before it is parsed", async () => {
  await using server = await echoServer();
  const digits = new Uint8Array(4 * 1024 * 1024).fill(0x7f);
  const big = concat(hex("c9"), u32(digits.length), hex("42"), digits);
  const started = performance.now();
  await assertRefused(
    server,
    echoWithRawArg(1, big),
    /extension type 66 \(0x42\) at byte \d+ is not netref's/,
  );
  assert.ok(
    performance.now() - started < 3000,
    "the refusal took seconds: the bytes were parsed",
  );
});

Deno.test("every msgpackr built-in extension is refused by its type", async (t) => {
  await using server = await echoServer();
  const cases: [string, string, RegExp][] = [
    ["a RegExp (0x78)", "d4 78 00 92 a1 61 a0", /type 120 \(0x78\)/],
    ["a typed array (0x74)", "c7 05 74 00 01 02 03 04", /type 116 \(0x74\)/],
    ["a DataView (0x74, 17)", "c7 03 74 11 00 00", /type 116 \(0x74\)/],
    ["an error (0x65)", "d4 65 00 93 a5 45 72 72 6f 72 a1 78 c0", /0x65/],
    ["a Set (0x73)", "d4 73 00 90", /type 115 \(0x73\)/],
    ["a record definition (0x72)", "d4 72 00 91 a1 61 01", /0x72/],
    ["a timestamp (-1)", "d6 ff 00 00 00 00", /type -1 \(0xff\)/],
    ["bundled strings (0x62)", "d6 62 00 00 00 08 a0", /0x62/],
    ["a structured-clone pointer (0x70)", "d6 70 00 00 00 00", /0x70/],
    ["an undefined with a data byte", "d4 00 01", /data byte 1, not 0/],
    ["the reserved byte 0xc1", "c1", /byte 0xc1 at \d+ is not msgpack/],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, async () => {
      await assertRefused(server, echoWithRawArg(1, hex(bytes)), reason);
    });
  }
});

Deno.test("a frame holding more items than the node budget is refused before it is decoded", async () => {
  await using server = await echoServer();
  const count = MAX_VALUE_NODES + 10;
  // An array of empty maps: one byte each on the wire, an object each once
  // decoded.
  const maps = concat(hex("dd"), u32(count), new Uint8Array(count).fill(0x80));
  await assertRefused(
    server,
    echoWithRawArg(1, maps),
    new RegExp(
      `holds more than ${MAX_VALUE_NODES} items, the most one message may hold`,
    ),
  );
});

Deno.test("a ref inside a frame that is then refused is never imported or called", async () => {
  await using server = await echoServer();
  // A function ref, then a structured-clone id: the frame is refused whole.
  await assertRefused(
    server,
    echoWithRawArg(1, hex("92 d4 01 00 92 01 01 d6 69 00 00 00 00 90")),
    /0x69/,
  );
});

Deno.test("a fake server's frame holding a ref and a trailing byte closes the client's connection, nothing else", async () => {
  // A server that answers the hello, then sends the 8-byte frame.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const socket = await listener.accept();
    await socket.read(new Uint8Array(64 * 1024)); // the client's hello
    await socket.write(encodeHello(GOOD_HELLO));
    await socket.write(encodeFrames([hex("91 d4 01 00 92 01 00 c0")]));
    // Answer nothing more; wait for the client to hang up.
    await socket.read(new Uint8Array(64 * 1024)).catch(() => null);
    socket.close();
  })();
  const log: string[] = [];
  const client = await connect("127.0.0.1", listener.addr.port, {
    log: (line) => log.push(line),
  });
  await client.closed.catch(() => {});
  assert.equal(client.isClosed, true);
  assert.ok(
    log.some((line) => /1 trailing byte\(s\) after the value/.test(line)),
    `logged: ${JSON.stringify(log)}`,
  );
  await served;
});

Deno.test("a hello holding msgpackr's extensions is refused at once, before any work", async (t) => {
  await using server = await echoServer();
  const hello = (body: Uint8Array) => {
    const header = concat(hex("4e 52 45 46 01"), u32(body.length));
    return concat(header, body);
  };
  // {"x": <a 2^24-leaf DAG>} then one byte: msgpackr's error path would
  // stringify the whole DAG.
  const map = concat(hex("81 a1 78"), cloneBomb(24), hex("c0"));
  const cases: [string, Uint8Array, RegExp][] = [
    ["a structured-clone DAG", hello(map), /malformed hello: .*0x69/],
    [
      "a big integer",
      hello(concat(hex("81 a1 78 c7 08 42"), new Uint8Array(8).fill(0x7f))),
      /malformed hello: .*0x42/,
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    await t.step(name, async () => {
      await using peer = await RawPeer.connect(server.port);
      const started = performance.now();
      await peer.send(bytes);
      const transcript = await peer.readToEnd(5000);
      assert.notEqual(transcript.end, "timeout");
      assert.match(transcript.closeReason ?? "(no reason)", reason);
      assert.ok(performance.now() - started < 2000, "the hello took seconds");
      await server.assertServing();
    });
  }
});
