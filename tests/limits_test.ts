// Limits that hold against a peer that floods, stalls or hoards, on both
// wires, over real TCP: maxConnections counted from accept, frameTimeout,
// maxExports, RPyC write backpressure and DELs, mutual-TLS handshakes that
// never finish, and what cancelled calls count against.

import assert from "node:assert/strict";
import { connect } from "../src/client/connect.ts";
import { exposed } from "../src/core/exposure.ts";
import { resolveOptions } from "../src/core/open.ts";
import type { Connection } from "../src/core/types.ts";
import { withOptions } from "../src/core/proxy.ts";
import { serve } from "../mod.ts";
import { serveTls } from "../src/server/transports.ts";
import { Kind, Op } from "../src/protocol/constants.ts";
import { load } from "../src/rpyc/brine.ts";
import { type BrineValue, PyTuple } from "../src/rpyc/py_values.ts";
import {
  ChannelDecoder,
  encodeChannelFrame,
  loadChannelZlib,
} from "../src/rpyc/channel.ts";
import { Handle, Label, Msg } from "../src/rpyc/constants.ts";
import { decodeMessage, encodeMessage } from "../src/rpyc/wire.ts";
import { delay, eventually } from "./_harness.ts";
import { RawPeer } from "./_raw_peer.ts";
import { hasOpenssl, makeCertificates } from "./_processes.ts";
import { runPython } from "./_rpyc.ts";
import { parseCommandLine, type ServeCommand } from "../src/cli/args.ts";
import { usage } from "../src/cli/usage.ts";
import { loggingListener } from "../src/cli/serve.ts";

class Thing {
  @exposed
  name = "thing";
  @exposed
  hello() {
    return "hi";
  }
}

class Limited {
  @exposed
  echo(value: unknown) {
    return value;
  }
  @exposed
  make() {
    return new Thing();
  }
  @exposed
  take(ref: Disposable) {
    ref[Symbol.dispose]();
    return "taken";
  }
}

