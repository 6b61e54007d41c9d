// The snippet checker (tests/_snippets.ts, `deno task snippets`): finds the
// TypeScript blocks of Markdown, with their contexts and ignore markers, and
// reports a failing one at its own file and line.

import assert from "node:assert/strict";
import { checkSnippets, extractSnippets } from "./_snippets.ts";

const root = new URL("../", import.meta.url);

Deno.test("extractSnippets() finds ts blocks, indented ones too, at their first code line", () => {
  const markdown = [
    "# Title", // 1
    "```sh", // 2
    "deno task start", // 3
    "```", // 4
    "- a list item:", // 5
    "", // 6
    "  ```ts", // 7
    "  const a = 1;", // 8
    "    const b = 2;", // 9
    "  ```", // 10
    "```typescript", // 11
    "let c;", // 12
    "```", // 13
  ].join("\n");
  assert.deepEqual(extractSnippets("x.md", markdown), [
    { file: "x.md", line: 8, code: "const a = 1;\n  const b = 2;" },
    { file: "x.md", line: 12, code: "let c;" },
  ]);
});

Deno.test("extractSnippets() takes the context comment above a block, and a reason to ignore one", () => {
  const markdown = [
    "<!-- snippet context", // 1
    'import { TestService } from "./examples/test_service.ts";', // 2
    "-->", // 3
    "", // 4
    "```ts", // 5
    "serve(TestService);", // 6
    "```", // 7
    "<!-- an unrelated comment -->", // 8
    "```ts ignore (a fragment)", // 9
    "foo(", // 10
    "```", // 11
  ].join("\n");
  assert.deepEqual(extractSnippets("x.md", markdown), [
    {
      file: "x.md",
      line: 6,
      code: "serve(TestService);",
      context: 'import { TestService } from "./examples/test_service.ts";',
      contextLine: 2,
    },
    { file: "x.md", line: 10, code: "foo(", ignored: "(a fragment)" },
  ]);
});

Deno.test("extractSnippets() refuses an ignore marker without a reason, and an unclosed fence", () => {
  assert.throws(
    () => extractSnippets("x.md", "```ts ignore\nfoo(\n```"),
    /x\.md:1: ```ts ignore needs a reason/,
  );
  assert.throws(
    () => extractSnippets("x.md", "text\n```ts\nfoo("),
    /x\.md:2: a code fence is never closed/,
  );
});

Deno.test("checkSnippets() reports a failing snippet at its Markdown file and line, resolving @netref/netref to this checkout", async () => {
  const snippets = extractSnippets(
    "docs/example.md",
    [
      "<!-- snippet context", // 1
      'import { TestService } from "./examples/test_service.ts";', // 2
      "-->", // 3
      "", // 4
      "```ts", // 5
      'import { connect } from "@netref/netref/client";', // 6
      'import { connectRpyc } from "@netref/netref/rpyc";', // 7
      'const c = await connect<TestService>("h", 1);', // 8
      "await c.root.foo();", // 9
      "await c.root.nothing();", // 10: TestService has no `nothing`
      'const r = await connectRpyc("h", 1);', // 11
      "await r.root.anything(1).deeper;", // 12
      "```", // 13
      "```ts ignore (not valid TypeScript)", // 14
      "this is not code", // 15
      "```", // 16
    ].join("\n"),
  );
  const report = await checkSnippets(root, snippets);
  assert.equal(report.checked, 1);
  assert.equal(report.ignored, 1);
  assert.equal(report.output, undefined);
  assert.equal(report.errors.length, 1, JSON.stringify(report.errors));
  assert.equal(report.errors[0].at, "docs/example.md:10:14");
  assert.match(report.errors[0].message, /TS2339.*'nothing'/);
});
