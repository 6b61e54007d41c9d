import assert from "node:assert/strict";
import { exposed } from "../mod.ts";
import { connectUnix } from "../src/client/transports.ts";
import { serveUnix } from "../src/server/transports.ts";
import type { TestService } from "../examples/test_service.ts";
import { startFixture } from "./_processes.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "netref_unix_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("connectUnix() reaches a server in another process on a Unix socket", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/netref.sock`;
    const server = await startFixture("transport_server.ts", ["unix", path]);
    try {
      assert.equal(server.ready.path, path);
      {
        await using conn = await connectUnix<TestService>(path);
        assert.equal(await conn.root.foo(), "foo");
        const seen: number[] = [];
        assert.equal(await conn.root.each([4, 5], (n) => seen.push(n)), 2);
        assert.deepEqual(seen, [4, 5]);
        assert.equal(conn.remoteAddr?.transport, "unix");
      }
      // Only its owner may connect.
      assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    } finally {
      const status = await server.stop();
      assert.equal(status.code, 0, server.stderr());
    }
    // Shutting down removed the socket file.
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  }));

/** Leaves a socket file at `path` that nobody accepts on: its server was killed. */
async function makeStaleSocket(path: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} });
       console.log("listening");
       setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read();
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
}

class Echo {
  @exposed
  echo<T>(value: T): T {
    return value;
  }
}

Deno.test("serveUnix() replaces a stale socket file but not a live server or another file", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/netref.sock`;
    await makeStaleSocket(path);
    assert.ok((await Deno.lstat(path)).isSocket);
    await using server = await serveUnix(Echo, { path, log: () => {} });
    await using conn = await connectUnix<Echo>(path);
    const big = new Uint8Array(3 * 1024 * 1024).fill(7);
    assert.deepEqual(await conn.root.echo(big), big);
    await assert.rejects(
      serveUnix(Echo, { path }),
      (error: Error) =>
        error instanceof Deno.errors.AddrInUse &&
        /already listening/.test(error.message),
    );
    const file = `${dir}/plain`;
    await Deno.writeTextFile(file, "not a socket");
    await assert.rejects(
      serveUnix(Echo, { path: file }),
      Deno.errors.AddrInUse,
    );
    assert.equal(await Deno.readTextFile(file), "not a socket");
    assert.equal(server.addr.path, path);
  }));

Deno.test("connectUnix() to a path with no socket fails with NotFound", async () => {
  await assert.rejects(
    connectUnix("/nonexistent/netref.sock"),
    Deno.errors.NotFound,
  );
  await assert.rejects(connectUnix(""), TypeError);
});
