// Python lists, sets and dicts passed to a TypeScript handler arrive copied.

import assert from "node:assert/strict";
import { pythonLines, pythonTest } from "./_rpyc.ts";
import { client, served } from "./_rpyc_service.ts";
import { startPythonServer } from "./_rpyc.ts";
import { connectRpyc, copy, iterate } from "../rpyc.ts";

pythonTest(
  "a Python list passed to a TypeScript handler arrives as an array",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`print(c.root.each([1, 2, 3], lambda x: x * 2))
print(c.root.shape([1, [2, (3, [4])], "a"]))
print(c.root.shape({1, 2}))`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "(2, 4, 6)",
      '[1,[2,[3,[4]]],"a"]',
      '{"set":[1,2]}',
    ]);
  },
);

pythonTest(
  "a Python dict with str keys arrives as a plain object, nested containers copied too",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(
        `print(c.root.shape({"host": "h", "ports": [1, 2], "sub": {"a": None}}))
print(c.root.shape(value={"k": [1]}))
print(c.root.shape({1: "int key"}))`,
      ),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines.slice(0, 2), [
      '{"host":"h","ports":[1,2],"sub":{"a":null}}',
      '{"value":{"k":[1]}}',
    ]);
    // A key that is not a str has no plain-object form: it stays a netref.
    assert.match(lines[2], /^"\[netref builtins\.dict #\d+ of /);
  },
);

pythonTest(
  "a Python list longer than MAX_COPIED_ITEMS stays a netref",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`print(c.root.shape([[0] * 6000, [0] * 6000]))`),
      { args: [String(server.port)] },
    );
    assert.match(
      lines[0],
      /^\[\[0,0,.*0\],"\[netref builtins\.list #\d+ of .*\]"\]$/,
    );
  },
);

pythonTest(
  "a TypeScript plain object returned to Python is a read-only dict-like netref",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`d = c.root.data()
print(d["name"], len(d), "name" in d, "nope" in d)
print(list(d), sorted(d.keys()) == sorted(d))
print(d.get("ratio"), d.get("nope", 7), d.get("nope"))
print(dict(d.items())["tags"], list(d.values())[0])
try:
    d["nope"]
except KeyError as e:
    print("KeyError")
try:
    d["name"] = 1
except Exception as e:
    print(type(e).__name__)`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "x 6 True False",
      "['name', 'tags', 'when', 'big', 'bytes', 'ratio'] True",
      "0.5 7 None",
      "('a', 'b') x",
      "KeyError",
      "TypeError",
    ]);
  },
);

pythonTest(
  "a TypeScript Map is dict-like too, and a mapping sent back arrives as the object itself",
  async () => {
    await using server = served();
    const lines = await pythonLines(
      client(`p = c.root.ports()
print(p[443], len(p), 80 in p, [k for k in p], sorted(dict(p).items()))
d = c.root.data()
print(c.root.shape(d["tags"]), c.root.shape(d)[:12])
print(c.root.each(p, lambda kv: kv[0] + 1))`),
      { args: [String(server.port)] },
    );
    assert.deepEqual(lines, [
      "https 2 True [80, 443] [(80, 'http'), (443, 'https')]",
      '["a","b"] {"name":"x",',
      "(81, 444)",
    ]);
  },
);

pythonTest(
  "copy() fetches a Python list, set or dict by value over connectRpyc()",
  async () => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<{
      items(): unknown;
      config(): unknown;
      foo(): string;
    }>("127.0.0.1", python.port);
    assert.deepEqual(await copy(await conn.root.items()), [1, 2, 3]);
    const config = await copy<Record<string, unknown>>(
      await conn.root.config(),
    );
    assert.equal(config.host, "h");
    assert.deepEqual(config.ports, [80, new Set([443])]);
    // A nested dict whose keys are not str stays a netref; copied, a Map.
    assert.deepEqual(await copy(config.names), new Map([[1, "one"]]));
    await assert.rejects(
      copy(await conn.root.items(), { maxItems: 2 }),
      /Cannot copy builtins\.list: it holds more than 2 items/,
    );
    await assert.rejects(copy(conn.root), /only a list, set or dict/);
    await assert.rejects(copy({}), /expected a netref of an RPyC connection/);
  },
);

pythonTest(
  "iterate() walks a Python iterable in batches with for await, and gives the iterator back",
  async () => {
    await using python = await startPythonServer();
    await using conn = await connectRpyc<{
      items(): unknown;
      config(): unknown;
      held(): number;
    }>("127.0.0.1", python.port);
    const seen: unknown[] = [];
    for await (const item of iterate(await conn.root.items(), { batch: 2 })) {
      seen.push(item);
    }
    assert.deepEqual(seen, [1, 2, 3]);
    const keys: unknown[] = [];
    for await (const key of iterate(await conn.root.config())) keys.push(key);
    assert.deepEqual(keys, ["host", "ports", "names"]);
    const list = await conn.root.items();
    const held = await conn.root.held();
    for await (const _ of iterate(list, { batch: 1 })) break;
    // The DEL of the iterator goes out without an answer; a later request is
    // served after it, so held() sees it gone.
    assert.equal(await conn.root.held(), held);
    await assert.rejects(async () => {
      for await (const _ of iterate(await conn.root.held())) break;
    }, /expected a netref of an RPyC connection/);
  },
);
