// The library's import map and the bench's: every entry names the npm
// package it maps to (no alias that reads like another module), msgpackr is
// pinned once for both, and nothing only the bench imports reaches the
// library's lockfile, which is what `deno task start` and `deno task test`
// download on a fresh clone.

import assert from "node:assert/strict";

interface Config {
  imports: Record<string, string>;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(path, import.meta.url)));
}

const library = await readJson<Config>("../deno.json");
const bench = await readJson<Config>("../bench/deno.json");

/** The npm package an `npm:` specifier names, without version or subpath. */
function packageOf(specifier: string): string {
  const match = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@[^/]+)?(?:\/.*)?$/.exec(
    specifier,
  );
  assert.ok(match, `'${specifier}' is not an npm: specifier`);
  return match[1];
}

/** The npm packages an import map names. */
function packagesOf(config: Config): Set<string> {
  return new Set(Object.values(config.imports).map(packageOf));
}

for (
  const [which, config] of [["deno.json", library], [
    "bench/deno.json",
    bench,
  ]] as const
) {
  Deno.test(`every entry of ${which}'s import map is named after the npm package it maps to`, () => {
    for (const [name, target] of Object.entries(config.imports)) {
      assert.ok(
        target.startsWith("npm:"),
        `${which} maps '${name}' to '${target}': import node: and jsr: modules by their own specifiers`,
      );
      assert.equal(
        name.replace(/\/$/, ""),
        packageOf(target),
        `${which} maps '${name}' to '${target}': an alias must be the package's name`,
      );
    }
  });
}

Deno.test("the bench pins the same msgpackr as the library", () => {
  assert.equal(bench.imports["msgpackr/"], library.imports["msgpackr/"]);
});

Deno.test("the bench pins the same @opentelemetry/api as the library", () => {
  assert.equal(
    bench.imports["@opentelemetry/api"],
    library.imports["@opentelemetry/api"],
  );
});

/** npm packages the tests import by full specifier (`npm:name@version`). */
async function testPackages(): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const entry of Deno.readDir(new URL(".", import.meta.url))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(
      new URL(entry.name, import.meta.url),
    );
    for (const [, specifier] of text.matchAll(/"(npm:[^"]+)"/g)) {
      names.add(packageOf(specifier));
    }
  }
  return names;
}

Deno.test("the library's lockfile holds no package only the bench imports", async () => {
  const lock = await readJson<{ specifiers: Record<string, string> }>(
    "../deno.lock",
  );
  const locked = new Set(Object.keys(lock.specifiers).map(packageOf));
  // The OpenTelemetry SDK is the tests' as well as the bench's.
  const shared = new Set([...packagesOf(library), ...await testPackages()]);
  const benchOnly = [...packagesOf(bench)].filter((name) => !shared.has(name));
  assert.ok(benchOnly.length > 0, "bench/deno.json names its own packages");
  for (const name of benchOnly) {
    assert.ok(
      !locked.has(name),
      `deno.lock holds ${name}, which only the bench imports: run \`deno install\` after removing it from deno.json`,
    );
  }
});

Deno.test("the example server and client lock only the codec, so `deno task start` downloads nothing else", async () => {
  // Deno installs every package of the lockfile a run uses, whether the
  // program imports it or not: the example tasks keep a lockfile of their own.
  const tasks = (await readJson<{ tasks: Record<string, { command: string }> }>(
    "../deno.json",
  )).tasks;
  for (const name of ["start", "client"]) {
    assert.match(tasks[name].command, /--lock=examples\/deno\.lock /);
  }
  const lock = await readJson<{ specifiers: Record<string, string> }>(
    "../examples/deno.lock",
  );
  assert.deepEqual(
    Object.keys(lock.specifiers).map(packageOf),
    ["msgpackr"],
  );
});
