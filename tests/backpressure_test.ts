import assert from "node:assert/strict";
import { connect, exposed, serve } from "../mod.ts";
import { Kind, Op } from "../src/protocol/constants.ts";
import { encodeValue } from "../src/protocol/codec.ts";
import { encodeFrames } from "../src/protocol/frame.ts";
import { encodeHello } from "../src/protocol/handshake.ts";
import { delay } from "./_harness.ts";

class Echo {
  @exposed
  echo(value: unknown): unknown {
    return value;
  }
  @exposed
  foo(): string {
    return "foo";
  }
}

Deno.test("a peer that sends requests but never reads answers stops being read", async () => {
  const logs: string[] = [];
  await using server = serve(Echo, { port: 0, log: (line) => logs.push(line) });
  const attacker = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  try {
    await attacker.write(
      encodeHello({
        implementation: "attacker",
        maxFrameBytes: 1 << 24,
        features: [],
      }),
    );
    // Each request asks for 256 KiB back: 800 of them would queue 200 MiB
    // of answers if the server kept reading.
    const blob = "x".repeat(256 * 1024);
    let sent = 0;
    let stop = false;
    let finished = false;
    const writer = (async () => {
      for (let id = 1; id <= 800 && !stop; id++) {
        const frame = encodeFrames([
          encodeValue([Kind.REQUEST, id, 0, Op.CALL, ["echo"], [blob], false]),
        ]);
        for (let offset = 0; offset < frame.length && !stop;) {
          const n = await attacker.write(frame.subarray(offset));
          offset += n;
          sent += n;
        }
      }
      finished = true;
    })().catch(() => {});
    // Wait until the writes stall (no byte accepted for 500 ms) or all 200
    // MiB went through; unhindered, loopback moves that in about a second.
    let last = -1;
    for (let waited = 0; !finished && waited < 15_000; waited += 500) {
      if (sent === last) break;
      last = sent;
      await delay(500);
    }
    stop = true;
    assert.ok(!finished, "the server read all 200 MiB without answering");
    assert.deepEqual(logs, []);
    assert.ok(
      sent < 64 * 1024 * 1024,
      `the server kept reading: ${Math.round(sent / 1048576)} MiB accepted`,
    );
    // Everyone else is still served.
    await using good = await connect<Echo>("127.0.0.1", server.addr.port);
    assert.equal(await good.root.foo(), "foo");
    attacker.close();
    await writer;
  } finally {
    try {
      attacker.close();
    } catch {
      // Closed above.
    }
  }
});
