// The public surface: what each entry point loads and how much it exports.
// Read through `deno info` and `deno doc`, as a user's tools see them.

import assert from "node:assert/strict";

const root = new URL("..", import.meta.url);

async function deno(...args: string[]): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(
    output.success,
    `deno ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
  );
  return text;
}

Deno.test("the client entry point loads no RPyC, registry or server code", async () => {
  const info = JSON.parse(await deno("info", "--json", "client.ts")) as {
    modules: { specifier: string }[];
  };
  const local = info.modules.map((m) => m.specifier).filter((s) =>
    s.startsWith(root.href)
  ).map((s) => s.slice(root.href.length));
  assert.ok(local.includes("src/client/connect.ts"), local.join("\n"));
  assert.deepEqual(
    local.filter((path) =>
      /^src\/(compat|rpyc|registry|server|cli)\//.test(path)
    ),
    [],
  );
});

Deno.test("mod.ts exports at most 40 symbols", async () => {
  const doc = JSON.parse(await deno("doc", "--json", "mod.ts")) as {
    nodes: Record<string, { symbols: { name: string }[] }>;
  };
  const names = Object.values(doc.nodes).flatMap((node) =>
    node.symbols.map((symbol) => symbol.name)
  );
  assert.ok(names.includes("serve") && names.includes("connect"));
  assert.ok(
    names.length <= 40,
    `mod.ts exports ${names.length} symbols: ${names.sort().join(", ")}`,
  );
});
