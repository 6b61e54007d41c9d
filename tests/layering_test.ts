// The layers of src/ (see the README's layout): errors and defaults at the
// bottom, protocol/ and transport/ knowing bytes only, and no folder that
// depends on another which depends back on it. Read from the import
// statements themselves, so a new import that breaks a layer fails here.

import assert from "node:assert/strict";
import { dirname, join, normalize, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const src = join(root, "src");

/** Every relative import (static, dynamic, re-export) of a source text. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  const pattern =
    /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;
  for (const match of text.matchAll(pattern)) found.push(match[1]);
  return found;
}

/** The folder of src/ a file belongs to; "." for src/errors.ts and src/defaults.ts. */
function folderOf(path: string): string {
  const parts = relative(src, path).split("/");
  return parts.length > 1 ? parts[0] : ".";
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

interface Edge {
  from: string;
  to: string;
}

/** Every import from one file of src/ to another file, outside comments' examples. */
async function importEdges(): Promise<Edge[]> {
  const edges: Edge[] = [];
  for await (const file of sourceFiles(src)) {
    // Examples in JSDoc import too; they are not dependencies of the file.
    const code = (await Deno.readTextFile(file)).replace(
      /\/\*[\s\S]*?\*\//g,
      "",
    );
    for (const specifier of importsOf(code)) {
      const target = normalize(join(dirname(file), specifier.split("#")[0]));
      edges.push({ from: file, to: target });
    }
  }
  return edges;
}

/** Cycles between folders: strongly connected groups of more than one. */
function folderCycles(edges: Edge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (!to.startsWith(src + "/")) continue;
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)!.add(b);
  }
  const reaches = (a: string, b: string): boolean => {
    const seen = new Set<string>();
    const stack = [a];
    while (stack.length > 0) {
      const folder = stack.pop()!;
      for (const n of next.get(folder) ?? []) {
        if (n === b) return true;
        if (!seen.has(n)) {
          seen.add(n);
          stack.push(n);
        }
      }
    }
    return false;
  };
  const folders = [...next.keys()].sort();
  const cycles: string[][] = [];
  const placed = new Set<string>();
  for (const a of folders) {
    if (placed.has(a)) continue;
    const group = folders.filter((b) =>
      b === a || (reaches(a, b) && reaches(b, a))
    );
    if (group.length > 1) {
      cycles.push(group);
      for (const b of group) placed.add(b);
    }
  }
  return cycles;
}

const edges = await importEdges();
const describe = (edge: Edge) =>
  `${relative(root, edge.from)} imports ${relative(root, edge.to)}`;

Deno.test("no file in src/protocol/ or src/transport/ imports src/core/", () => {
  const upward = edges.filter(({ from, to }) =>
    ["protocol", "transport"].includes(folderOf(from)) &&
    to.startsWith(join(src, "core") + "/")
  );
  assert.deepEqual(upward.map(describe), []);
});

Deno.test("src/errors.ts and src/defaults.ts import nothing of netref's", () => {
  const ground = edges.filter(({ from }) => folderOf(from) === ".");
  assert.deepEqual(ground.map(describe), []);
});

Deno.test("no file in src/ imports an entry point", () => {
  const upward = edges.filter(({ to }) => !to.startsWith(src + "/"));
  assert.deepEqual(upward.map(describe), []);
});

Deno.test("src/server/ does not import the RPyC or registry folders", () => {
  const wired = edges.filter(({ from, to }) =>
    folderOf(from) === "server" &&
    ["rpyc", "registry"].includes(folderOf(to))
  );
  assert.deepEqual(wired.map(describe), []);
});

Deno.test("no two folders of src/ import each other, directly or around a loop", () => {
  assert.deepEqual(folderCycles(edges), []);
});

Deno.test("the layering check sees a cycle when one is there", () => {
  const a = join(src, "core", "a.ts");
  const b = join(src, "protocol", "b.ts");
  assert.deepEqual(
    folderCycles([{ from: a, to: b }, { from: b, to: a }]),
    [["core", "protocol"]],
  );
  assert.deepEqual(importsOf(`import { x } from "../core/a.ts";`), [
    "../core/a.ts",
  ]);
  assert.deepEqual(importsOf(`const m = await import("./b.ts");`), [
    "./b.ts",
  ]);
  assert.deepEqual(importsOf(`export type { T } from "../t.ts";`), [
    "../t.ts",
  ]);
});

Deno.test("no file in src/ is over 600 lines", async () => {
  const long: string[] = [];
  for await (const path of sourceFiles(join(root, "src"))) {
    const lines = (await Deno.readTextFile(path)).split("\n").length - 1;
    if (lines > 600) long.push(`${relative(root, path)}: ${lines}`);
  }
  assert.deepEqual(long, [], "split these at a seam of their own");
});
