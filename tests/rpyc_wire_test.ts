// Raw bytes against a netref server's RPyC side: telling RPyC from netref by
// the first bytes, both wire versions, and malformed input closing only the
// connection that sent it.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { PyTuple } from "../src/rpyc/py_values.ts";
import {
  ChannelDecoder,
  encodeChannelFrame,
  loadChannelZlib,
} from "../src/rpyc/channel.ts";
import { Handle, Label, Msg } from "../src/rpyc/constants.ts";
import {
  decodeMessage,
  detectVersion,
  encodeMessage,
  looksLikeRpyc,
} from "../src/rpyc/wire.ts";
import { pythonLines, pythonTest } from "./_rpyc.ts";
import {
  client,
  eventually,
  type PyFacingService,
  served,
} from "./_rpyc_service.ts";

await loadChannelZlib();

/** Reads from a raw socket until the server closes it; false on timeout. */
async function closedByServer(socket: Deno.Conn, ms = 3000): Promise<boolean> {
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      socket.read(buffer).catch(() => null),
      new Promise<"timeout">((resolve) =>
        timer = setTimeout(() => resolve("timeout"), deadline - Date.now())
      ),
    ]).finally(() => clearTimeout(timer));
    if (n === null) return true;
    if (n === "timeout") return false;
  }
  return false;
}

function frame(payload: number[], flusher = 0x0a): Uint8Array {
  const bytes = encodeChannelFrame(new Uint8Array(payload));
  bytes[bytes.length - 1] = flusher;
  return bytes;
}

pythonTest(
  "malformed RPyC bytes close only that connection",
  async (_peer, t) => {
    await using server = served();
    const getRoot = PyTuple.of(
      Handle.GETROOT,
      PyTuple.of(Label.VALUE, PyTuple.of()),
    );
    const withSeq = (seq: number) =>
      encodeChannelFrame(encodeMessage(5, Msg.REQUEST, seq, getRoot));
    const cases: [string, Uint8Array][] = [
      ["a request with sequence number -1", withSeq(-1)],
      ["a request with sequence number 1.5", withSeq(1.5)],
      ["a brine tuple cut short", frame([0x12, 0x51, 0x50])],
      ["an unknown brine tag", frame([0x12, 0x51, 0x50, 0xff])],
      ["a message of the wrong shape", frame([0x12, 0x51, 0x50, 0x50])],
      ["a frame without its trailing newline", frame([0x12, 0x51], 0x00)],
      ["an RPyC 6 message with a bad body", frame([0x01, 0x11, 0xff])],
      [
        "an invalid zlib payload",
        new Uint8Array([0, 0, 0, 3, 1, 0x78, 0x01, 0xff, 0x0a]),
      ],
    ];
    for (const [name, bytes] of cases) {
      await t.step(name, async () => {
        const before = server.logs.length;
        const socket = await Deno.connect({
          hostname: "127.0.0.1",
          port: server.port,
        });
        try {
          await socket.write(bytes);
          assert.ok(await closedByServer(socket), "the server kept it open");
        } finally {
          socket.close();
        }
        assert.ok(
          await eventually(() => server.logs.length > before, 2000),
          "no reason was logged",
        );
        assert.match(server.logs.at(-1)!, /closing RPyC connection to .*: /);
      });
    }
    await t.step("other clients are still served", async () => {
      const lines = await pythonLines(client("print(c.root.foo())"), {
        args: [String(server.port)],
      });
      assert.deepEqual(lines, ["foo"]);
      await using conn = await connect<PyFacingService>(
        "127.0.0.1",
        server.port,
      );
      assert.equal(await conn.root.foo(), "foo");
    });
  },
);

Deno.test("RPyC 5 and 6 framing are told apart per connection", async () => {
  await using server = served();
  for (const version of [5, 6] as const) {
    const socket = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      const request = PyTuple.of(
        Handle.GETROOT,
        PyTuple.of(Label.VALUE, PyTuple.of()),
      );
      await socket.write(
        encodeChannelFrame(encodeMessage(version, Msg.REQUEST, 7, request)),
      );
      const decoder = new ChannelDecoder();
      const buffer = new Uint8Array(4096);
      let payloads: Uint8Array[] = [];
      while (payloads.length === 0) {
        const n = await socket.read(buffer);
        assert.ok(n !== null, "the server closed the connection");
        payloads = decoder.push(buffer.subarray(0, n));
      }
      assert.equal(detectVersion(payloads[0]), version);
      const reply = decodeMessage(version, payloads[0]);
      assert.equal(reply.msg, Msg.REPLY);
      assert.equal(reply.seq, 7);
      const [label, pack] = (reply.args as PyTuple).items;
      assert.equal(label, Label.REMOTE_REF);
      assert.equal((pack as PyTuple).items[0], "netref.PyFacing");
    } finally {
      socket.close();
    }
  }
});

