// Python keyword arguments reach TypeScript methods at the positions their
// `@exposed({ params })` declares, or in a declared options object; any
// other keyword is refused with a TypeError Python raises as TypeError.

import assert from "node:assert/strict";
import { exposed, serve } from "../mod.ts";
import { runCli } from "./_cli.ts";
import { pythonLines, pythonTest } from "./_rpyc.ts";
import { client } from "./_rpyc_service.ts";

class Greeter {
  @exposed({ params: ["name", "greeting"] })
  greet(name: string, greeting = "hello"): string {
    return `${greeting} ${name}`;
  }
  @exposed({ params: ["query"], options: true })
  search(query: string, options?: Record<string, unknown>): string {
    return JSON.stringify([query, options ?? null]);
  }
  @exposed({ options: true })
  tag(...args: unknown[]): string {
    return JSON.stringify(args);
  }
  @exposed
  plain(name: string): string {
    return `plain ${name}`;
  }
}

function servedGreeter() {
  const server = serve(Greeter, { port: 0, log: () => {} });
  return {
    port: server.addr.port,
    [Symbol.asyncDispose]: () => server.shutdown({ deadline: 1000 }),
  };
}

/** Python: prints the first line of the TypeError `call` raises. */
const TRY = `def attempt(call):
  try:
    print(call())
  except TypeError as e:
    print('TypeError:', str(e).split('\\n')[0])
  except Exception as e:
    print('other', type(e).__name__, e)
`;

pythonTest(
  "Python keywords bind to the parameter names a method declares",
  async () => {
    await using server = servedGreeter();
    const lines = await pythonLines(
      client(`${TRY}
print(c.root.greet(name="bob", greeting="hi"))
print(c.root.greet(greeting="hey", name="ann"))
print(c.root.greet("bob", greeting="yo"))
print(c.root.greet(name="eve"))
print(c.root.greet("zed"))
from rpyc.core import consts
print(c.sync_request(consts.HANDLE_CALLATTR, c.root, "greet", (), (("name", "cal"),)))
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "hi bob",
      "hey ann",
      "yo bob",
      "hello eve",
      "hello zed",
      "hello cal",
    ]);
  },
);

pythonTest(
  "a keyword a method did not declare raises TypeError in Python naming the method and the keyword",
  async () => {
    await using server = servedGreeter();
    const lines = await pythonLines(
      client(`${TRY}
attempt(lambda: c.root.greet(name="bob", tone="warm"))
attempt(lambda: c.root.greet("bob", name="ann"))
attempt(lambda: c.root.plain(name="bob"))
print(c.root.plain("bob"))
from rpyc.core import consts
attempt(lambda: c.sync_request(consts.HANDLE_CALLATTR, c.root, "plain", (), (("name", "x"),)))
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "TypeError: Greeter.greet() got an unexpected keyword argument 'tone': it declares only name, greeting",
      "TypeError: Greeter.greet() got multiple values for argument 'name'",
      "TypeError: Greeter.plain() got an unexpected keyword argument 'name': it declares no parameter names; declare them with @exposed({ params: [...] }), or take an options object with @exposed({ options: true })",
      "plain bob",
      "TypeError: Greeter.plain() got an unexpected keyword argument 'name': it declares no parameter names; declare them with @exposed({ params: [...] }), or take an options object with @exposed({ options: true })",
    ]);
  },
);

pythonTest(
  "a method declaring a trailing options object receives the other keywords there",
  async () => {
    await using server = servedGreeter();
    const lines = await pythonLines(
      client(`${TRY}
print(c.root.search("cats", limit=5, exact=True))
print(c.root.search(query="dogs", limit=1))
print(c.root.search(query="owls"))
print(c.root.tag(1, 2, color="red"))
attempt(lambda: c.root.search("a", "b", limit=1))
c.close()`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      '["cats",{"limit":5,"exact":true}]',
      '["dogs",{"limit":1}]',
      '["owls",null]',
      '[1,2,{"color":"red"}]',
      "TypeError: Greeter.search() takes 1 positional arguments before its options, but 2 were given",
    ]);
  },
);

Deno.test("netref inspect shows the parameter names a method declares", async () => {
  await using server = servedGreeter();
  const { code, stdout, stderr } = await runCli(
    "inspect",
    `127.0.0.1:${server.port}`,
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^ {2}greet +method \(name, greeting\)$/m);
  assert.match(stdout, /^ {2}search +method \(query, \*\*options\)$/m);
  assert.match(stdout, /^ {2}plain +method \(name\)$/m);
});
