// A netref server answering Python RPyC clients (/usr/bin/python3 with
// Debian's python3-rpyc) on the same port as netref clients.

import assert from "node:assert/strict";
import { pythonLines, PythonProcess, pythonTest, runPython } from "./_rpyc.ts";
import { client, eventually, served } from "./_rpyc_service.ts";

const root = new URL("../", import.meta.url).pathname;

function checkPortFree(port: number): void {
  for (const hostname of ["127.0.0.1", "::1"]) {
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname, port });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) {
        throw new Error(
          `Port ${port} on ${hostname} is in use: this test runs the classic RPyC client verbatim, which connects to localhost:${port}; stop whatever listens there and run it again`,
        );
      }
      continue; // No IPv6 here: nothing can listen there either.
    }
    listener.close();
  }
}

pythonTest(
  "the classic Python client, verbatim, prints foo and bar from examples/test_service.ts",
  async () => {
    checkPortFree(18811);
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "examples/test_service.ts", "18811"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      assert.match(text, /listening on 127\.0\.0\.1:18811/);
      const result = await runPython(
        `import rpyc
c = rpyc.connect('localhost', 18811)
print(c.root.foo())
print(c.root.bar())
`,
      );
      assert.equal(result.stderr, "");
      assert.equal(result.code, 0);
      assert.equal(result.stdout, "foo\nbar\n");
    } finally {
      server.kill("SIGINT");
      await server.status;
      await lines.cancel().catch(() => {});
      await server.stderr.cancel().catch(() => {});
    }
  },
);