pythonTest(
  "serve({ rpyc: false }) leaves Python clients to netref's handshake, which refuses them",
  async () => {
    await using server = served({ rpyc: false });
    const lines = await pythonLines(
      `import sys, rpyc
try:
    c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
    c.root.foo()
    print("served")
except Exception as e:
    print("refused", type(e).__name__)`,
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, ["refused EOFError"]);
  },
);

Deno.test("an RPyC connection is told from netref's and others by its first bytes", async (t) => {
  const request = PyTuple.of(
    Handle.GETROOT,
    PyTuple.of(Label.VALUE, PyTuple.of()),
  );
  const cases: [string, Uint8Array, boolean][] = [
    [
      "an RPyC 5 request",
      encodeChannelFrame(encodeMessage(5, Msg.REQUEST, 0, request)),
      true,
    ],
    [
      "an RPyC 6 request",
      encodeChannelFrame(encodeMessage(6, Msg.REQUEST, 0, request)),
      true,
    ],
    [
      "a compressed frame",
      encodeChannelFrame(new Uint8Array(4000).fill(0x12)),
      true,
    ],
    ["netref's magic", new TextEncoder().encode("NREF"), false],
    ["an HTTP request", new TextEncoder().encode("GET / HTTP/1.1"), false],
    ["a frame of 5 GiB", new Uint8Array([0x05, 0, 0, 0, 0, 0x12]), false],
    [
      "a compressed flag of 2",
      new Uint8Array([0, 0, 0, 9, 2, 0x12, 0x51]),
      false,
    ],
    [
      "a tuple without a message kind",
      new Uint8Array([0, 0, 0, 9, 0, 0x12, 0x12]),
      false,
    ],
    [
      "a message byte without a tuple",
      new Uint8Array([0, 0, 0, 5, 0, 1, 2]),
      false,
    ],
    ["no zlib header", new Uint8Array([0, 0, 0, 9, 1, 0x78, 0x00]), false],
  ];
  for (const [name, bytes, verdict] of cases) {
    await t.step(name, () => {
      assert.equal(looksLikeRpyc(bytes), verdict);
      if (verdict) {
        // Every prefix is undecided or already says yes, never no.
        for (let n = 0; n < 7; n++) {
          assert.notEqual(looksLikeRpyc(bytes.subarray(0, n)), false);
        }
      }
    });
  }
});

Deno.test("an RPyC client that stops in the middle of its first message is closed after handshakeTimeout", async () => {
  await using server = served({ handshakeTimeout: 300 });
  const socket = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  try {
    // A frame announcing 50 bytes, of which 2 arrive.
    await socket.write(new Uint8Array([0, 0, 0, 50, 0, 0x12, 0x51]));
    const start = Date.now();
    assert.ok(await closedByServer(socket), "the server kept it open");
    assert.ok(Date.now() - start < 2000);
  } finally {
    socket.close();
  }
  assert.ok(await eventually(() => server.logs.length > 0));
  assert.match(server.logs[0], /sent no whole RPyC message within 300 ms/);
});

Deno.test("an idle RPyC connection is closed after idleTimeout", async () => {
  await using server = served({ idleTimeout: 200 });
  const socket = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  try {
    const ping = PyTuple.of(
      Handle.PING,
      PyTuple.of(Label.VALUE, PyTuple.of("x")),
    );
    await socket.write(
      encodeChannelFrame(encodeMessage(5, Msg.REQUEST, 0, ping)),
    );
    assert.ok(await closedByServer(socket), "the server kept it open");
  } finally {
    socket.close();
  }
  assert.ok(await eventually(() => server.logs.length > 0));
  assert.match(server.logs[0], /was idle for 200 ms \(idleTimeout\)/);
});
