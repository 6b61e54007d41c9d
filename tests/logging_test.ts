import assert from "node:assert/strict";
import { connect, exposed, serve } from "../mod.ts";
import type { LogEvent } from "../client.ts";
import { eventually } from "./_harness.ts";

class Slow {
  @exposed
  slow(): Promise<string> {
    return new Promise((resolve) => setTimeout(() => resolve("late"), 5000));
  }
  @exposed
  foo(): string {
    return "foo";
  }
}

/** Runs `body` with console.error recorded instead of printed. */
async function recordingStderr(
  body: (lines: string[]) => Promise<void>,
): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await body(lines);
  } finally {
    console.error = original;
  }
  return lines;
}

/** Sends bytes that are not netref's and waits for the server to hang up. */
async function sendGarbage(port: number): Promise<void> {
  const raw = await Deno.connect({ hostname: "127.0.0.1", port });
  await raw.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  const buffer = new Uint8Array(1024);
  try {
    while ((await raw.read(buffer)) !== null) { /* until closed */ }
  } catch {
    // Reset: closed too.
  }
  raw.close();
}

Deno.test("a server reports a misbehaving peer through onLog, as a structured event", async () => {
  const events: LogEvent[] = [];
  await using server = serve(Slow, {
    port: 0,
    onLog: (event) => events.push(event),
  });
  await sendGarbage(server.addr.port);
  assert.ok(await eventually(() => events.length > 0, 2000), "no event");
  const [event] = events;
  assert.equal(event.level, "warn");
  assert.equal(event.event, "connection.closed");
  assert.match(event.peer ?? "", /^127\.0\.0\.1:\d+$/);
  assert.ok(event.reason !== undefined && event.reason.length > 0);
  assert.ok(event.message.includes(event.peer!));
});

Deno.test("a server logs to stderr by default", async () => {
  const lines = await recordingStderr(async (lines) => {
    await using server = serve(Slow, { port: 0 });
    await sendGarbage(server.addr.port);
    assert.ok(await eventually(() => lines.length > 0, 2000));
  });
  assert.match(lines[0], /^netref: closing connection to 127\.0\.0\.1:\d+: /);
});

Deno.test("a client is silent by default, and reports through onLog when given", async () => {
  const events: LogEvent[] = [];
  const lines = await recordingStderr(async () => {
    await using server = serve(Slow, { port: 0, onLog: () => {} });
    const quiet = await connect<Slow>("127.0.0.1", server.addr.port);
    const told = await connect<Slow>("127.0.0.1", server.addr.port, {
      onLog: (event) => events.push(event),
    });
    // Calls nobody awaits, failed by the close: reported, not thrown.
    quiet.root.slow();
    told.root.slow();
    await quiet.close();
    await told.close();
    assert.ok(await eventually(() => events.length > 0, 2000));
  });
  assert.deepEqual(lines, [], "the client wrote to stderr");
  assert.equal(events[0].event, "call.unawaited");
  assert.equal(events[0].level, "warn");
  assert.match(events[0].peer ?? "", /^127\.0\.0\.1:\d+$/);
  assert.match(events[0].reason ?? "", /closed/);
});

Deno.test("the older log option still receives each event's text", async () => {
  const lines: string[] = [];
  await using server = serve(Slow, {
    port: 0,
    log: (line) => lines.push(line),
  });
  await sendGarbage(server.addr.port);
  assert.ok(await eventually(() => lines.length > 0, 2000));
  assert.match(lines[0], /^closing connection to 127\.0\.0\.1:\d+: /);
});

Deno.test("onLog and log together are refused, naming both", () => {
  assert.throws(
    () => serve(Slow, { port: 0, onLog: () => {}, log: () => {} }),
    /Cannot use both onLog and log/,
  );
});
