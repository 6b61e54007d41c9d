// The rpyc:// registry backend against Python RPyC's own TCP registry
// (/usr/bin/rpyc_registry --mode TCP, Debian's python3-rpyc), with Python
// clients and servers on both sides of it.

import assert from "node:assert/strict";
import { serve } from "../mod.ts";
import { RegistryError } from "../src/errors.ts";
import { connectByService } from "../src/registry/discover.ts";
import { openRegistry, parseRegistryUrl } from "../src/registry/url.ts";
import { serveRegistry } from "../src/registry/serve_registry.ts";
import { TestService } from "../examples/test_service.ts";
import { delay, pythonLines, PythonProcess } from "./_rpyc.ts";

const quiet = { log: () => {} };

/** Runs `rpyc_registry --mode TCP --port 0` until disposed. */
async function startRpycRegistry(
  extra: string[] = [],
): Promise<{ port: number } & AsyncDisposable> {
  const child = new Deno.Command("/usr/bin/rpyc_registry", {
    args: ["--mode", "TCP", "--port", "0", ...extra],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  let port = 0;
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  while (port === 0) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`rpyc_registry ended:\n${text}`);
    text += value;
    port = Number(/server started on [^:]+:(\d+)/.exec(text)?.[1] ?? 0);
  }
  clearTimeout(timer);
  // Keeps reading so that its log never fills the pipe.
  const drained = (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}

/** Asks `check` again every 50 ms until it holds, for at most 5 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error("condition never held");
    await delay(50);
  }
}

Deno.test("rpyc:// URLs name one host, port 18811 by default, without credentials", () => {
  assert.deepEqual(parseRegistryUrl("rpyc://127.0.0.1"), {
    backend: "rpyc",
    hosts: [{ hostname: "127.0.0.1", port: 18811 }],
    prefix: "",
  });
  assert.throws(() => parseRegistryUrl("rpyc://a:1,b:2"), TypeError);
  assert.throws(() => parseRegistryUrl("rpyc://a:1/x"), TypeError);
  assert.throws(() => parseRegistryUrl("rpyc://t@a:1"), TypeError);
});

Deno.test("Python's rpyc.connect_by_service('TEST') reaches a netref server registered in rpyc_registry", async () => {
  await using rpycRegistry = await startRpycRegistry();
  await using server = serve(TestService, { port: 0, ...quiet });
  const { port } = server.addr;
  await using registry = await openRegistry(
    `rpyc://127.0.0.1:${rpycRegistry.port}`,
  );
  const registration = await registry.register([
    { name: "test", hostname: "127.0.0.1", port },
  ]);
  assert.deepEqual(await registry.list("Test"), [{
    name: "TEST",
    id: `127.0.0.1:${port}`,
    hostname: "127.0.0.1",
    port,
    metadata: {},
  }]);
  const lines = await pythonLines(
    `import rpyc, sys
from rpyc.utils.registry import TCPRegistryClient
registrar = TCPRegistryClient("127.0.0.1", int(sys.argv[1]))
print(registrar.discover("TEST"))
c = rpyc.connect_by_service("TEST", registrar=registrar)
print(c.root.foo())
`,
    { args: [String(rpycRegistry.port)] },
  );
  assert.deepEqual(lines, [`(('127.0.0.1', ${port}),)`, "foo"]);
  await registration.withdraw();
  assert.deepEqual(await registry.list("test"), []);
});

/**
 * A Python ThreadedServer of an `EchoService` that registers with the RPyC
 * TCP registry whose port is its first argument.
 */
const ECHO_SERVER_REGISTERED = `import sys, threading, rpyc
from rpyc.utils.registry import TCPRegistryClient
from rpyc.utils.server import ThreadedServer

class EchoService(rpyc.Service):
    def exposed_echo(self, text):
        return "echo " + text

server = ThreadedServer(EchoService, hostname="127.0.0.1", port=0,
    registrar=TCPRegistryClient("127.0.0.1", int(sys.argv[1])))
server._listen()  # start() would listen only once its thread runs
threading.Thread(target=server.start, daemon=True).start()
print("listening on", server.port)
sys.stdin.readline()
server.close()
`;

Deno.test("connectByService with protocol rpyc reaches a Python ThreadedServer registered in rpyc_registry", async () => {
  await using rpycRegistry = await startRpycRegistry();
  await using python = new PythonProcess(
    {
      code: ECHO_SERVER_REGISTERED,
    },
    { args: [String(rpycRegistry.port)] },
  );
  const port = Number((await python.line()).split(" ")[2]);
  await using registry = await openRegistry(
    `rpyc://127.0.0.1:${rpycRegistry.port}`,
  );
  await eventually(async () => (await registry.list("echo")).length > 0);
  assert.deepEqual(
    (await registry.list("echo")).map((i) => [i.name, i.port]),
    [["ECHO", port]],
  );
  await using conn = await connectByService<
    { echo(text: string): string }
  >(registry, "echo", { protocol: "rpyc" });
  assert.equal(await conn.root.echo("hi"), "echo hi");
  await using pinned = await connectByService<
    { echo(text: string): string }
  >(registry, "echo", { protocol: "rpyc", rpycVersion: 5 });
  assert.equal(await pinned.root.echo("pinned"), "echo pinned");
  await conn.close();
  await pinned.close();
  // The first connection's attempt in RPyC 6's format is the one error this
  // RPyC 5 server logs; the pinned connection adds none.
  const { stderr } = await python.close();
  assert.equal(
    stderr.match(/client connection terminated abruptly/g)?.length,
    1,
    stderr,
  );
});

Deno.test("listing every service needs rpyc_registry --listing, and says so", async () => {
  await using rpycRegistry = await startRpycRegistry();
  await using registry = await openRegistry(
    `rpyc://127.0.0.1:${rpycRegistry.port}`,
  );
  await assert.rejects(
    registry.list(),
    (error: Error) =>
      error instanceof RegistryError && /--listing true/.test(error.message),
  );
  await using listing = await startRpycRegistry(["--listing", "true"]);
  await using open = await openRegistry(`rpyc://127.0.0.1:${listing.port}`);
  await open.register([{ name: "a", hostname: "127.0.0.1", port: 1000 }, {
    name: "b",
    hostname: "127.0.0.1",
    port: 1000,
  }]);
  assert.deepEqual(
    (await open.list()).map((i) => `${i.name} ${i.port}`),
    ["A 1000", "B 1000"],
  );
});

Deno.test("an unreachable rpyc:// registry fails with a RegistryError naming it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  await using registry = await openRegistry(`rpyc://127.0.0.1:${port}`, {
    timeout: 1000,
  });
  await assert.rejects(
    registry.list("test"),
    (error: Error) =>
      error instanceof RegistryError &&
      error.message.includes(`QUERY at registry rpyc://127.0.0.1:${port}`),
  );
});

