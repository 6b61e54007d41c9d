import assert from "node:assert/strict";
import { connect, connectUnix, exposed, serve } from "../mod.ts";
import { openRegistry, RegistryError } from "../registry.ts";
import { connectRpyc } from "../rpyc.ts";

class Service {
  @exposed
  foo(): string {
    return "foo";
  }
}

/** A port nothing listens on (just closed). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("connecting where nothing listens names the address and asks whether the server runs", async () => {
  const port = freePort();
  await assert.rejects(connect("127.0.0.1", port), (error: unknown) => {
    assert.ok(error instanceof Deno.errors.ConnectionRefused);
    assert.equal(
      error.message,
      `Cannot connect to 127.0.0.1:${port}: connection refused; is the server running?`,
    );
    assert.ok(error.cause instanceof Deno.errors.ConnectionRefused);
    return true;
  });
});

Deno.test("a Unix socket path with no server is named in the error", async () => {
  const path = `${Deno.makeTempDirSync()}/none.sock`;
  await assert.rejects(connectUnix(path), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.match(error.message, new RegExp(`^Cannot connect to ${path}: `));
    assert.ok(error.cause instanceof Error);
    return true;
  });
});

Deno.test("serving on a port in use names the address", async () => {
  await using first = await serve(Service, { hostname: "127.0.0.1", port: 0 });
  const port = (first.addr as Deno.NetAddr).port;
  assert.throws(
    () => serve(Service, { hostname: "127.0.0.1", port }),
    (error: unknown) => {
      assert.ok(error instanceof Deno.errors.AddrInUse);
      assert.match(
        error.message,
        new RegExp(
          `^Cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`,
        ),
      );
      assert.ok(error.cause instanceof Deno.errors.AddrInUse);
      return true;
    },
  );
});

Deno.test("an etcd registry nobody runs is named, with a plain reason", async () => {
  const port = freePort();
  await using registry = await openRegistry(`etcd://127.0.0.1:${port}`, {
    timeout: 500,
  });
  await assert.rejects(registry.list("test"), (error: unknown) => {
    assert.ok(error instanceof RegistryError);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(
      error.message,
      /could be reached.*; is etcd running there\?|etcd cannot be reached; is it running there\?|did not answer within 500 ms/,
    );
    assert.ok(error.cause !== undefined);
    return true;
  });
});

Deno.test("connectRpyc where nothing listens names the address too", async () => {
  const port = freePort();
  await assert.rejects(connectRpyc("127.0.0.1", port), (error: unknown) => {
    assert.ok(error instanceof Deno.errors.ConnectionRefused);
    assert.equal(
      error.message,
      `Cannot connect to 127.0.0.1:${port}: connection refused; is the server running?`,
    );
    return true;
  });
});
