import assert from "node:assert/strict";
import { ConnectionClosedError, ProtocolError } from "../mod.ts";
import { connectSubprocess } from "../src/client/subprocess.ts";
import type { TestService } from "../examples/test_service.ts";

interface ChildService extends TestService {
  pid(): number;
  exit(code: number): void;
  echo(data: Uint8Array): Uint8Array;
}

const child = new URL("./fixtures/stdio_server.ts", import.meta.url).pathname;
const run = ["run", "--quiet", child];

Deno.test("connectSubprocess() reaches a child serving on its stdin and stdout", async () => {
  const conn = await connectSubprocess<ChildService>(Deno.execPath(), run, {
    stderr: "piped",
  });
  const stderr = new Response(conn.process.stderr).text();
  try {
    assert.equal(await conn.root.foo(), "foo");
    assert.equal(await conn.root.pid(), conn.process.pid);
    const seen: number[] = [];
    assert.equal(await conn.root.each([1, 2, 3], (n) => seen.push(n)), 3);
    assert.deepEqual(seen, [1, 2, 3]);
    // Bigger than any pipe buffer: crosses in many pieces, both ways.
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    assert.deepEqual(await conn.root.echo(big), big);
  } finally {
    await conn.close();
  }
  // Closing the connection ended the child, cleanly.
  const status = await conn.process.status;
  assert.equal(status.code, 0);
  // The service's console.log went to stderr, not into the protocol.
  assert.match(await stderr, /connected: peer/);
});

Deno.test("a child that exits closes the connection with ConnectionClosedError", async () => {
  await using conn = await connectSubprocess<ChildService>(
    Deno.execPath(),
    run,
    { stderr: "null" },
  );
  const started = performance.now();
  await assert.rejects(conn.root.exit(3), (error: Error) => {
    assert.ok(error instanceof ConnectionClosedError, String(error));
    assert.match(error.message, /subprocess .* exited with code 3/);
    return true;
  });
  await conn.closed;
  assert.equal(conn.isClosed, true);
  assert.equal((await conn.process.status).code, 3);
  assert.ok(performance.now() - started < 5000);
  await assert.rejects(conn.root.foo(), ConnectionClosedError);
});

Deno.test("connectSubprocess() of a child that does not speak netref fails and ends it", async () => {
  // Prints text on stdout, then waits for input that never comes.
  await assert.rejects(
    connectSubprocess(
      Deno.execPath(),
      [
        "eval",
        "console.log('hello, not netref'); await new Promise(() => setInterval(() => {}, 1000));",
      ],
      { stderr: "null", exitTimeout: 200, log: () => {} },
    ),
    ProtocolError,
  );
  // One that exits at once.
  await assert.rejects(
    connectSubprocess(Deno.execPath(), ["eval", "Deno.exit(5)"], {
      stderr: "null",
      log: () => {},
    }),
    (error: Error) =>
      error instanceof ConnectionClosedError &&
      /exited with code 5/.test(error.message),
  );
  await assert.rejects(
    connectSubprocess("/nonexistent/netref-child"),
    Deno.errors.NotFound,
  );
});
