import assert from "node:assert/strict";
import { connect, exposed, serve } from "../mod.ts";
import { startPythonServer } from "./_rpyc.ts";

const FIXTURE = new URL("./fixtures/forgetful_client.ts", import.meta.url);

class Served {
  kept: (() => string) | null = null;
  @exposed
  echo(value: string): string {
    return value;
  }
  @exposed
  keep(callback: () => string): void {
    this.kept = callback; // Held: the client must stay to answer it.
  }
  @exposed
  never(): Promise<void> {
    return new Promise(() => {});
  }
}

/** Runs the forgetful client; resolves with its status, or null if still running after `ms`. */
async function runClient(
  port: number,
  mode: string,
  ms: number,
): Promise<{ code: number; stdout: string } | null> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", FIXTURE.pathname, String(port), mode],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = child.output();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stillRunning = new Promise<null>((resolve) =>
    timer = setTimeout(() => resolve(null), ms)
  );
  const status = await Promise.race([output, stillRunning]);
  clearTimeout(timer);
  if (status !== null) {
    return {
      code: status.code,
      stdout: new TextDecoder().decode(status.stdout),
    };
  }
  child.kill("SIGKILL");
  await output;
  return null;
}

Deno.test("a script that connects, calls and forgets close() exits by itself with its output", async () => {
  await using server = serve(Served, { port: 0 });
  const started = performance.now();
  const done = await runClient(server.addr.port, "plain", 15_000);
  assert.ok(done !== null, "the client process did not exit");
  assert.equal(done.code, 0);
  assert.equal(done.stdout, "answered\n");
  // Startup included (type-checking is cached by then): seconds, not a hang.
  assert.ok(performance.now() - started < 15_000);
});

Deno.test("a script that calls a Python RPyC server through connectRpyc and forgets close() exits by itself", async () => {
  await using python = await startPythonServer();
  const done = await runClient(python.port, "rpyc", 15_000);
  assert.ok(done !== null, "the client process did not exit");
  assert.equal(done.code, 0);
  assert.equal(done.stdout, "5\n");
});

Deno.test("a client stays alive while the server holds a callback of its, or a call of its is pending", async () => {
  await using server = serve(Served, { port: 0 });
  // Warm the module cache, so that the 3 s below is the client's own time.
  await runClient(server.addr.port, "plain", 15_000);
  for (
    const [mode, said] of [
      ["callback", "holding a callback"],
      ["pending", "a call pending"],
    ]
  ) {
    const done = await runClient(server.addr.port, mode, 3000);
    assert.equal(done, null, `${said}: the client exited: ${done?.stdout}`);
  }
});

Deno.test("an in-process client with nothing pending still works after idling, and close() still closes it", async () => {
  await using server = serve(Served, { port: 0 });
  await using conn = await connect<Served>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.echo("one"), "one");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await conn.root.echo("two"), "two");
  assert.ok((await conn.ping()) >= 0);
});
