// Python lists, sets and dicts passed to a TypeScript handler arrive copied.

import assert from "node:assert/strict";
import { pythonLines } from "./_rpyc.ts";
import { client, served } from "./_rpyc_service.ts";

Deno.test("a Python list passed to a TypeScript handler arrives as an array", async () => {
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
});

Deno.test("a Python dict with str keys arrives as a plain object, nested containers copied too", async () => {
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
});

Deno.test("a Python list longer than MAX_COPIED_ITEMS stays a netref", async () => {
  await using server = served();
  const lines = await pythonLines(
    client(`print(c.root.shape([[0] * 6000, [0] * 6000]))`),
    { args: [String(server.port)] },
  );
  assert.match(
    lines[0],
    /^\[\[0,0,.*0\],"\[netref builtins\.list #\d+ of .*\]"\]$/,
  );
});