pythonTest(
  "Python calls a TypeScript service with positional and keyword arguments",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`print(c.root.add(2, 3))
print(c.root.add(2, 3, scale=10))
print(c.root.version)
print(c.root.exposed_foo())
data = dict(c.root.data())
print(data['name'], data['tags'], data['when'], data['big'], data['bytes'], data['ratio'])
c.ping()
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "5",
      "50",
      "1.0",
      "foo",
      "x ('a', 'b') 1970-01-01T00:00:00.000Z 1180591620717411303424 b'\\x01\\x02' 0.5",
    ]);
    assert.ok(await eventually(() => server.disconnected.length === 1));
    assert.deepEqual(server.logs, []);
  },
);

pythonTest(
  "Python passes callbacks that TypeScript calls, which call TypeScript again",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`seen = []
def callback(x):
    seen.append(x)
    return c.root.add(x, x)
print(c.root.each((1, 2, 3), callback))
print(seen)`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, ["(2, 4, 6)", "[1, 2, 3]"]);
  },
);

pythonTest(
  "TypeScript throws arrive in Python as exceptions with the remote traceback",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`for kind in ("range", "quota", "plain"):
    try:
        c.root.fail(kind)
    except Exception as e:
        text = str(e)
        print(type(e).__name__, "|", text.splitlines()[0], "|",
              "========= Remote Traceback (1) =========" in text, "|",
              "at PyFacing.fail" in text)`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "ValueError | too big | True | True",
      "netref.QuotaError | over quota | True | True",
      "netref.Error | plain | True | True",
    ]);
  },
);

pythonTest(
  "Python exceptions reach TypeScript as RemoteError with the Python traceback",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`def bad():
    raise KeyError("missing")
print(c.root.callAndReport(bad))
try:
    c.root.callAndPropagate(bad)
except KeyError as e:
    text = str(e)
    print("KeyError", "in bad" in text, "RemoteError: KeyError: missing" in text,
          "========= Remote Traceback (2) =========" in text)`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "('RemoteError', 'KeyError', True)",
      "KeyError True True True",
    ]);
  },
);

pythonTest(
  "a TypeScript object used by reference from Python is released after del",
  async () => {
    await using server = served();
    await using python = new PythonProcess(
      {
        code: client(`counter = c.root.makeCounter()
print(counter.increment(5), counter.increment(), counter.count)
print("holding")
sys.stdin.readline()
del counter
gc.collect()
print("released")
sys.stdin.readline()
c.close()`),
      },
      { args: [String(server.port)] },
    );
    assert.equal(await python.line(), "5 6 6");
    assert.equal(await python.line(), "holding");
    const side = server.connections[0];
    // Only the counter: the bound methods Python called are given back.
    assert.ok(
      await eventually(() => side.stats.exports === 1),
      `exports: ${JSON.stringify(side.stats)}`,
    );
    await python.send("");
    assert.equal(await python.line(), "released");
    assert.ok(
      await eventually(() => side.stats.exports === 0),
      `exports left after del: ${JSON.stringify(side.stats)}`,
    );
    await python.send("");
    assert.equal((await python.close()).code, 0);
    assert.ok(await eventually(() => server.disconnected.length === 1));
  },
);

pythonTest(
  "Python netrefs held by TypeScript are given back at garbage collection",
  async () => {
    await using server = served();
    await using python = new PythonProcess(
      {
        code: client(`print(c.root.keep(lambda: 1), len(c._local_objects._dict))
sys.stdin.readline()
for _ in range(100):
    c.poll_all(0.05)
    if not c._local_objects._dict:
        break
print(len(c._local_objects._dict))`),
      },
      { args: [String(server.port)] },
    );
    assert.equal(await python.line(), "function 1");
    const side = server.connections[0];
    assert.ok(
      await eventually(() => side.stats.imports === 0),
      `imports left: ${JSON.stringify(side.stats)}`,
    );
    await python.send("");
    assert.equal(await python.line(), "0");
  },
  // Needs --v8-flags=--expose-gc to collect on demand.
  { ignore: !("gc" in globalThis) },
);

pythonTest(
  "dir() and setattr from Python follow the exposure policy",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`print(dir(c.root))
c.root.version = "2.0"
print(c.root.version)
try:
    c.root.foo = 1
except AttributeError as e:
    print(str(e).splitlines()[0])`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "['add', 'callAndPropagate', 'callAndReport', 'data', 'each', 'fail', 'foo', 'greetBack', 'keep', 'makeCounter', 'ports', 'shape', 'version']",
      "2.0",
      "Cannot write 'foo' of PyFacing: it is exposed, but not for writing",
    ]);
  },
);

pythonTest(
  "members that are not exposed are refused with an AttributeError naming them",
  async () => {
    await using server = served();
    const names = [
      "secret",
      "exposed_secret",
      "constructor",
      "__proto__",
      "prototype",
      "__class__",
      "__dict__",
      "toString",
      "onConnect",
    ];
    const lines = await pythonLines(
      client(`print(hasattr(c.root, "secret"))
for name in sys.argv[2:]:
    try:
        getattr(c.root, name)
        print(name, "reached")
    except AttributeError as e:
        print(name, "|", str(e).splitlines()[0])`),
      { args: [String(server.port), ...names] },
    );
    assert.equal(lines[0], "False");
    assert.equal(lines.length, names.length + 1);
    for (const [i, name] of names.entries()) {
      const [shown, message] = lines[i + 1].split(" | ");
      assert.equal(shown, name);
      assert.ok(
        message?.startsWith(`Cannot access '${name}' of PyFacing: `),
        lines[i + 1],
      );
    }
  },
);

pythonTest(
  "RPyC classic mode is refused with a clear message",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      `import sys, pickle, rpyc
try:
    rpyc.classic.connect('127.0.0.1', int(sys.argv[1]))
    print("classic connected")
except AttributeError as e:
    print(str(e).splitlines()[0])
c = rpyc.connect('127.0.0.1', int(sys.argv[1]))
for name in ("eval", "execute", "exposed_namespace"):
    try:
        getattr(c.root, name)
        print(name, "reached")
    except AttributeError as e:
        print(str(e).splitlines()[0])
try:
    pickle.dumps(c.root)
except ValueError as e:
    print(str(e).splitlines()[0])`,
      { args: [String(server.port)] },
    );
    const classic =
      "RPyC classic mode (remote eval, exec and module access) is not supported by netref";
    assert.deepEqual(lines, [
      `Cannot access 'getmodule' of PyFacing: ${classic}`,
      `Cannot access 'eval' of PyFacing: ${classic}`,
      `Cannot access 'execute' of PyFacing: ${classic}`,
      `Cannot access 'exposed_namespace' of PyFacing: ${classic}`,
      "Pickling (HANDLE_PICKLE) is not supported by netref",
    ]);
  },
);

pythonTest(
  "onConnect gets a connection whose root calls the Python client back",
  async (peer) => {
    await using server = served();
    const lines = await pythonLines(
      `import sys, rpyc
class ClientService(rpyc.Service):
    def exposed_hello(self, name):
        return "hello " + name
c = rpyc.connect('127.0.0.1', int(sys.argv[1]), service=ClientService)
print(c.root.greetBack("typescript"))
c.close()`,
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, ["hello typescript"]);
    assert.ok(await eventually(() => server.disconnected.length === 1));
    assert.equal(server.disconnected[0], server.connections[0]);
    assert.equal(
      server.connections[0].peer.implementation,
      `rpyc/${peer.major}`,
    );
    assert.ok(server.connections[0].isClosed);
  },
);

pythonTest(
  "a Python client silent past handshakeTimeout is served when it speaks, and idleTimeout bounds silence",
  async () => {
    // Python's rpyc.connect() sends nothing until the connection is first used.
    await using server = served({ handshakeTimeout: 200 });
    const lines = await pythonLines(
      client(`import time
time.sleep(0.8)
print(c.root.exposed_foo())
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, ["foo"]);
    assert.deepEqual(server.logs, []);

    await using idle = served({ handshakeTimeout: 100, idleTimeout: 300 });
    const result = await pythonLines(
      client(`import time
time.sleep(1.2)
try:
    c.root.exposed_foo()
    print("still open")
except EOFError:
    print("closed")`),
      { args: [String(idle.port)] },
    );
    assert.deepEqual(result, ["closed"]);
    assert.ok(
      idle.logs.some((line) => /within 300 ms|idle for 300 ms/.test(line)),
      idle.logs.join("\n"),
    );
  },
);