/** Whether the server closed `conn` within `ms` (EOF or a failed read). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(64 * 1024);
  const deadline = performance.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reading = conn.read(buffer).catch(() => null);
    const n = await Promise.race([
      reading,
      new Promise<"open">((resolve) => {
        timer = setTimeout(
          () => resolve("open"),
          Math.max(0, deadline - performance.now()),
        );
      }),
    ]);
    clearTimeout(timer);
    if (n === "open") {
      // The read still waits: closing the socket ends it.
      conn.close();
      await reading;
      return false;
    }
    if (n === null) return true;
  }
}

function dial(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed by the test already.
    }
  }
}

// ------------------------------------------------------- maxConnections

Deno.test("maxConnections counts sockets from accept: 3 silent sockets hold every place and the 4th is refused at once", async () => {
  const logs: string[] = [];
  await using server = serve(Limited, {
    port: 0,
    maxConnections: 3,
    log: (line) => logs.push(line),
  });
  const port = server.addr.port;
  const held = [await dial(port), await dial(port), await dial(port)];
  try {
    assert.ok(
      await eventually(() => server.connectionCount === 3, 2000),
      `connectionCount is ${server.connectionCount}, not 3`,
    );
    const fourth = await dial(port);
    assert.ok(
      await closedWithin(fourth, 1500),
      "the 4th socket was not refused",
    );
    assert.ok(
      logs.some((line) => /refused .*limit of 3 connections/.test(line)),
      logs.join("\n"),
    );
    assert.equal(server.connectionCount, 3);
    // The three silent sockets are still open: one leaving frees a place.
    held.pop()!.close();
    assert.ok(await eventually(() => server.connectionCount === 2, 2000));
    await using client = await connect<Limited>("127.0.0.1", port);
    assert.equal(await client.root.echo("in"), "in");
    await assert.rejects(
      connect("127.0.0.1", port),
      /refused the connection: the server is at its limit of 3 connections/,
    );
  } finally {
    closeAll(held);
  }
});

Deno.test("a burst of 20 clients against maxConnections 5 gets exactly 5 served, the others refused with the reason", async () => {
  await using server = serve(Limited, {
    port: 0,
    maxConnections: 5,
    log: () => {},
  });
  const results = await Promise.allSettled(
    Array.from(
      { length: 20 },
      () => connect<Limited>("127.0.0.1", server.addr.port),
    ),
  );
  const served = results.filter((r) => r.status === "fulfilled");
  const refused = results.filter((r) => r.status === "rejected");
  try {
    assert.equal(served.length, 5);
    for (const r of refused) {
      assert.match(String(r.reason), /at its limit of 5 connections/);
    }
    for (const r of served) {
      assert.equal(await r.value.root.echo(1), 1);
    }
  } finally {
    for (const r of served) await r.value.close();
  }
  assert.ok(await eventually(() => server.connectionCount === 0, 2000));
});

Deno.test("every way a connection ends gives its place back", async () => {
  await using server = serve(Limited, {
    port: 0,
    maxConnections: 2,
    handshakeTimeout: 200,
    log: () => {},
  });
  const port = server.addr.port;
  const ended = () => eventually(() => server.connectionCount === 0, 3000);
  for (let round = 0; round < 3; round++) {
    // Leaves while its protocol is being told apart.
    (await dial(port)).close();
    assert.ok(await ended(), "silent socket");
    // Half a netref hello, then EOF.
    const half = await dial(port);
    await half.write(new TextEncoder().encode("NRE"));
    half.close();
    assert.ok(await ended(), "half a hello");
    // Garbage that no protocol claims.
    const garbage = await dial(port);
    await garbage.write(new Uint8Array(16).fill(0xff));
    assert.ok(await closedWithin(garbage, 2000));
    assert.ok(await ended(), "garbage");
    // A netref client that closes.
    const client = await connect<Limited>("127.0.0.1", port);
    await client.close();
    assert.ok(await ended(), "netref client");
    // An RPyC peer that hangs up.
    const rpyc = await RawRpyc.connect(port);
    await rpyc.request(Handle.PING, PyTuple.of(Label.VALUE, PyTuple.of(1)));
    await rpyc.reply();
    rpyc.close();
    assert.ok(await ended(), "RPyC peer");
  }
  // No place leaked: the limit still admits two.
  await using a = await connect<Limited>("127.0.0.1", port);
  await using b = await connect<Limited>("127.0.0.1", port);
  assert.deepEqual([await a.root.echo(1), await b.root.echo(2)], [1, 2]);
});

// --------------------------------------------------------- frameTimeout

Deno.test("frameTimeout is on by default, 30 s", () => {
  assert.equal(resolveOptions({}).frameTimeout, 30_000);
  assert.equal(resolveOptions({}).maxExports, 100_000);
});

Deno.test("a netref frame begun and not finished within frameTimeout closes the connection, even with idleTimeout 0", async () => {
  const logs: string[] = [];
  await using server = serve(Limited, {
    port: 0,
    frameTimeout: 300,
    idleTimeout: 0,
    log: (line) => logs.push(line),
  });
  await using peer = await RawPeer.connect(server.addr.port);
  await peer.sendHello();
  // The first 3 bytes of a frame header, and nothing more.
  await peer.send(new Uint8Array([0, 0, 0]));
  const start = performance.now();
  const transcript = await peer.readToEnd(3000);
  assert.equal(transcript.end, "eof");
  assert.ok(performance.now() - start >= 250, "closed before the deadline");
  assert.match(transcript.closeReason ?? "", /frameTimeout/);
  assert.ok(logs.some((line) => /frameTimeout/.test(line)), logs.join("\n"));
  assert.ok(await eventually(() => server.connectionCount === 0, 2000));
});

Deno.test("a netref frame that arrives in pieces within frameTimeout is served", async () => {
  await using server = serve(Limited, { port: 0, frameTimeout: 400 });
  await using peer = await RawPeer.connect(server.addr.port);
  await peer.sendHello();
  const { encodeValue } = await import("../src/protocol/codec.ts");
  const { encodeFrames } = await import("../src/protocol/frame.ts");
  const frame = encodeFrames([
    encodeValue([Kind.REQUEST, 1, 0, Op.CALL, ["echo"], ["slow"], false]),
  ]);
  for (let i = 0; i < frame.length; i += 8) {
    await peer.send(frame.subarray(i, i + 8));
    await delay(30);
  }
  assert.deepEqual(await peer.answerTo(1), [Kind.RESPONSE, 1, "slow"]);
});

// ---------------------------------------------------------- maxExports

Deno.test("maxExports: a client may hold 3 objects of the server, and the 4th disconnects it with the reason logged", async () => {
  const logs: string[] = [];
  await using server = serve(Limited, {
    port: 0,
    maxExports: 3,
    log: (line) => logs.push(line),
  });
  await using client = await connect<Limited>("127.0.0.1", server.addr.port);
  const kept = [
    await client.root.make(),
    await client.root.make(),
    await client.root.make(),
  ];
  assert.equal(await kept[2].name, "thing");
  // One given back frees its place (once the RELEASE has arrived).
  kept.pop()![Symbol.dispose]();
  await delay(20);
  await client.ping();
  kept.push(await client.root.make());
  await assert.rejects(client.root.make(), /maxExports/);
  await client.closed;
  assert.ok(
    logs.some((line) => /exceeded maxExports/.test(line)),
    logs.join("\n"),
  );
});

Deno.test("maxExports holds on the RPyC wire: a Python client holding 4 objects (a method and 3 results) is disconnected at the 5th", async () => {
  const logs: string[] = [];
  await using server = serve(Limited, {
    port: 0,
    maxExports: 4,
    log: (line) => logs.push(line),
  });
  const result = await runPython(
    `import rpyc, sys
c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
make = c.root.make  # a bound method: the first object held
kept = []
for i in range(4):
    try:
        kept.append(make())
        print('made', i + 1)
    except Exception as e:
        print('failed', i + 1, type(e).__name__, str(e)[:200].replace('\\n', ' '))
        break
`,
    { args: [String(server.addr.port)] },
  );
  const lines = result.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 3), ["made 1", "made 2", "made 3"]);
  assert.match(lines[3] ?? "", /^failed 4/);
  assert.ok(
    await eventually(() => logs.some((l) => /exceeded maxExports/.test(l))),
    logs.join("\n"),
  );
  assert.ok(await eventually(() => server.connectionCount === 0, 2000));
});

// ------------------------------------------------------------ RPyC wire

/** A bare RPyC 5 peer on a socket, speaking through the library's codecs. */
class RawRpyc {
  #seq = 1;
  #decoder = new ChannelDecoder();
  #messages: { msg: number; seq: number; args: BrineValue }[] = [];

