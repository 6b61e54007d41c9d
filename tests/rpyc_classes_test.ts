// Exposed classes (RPyC's `exposed_Foo = Foo`) constructed by Python RPyC
// clients and netref clients, and RPyC's get_service_name() and
// get_service_aliases() answered from the @service name.

import assert from "node:assert/strict";
import { AccessError, connect, exposed, serve, service } from "../mod.ts";
import { connectRpyc } from "../rpyc.ts";
import { pythonLines, PythonProcess, pythonTest } from "./_rpyc.ts";
import { client } from "./_rpyc_service.ts";

class Greeter {
  static secret = "static members stay unreachable";
  #greeting: string;
  constructor(greeting: string, punctuation = "!") {
    this.#greeting = greeting + punctuation;
  }
  @exposed
  greet(name: string): string {
    return `${this.#greeting} ${name}`;
  }
  hidden(): string {
    return "hidden";
  }
}

@service("greeting")
class GreetingService {
  @exposed
  Greeter = Greeter;
  @exposed
  plain(): string {
    return "plain";
  }
}

class UnnamedService {
  @exposed
  foo(): string {
    return "foo";
  }
}

function served(Service: new () => object) {
  const server = serve(Service, { port: 0, log: () => {} });
  return {
    port: server.addr.port,
    [Symbol.asyncDispose]: () => server.shutdown({ deadline: 1000 }),
  };
}

pythonTest(
  "Python constructs an exposed class and calls the new instance's exposed methods",
  async () => {
    await using server = served(GreetingService);
    const lines = await pythonLines(
      client(`g = c.root.Greeter("hello", "?")
print(g.greet("bob"))
print(c.root.exposed_Greeter("hi").greet("ann"))
print(c.root.Greeter("a").greet("b") == c.root.Greeter("a").greet("b"))
for name in ("hidden", "constructor"):
    try:
        getattr(g, name)
    except AttributeError as error:
        print("AttributeError", name)
try:
    c.root.Greeter.secret
except AttributeError:
    print("AttributeError secret")
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "hello? bob",
      "hi! ann",
      "True",
      "AttributeError hidden",
      "AttributeError constructor",
      "AttributeError secret",
    ]);
  },
);

Deno.test("a netref client calls an exposed class without new and gets a netref to the instance", async () => {
  await using server = served(GreetingService);
  await using conn = await connect<GreetingService>(
    "127.0.0.1",
    server.port,
  );
  assert.equal(await conn.root.Greeter("hello").greet("bob"), "hello! bob");
  using greeter = await conn.root.Greeter("hey", ".");
  assert.equal(await greeter.greet("ann"), "hey. ann");
  const untyped = conn.root as unknown as {
    Greeter: { secret: PromiseLike<unknown> };
  };
  await assert.rejects(async () => await untyped.Greeter.secret, AccessError);
});

pythonTest(
  "Python's get_service_name() and get_service_aliases() give the @service name upper-cased",
  async () => {
    await using named = served(GreetingService);
    await using unnamed = served(UnnamedService);
    const script = `print(c.root.get_service_name())
print(c.root.get_service_aliases())
print(c.root.exposed_get_service_name())
c.close()`;
    assert.deepEqual(
      await pythonLines(client(script), { args: [String(named.port)] }),
      ["GREETING", "('GREETING',)", "GREETING"],
    );
    assert.deepEqual(
      await pythonLines(client(script), { args: [String(unnamed.port)] }),
      ["UNNAMEDSERVICE", "('UNNAMEDSERVICE',)", "UNNAMEDSERVICE"],
    );
  },
);

const PYTHON_CLASS_SERVER = `import sys, threading, rpyc
from rpyc.utils.server import ThreadedServer

class Greeter:
    def __init__(self, greeting):
        self.greeting = greeting
    def exposed_greet(self, name):
        return self.greeting + " " + name

class GreetingService(rpyc.Service):
    exposed_Greeter = Greeter

server = ThreadedServer(GreetingService, hostname="127.0.0.1", port=0)
server._listen()
threading.Thread(target=server.start, daemon=True).start()
print("listening on", server.port, flush=True)
sys.stdin.read()
server.close()
`;

pythonTest(
  "connectRpyc() calls a Python service's exposed class and calls the new instance",
  async () => {
    await using python = new PythonProcess({ code: PYTHON_CLASS_SERVER });
    const port = Number(
      (await python.line()).match(/^listening on (\d+)$/)?.[1],
    );
    await using conn = await connectRpyc("127.0.0.1", port);
    assert.equal(await conn.root.Greeter("hello").greet("bob"), "hello bob");
    assert.equal(await conn.root.get_service_name(), "GREETING");
  },
);