Deno.test("netref registry answers Python's TCPRegistryClient: REGISTER, QUERY without case, LIST, UNREGISTER", async () => {
  await using registryServer = serveRegistry({ port: 0, ...quiet });
  const { port } = registryServer.addr;
  await using server = serve(TestService, { port: 0, ...quiet });
  await using registry = await openRegistry(`netref://127.0.0.1:${port}`);
  await registry.register([
    { name: "test", hostname: "127.0.0.1", port: server.addr.port },
  ]);
  const lines = await pythonLines(
    `import rpyc, sys
from rpyc.utils.registry import TCPRegistryClient
registrar = TCPRegistryClient("127.0.0.1", int(sys.argv[1]))
print(registrar.discover("TEST"))
c = rpyc.connect_by_service("TEST", registrar=registrar)
print(c.root.foo())
print(registrar.register(("Echo", "other"), 4321, interface="127.0.0.1"))
print(sorted(registrar.list()))
print(registrar.discover("echo"))
registrar.unregister(4321)
print(registrar.discover("ECHO"))
`,
    { args: [String(port)] },
  );
  assert.deepEqual(lines, [
    `(('127.0.0.1', ${server.addr.port}),)`,
    "foo",
    "True",
    "['ECHO', 'OTHER', 'TEST']",
    "(('127.0.0.1', 4321),)",
    "()",
  ]);
});

Deno.test("connectByService finds a Python ThreadedServer registered in netref registry", async () => {
  await using registryServer = serveRegistry({ port: 0, ...quiet });
  const { port } = registryServer.addr;
  await using python = new PythonProcess(
    {
      code: ECHO_SERVER_REGISTERED,
    },
    { args: [String(port)] },
  );
  const pythonPort = Number((await python.line()).split(" ")[2]);
  await using registry = await openRegistry(`netref://127.0.0.1:${port}`);
  await eventually(async () => (await registry.list("ECHO")).length > 0);
  assert.deepEqual(
    (await registry.list("ECHO")).map((i) => [i.hostname, i.port]),
    [["127.0.0.1", pythonPort]],
  );
  await using conn = await connectByService<
    { echo(text: string): string }
  >(registry, "ECHO", { protocol: "rpyc" });
  assert.equal(await conn.root.echo("hi"), "echo hi");
});

Deno.test("a netref registry that requires a token does not answer RPyC's registry protocol, which cannot carry one", async () => {
  await using registryServer = serveRegistry({
    port: 0,
    token: "secret",
    ...quiet,
  });
  await using registry = await openRegistry(
    `rpyc://127.0.0.1:${registryServer.addr.port}`,
    { timeout: 2000 },
  );
  await assert.rejects(registry.list("test"), RegistryError);
});