  constructor(readonly conn: Deno.TcpConn) {}

  static async connect(port: number): Promise<RawRpyc> {
    await loadChannelZlib();
    return new RawRpyc(await dial(port));
  }

  frame(handler: number, boxed: BrineValue): Uint8Array {
    return encodeChannelFrame(
      encodeMessage(5, Msg.REQUEST, this.#seq++, PyTuple.of(handler, boxed)),
    );
  }

  async request(handler: number, boxed: BrineValue): Promise<void> {
    const bytes = this.frame(handler, boxed);
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  async reply(): Promise<{ msg: number; args: BrineValue }> {
    const buffer = new Uint8Array(64 * 1024);
    while (this.#messages.length === 0) {
      const n = await this.conn.read(buffer);
      if (n === null) throw new Error("the server closed the connection");
      for (const payload of this.#decoder.push(buffer.subarray(0, n))) {
        this.#messages.push(decodeMessage(5, payload));
      }
    }
    return this.#messages.shift()!;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }
}

const noArgs = PyTuple.of(Label.VALUE, PyTuple.of());

Deno.test("an RPyC message begun and not finished within frameTimeout closes the connection", async () => {
  const logs: string[] = [];
  await using server = serve(Limited, {
    port: 0,
    frameTimeout: 300,
    idleTimeout: 0,
    log: (line) => logs.push(line),
  });
  const peer = await RawRpyc.connect(server.addr.port);
  try {
    await peer.request(Handle.PING, PyTuple.of(Label.VALUE, PyTuple.of("hi")));
    const answer = await peer.reply();
    assert.equal(answer.msg, Msg.REPLY);
    await peer.conn.write(new Uint8Array([0, 0, 0]));
    assert.ok(await closedWithin(peer.conn, 3000), "the server kept it open");
    assert.ok(
      logs.some((line) => /frameTimeout/.test(line)),
      logs.join("\n"),
    );
  } finally {
    peer.close();
  }
});

Deno.test("the RPyC wire stops reading while 8 MiB of answers wait for a peer that does not read", async () => {
  await using server = serve(Limited, { port: 0, log: () => {} });
  const peer = await RawRpyc.connect(server.addr.port);
  // Random bytes: zlib cannot shrink the echoes.
  const data = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const ping = peer.frame(
    Handle.PING,
    PyTuple.of(Label.VALUE, PyTuple.of(data)),
  );
  let written = 0;
  let stalled = false;
  try {
    while (written < 96 * 1024 * 1024) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const writing = (async () => {
        for (let offset = 0; offset < ping.length;) {
          offset += await peer.conn.write(ping.subarray(offset));
        }
      })();
      const outcome = await Promise.race([
        writing.then(() => "written"),
        new Promise((resolve) => timer = setTimeout(resolve, 1000, "stalled")),
      ]);
      clearTimeout(timer);
      if (outcome === "stalled") {
        stalled = true;
        peer.close();
        await writing.catch(() => {});
        break;
      }
      written += ping.length;
    }
  } finally {
    peer.close();
  }
  assert.ok(
    stalled,
    `the server read ${written} bytes of PINGs without the answers leaving`,
  );
  // 8 MiB queued, plus what the two sockets' kernel buffers hold.
  assert.ok(written < 64 * 1024 * 1024, `${written} bytes were read`);
});

Deno.test("RPyC DELs the peer never answers do not pile up as pending requests", async () => {
  let serverConn: Connection | null = null;
  class Taker extends Limited {
    onConnect(conn: Connection) {
      serverConn = conn;
    }
  }
  await using server = serve(Taker, { port: 0, log: () => {} });
  const peer = await RawRpyc.connect(server.addr.port);
  try {
    await peer.request(Handle.GETROOT, noArgs);
    const root = await peer.reply();
    assert.ok(root.args instanceof PyTuple);
    const rootPack = (root.args as PyTuple).items[1];
    const rounds = 50;
    for (let i = 1; i <= rounds; i++) {
      // take(fn): the server gets a netref to a function of this peer and
      // disposes it, sending DEL, which this peer never answers.
      const fn = PyTuple.of(
        Label.REMOTE_REF,
        PyTuple.of("builtins.function", 1, i),
      );
      await peer.request(
        Handle.CALLATTR,
        PyTuple.of(
          Label.TUPLE,
          PyTuple.of(
            PyTuple.of(Label.LOCAL_REF, rootPack),
            PyTuple.of(Label.VALUE, "take"),
            PyTuple.of(Label.TUPLE, PyTuple.of(fn)),
            noArgs,
          ),
        ),
      );
    }
    let replies = 0;
    let dels = 0;
    while (replies < rounds) {
      const message = await peer.reply();
      if (message.msg === Msg.REPLY) {
        replies++;
        assert.deepEqual(
          message.args,
          PyTuple.of(Label.VALUE, "taken"),
        );
      } else if (message.msg === Msg.REQUEST) {
        const request = message.args as PyTuple;
        if (request.items[0] === Handle.DEL) dels++;
      } else {
        assert.fail(`unexpected ${load.name} message ${message.msg}`);
      }
    }
    assert.ok(serverConn !== null);
    const conn = serverConn as Connection;
    assert.ok(await eventually(() => conn.stats.imports === 0, 2000));
    assert.equal(conn.stats.pendingCalls, 0);
    assert.ok(dels > 0, "no DEL was sent");
  } finally {
    peer.close();
  }
});

// ----------------------------------------------------------- mutual TLS

Deno.test({
  name:
    "mutual TLS: a socket that never finishes the handshake is closed once handshakeTimeout passes",
  ignore: !await hasOpenssl(),
  async fn() {
    const certs = await makeCertificates();
    const logs: string[] = [];
    await using server = await serveTls(Limited, {
      port: 0,
      cert: certs.read(certs.serverCert),
      key: certs.read(certs.serverKey),
      ca: certs.read(certs.caCert),
      handshakeTimeout: 300,
      log: (line) => logs.push(line),
    });
    const stalled = await dial(server.addr.port);
    assert.ok(
      await closedWithin(stalled, 3000),
      "the stalled socket is still open",
    );
    assert.ok(await eventually(() => server.connectionCount === 0, 2000));
    await Deno.remove(certs.dir, { recursive: true });
  },
});

Deno.test({
  name:
    "TLS without client certificates: a socket that never finishes the handshake is closed once handshakeTimeout passes",
  ignore: !await hasOpenssl(),
  async fn() {
    const certs = await makeCertificates();
    const logs: string[] = [];
    await using server = await serveTls(Limited, {
      port: 0,
      cert: certs.read(certs.serverCert),
      key: certs.read(certs.serverKey),
      handshakeTimeout: 300,
      log: (line) => logs.push(line),
    });
    const stalled = await dial(server.addr.port);
    assert.ok(
      await closedWithin(stalled, 3000),
      "the stalled socket is still open",
    );
    assert.ok(
      logs.some((line) => /during the TLS handshake: .*timeout/i.test(line)),
      logs.join("\n"),
    );
    assert.ok(await eventually(() => server.connectionCount === 0, 2000));
    await Deno.remove(certs.dir, { recursive: true });
  },
});

Deno.test({
  name:
    "mutual TLS: sockets in the handshake count against maxConnections, and the 3rd of a limit of 2 is closed at once",
  ignore: !await hasOpenssl(),
  async fn() {
    const certs = await makeCertificates();
    const logs: string[] = [];
    await using server = await serveTls(Limited, {
      port: 0,
      cert: certs.read(certs.serverCert),
      key: certs.read(certs.serverKey),
      ca: certs.read(certs.caCert),
      maxConnections: 2,
      log: (line) => logs.push(line),
    });
    const held = [await dial(server.addr.port), await dial(server.addr.port)];
    try {
      assert.ok(
        await eventually(() => server.connectionCount === 2, 2000),
        `connectionCount is ${server.connectionCount}`,
      );
      const third = await dial(server.addr.port);
      assert.ok(await closedWithin(third, 1500), "the 3rd socket is open");
      // Refused before its handshake: one line, not a second for the hang-up.
      assert.deepEqual(
        logs.filter((line) => /refused/.test(line)).map((line) =>
          line.replace(/:\d+:/, ":PORT:")
        ),
        [
          "refused 127.0.0.1:PORT: the server is at its limit of 2 connections; try again later",
        ],
      );
    } finally {
      closeAll(held);
    }
    assert.ok(await eventually(() => server.connectionCount === 0, 2000));
    await Deno.remove(certs.dir, { recursive: true });
  },
});

// ----------------------------------------------- cancelled calls' places

Deno.test("a call cancelled while its handler ignores the signal frees its maxInFlight place; past maxInFlight such handlers, calls get a clear error and the connection stays", async () => {
  const gates: (() => void)[] = [];
  class Stubborn extends Limited {
    @exposed
    stall() {
      // It could watch currentCall().signal, and does not.
      return new Promise<string>((resolve) => gates.push(() => resolve("x")));
    }
  }
  await using server = serve(Stubborn, {
    port: 0,
    maxInFlight: 2,
    log: () => {},
  });
  await using client = await connect<Stubborn>("127.0.0.1", server.addr.port);
  const quick = withOptions(client.root, { timeout: 50 });
  await assert.rejects(quick.stall(), /timed out/);
  assert.ok(await eventually(() => gates.length === 1));
  // Its place is free: maxInFlight (2) calls run at once beside it.
  const slow = withOptions(client.root, { timeout: 10_000 });
  const both = Promise.all([slow.stall(), slow.stall()]);
  both.catch(() => {}); // Awaited below, once the handlers run.
  assert.ok(await eventually(() => gates.length === 3 || client.isClosed));
  assert.equal(client.isClosed, false, "the client was disconnected");
  gates[1]();
  gates[2]();
  assert.deepEqual(await both, ["x", "x"]);
  // A second abandoned handler: now maxInFlight (2) run, ignoring CANCEL.
  await assert.rejects(quick.stall(), /timed out/);
  assert.ok(await eventually(() => gates.length === 4));
  await assert.rejects(
    client.root.echo("refused"),
    /2 calls that .* cancelled are still running .*maxInFlight/,
  );
  assert.equal(client.isClosed, false);
  // One finishes: calls are served again.
  gates[0]();
  await client.ping();
  assert.equal(await client.root.echo("back"), "back");
  gates[3]();
});

// ------------------------------------------------------------------- CLI

Deno.test("netref serve takes --frame-timeout and --max-exports, with the library's defaults", () => {
  const given = parseCommandLine(
    ["serve", "--frame-timeout", "2s", "--max-exports", "50"],
    () => undefined,
  ) as ServeCommand;
  assert.equal(given.frameTimeout, 2000);
  assert.equal(given.maxExports, 50);
  const defaults = parseCommandLine(["serve"], () => undefined) as ServeCommand;
  assert.equal(defaults.frameTimeout, resolveOptions({}).frameTimeout);
  assert.equal(defaults.maxExports, resolveOptions({}).maxExports);
  assert.throws(
    () => parseCommandLine(["serve", "--max-exports", "0"], () => undefined),
    /--max-exports/,
  );
  const text = usage("serve", {
    program: "netref",
    version: "0",
    defaults: "",
  });
  assert.match(text, /--max-exports N +most objects .*\(default: 100000\)/);
  assert.match(
    text,
    /--frame-timeout DURATION +time a message .*\(default: 30s/,
  );
});

Deno.test("netref serve's connection log keeps a mutual-TLS listener counting sockets from their handshake", () => {
  const gates: unknown[] = [];
  const inner = {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const,
    accept: () => new Promise<never>(() => {}),
    close() {},
    useGate: (gate: unknown) => gates.push(gate),
  };
  const logged = loggingListener(inner, () => {}) as typeof inner;
  assert.equal(typeof logged.useGate, "function");
  logged.useGate("gate");
  assert.deepEqual(gates, ["gate"]);
});

Deno.test("shutdown closes sockets still being sniffed or told they are refused, at once", async () => {
  const server = serve(Limited, {
    port: 0,
    maxConnections: 1,
    log: () => {},
  });
  const silent = await dial(server.addr.port);
  assert.ok(await eventually(() => server.connectionCount === 1, 2000));
  const refused = await dial(server.addr.port);
  const buffer = new Uint8Array(1024);
  assert.ok(await refused.read(buffer) !== null, "no refusing hello");
  const start = performance.now();
  await server.shutdown();
  assert.ok(await closedWithin(silent, 1000), "the silent socket is open");
  assert.ok(await closedWithin(refused, 1000), "the refused socket is open");
  assert.ok(performance.now() - start < 900, "shutdown waited");
  assert.equal(server.connectionCount, 0);
});
