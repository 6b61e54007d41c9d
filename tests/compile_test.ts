/**
 * `deno task compile` and the compile_own_server example. Compiling needs the
 * Deno runtime for executables (denort): from `DENORT_BIN`, next to the
 * `deno` executable, or in the Deno cache. Without it the compile tests are
 * ignored with the reason in their name, and the reason is printed.
 */

import assert from "node:assert/strict";
import { VERSION } from "../server.ts";
import { PERMISSIONS, runProgram, ServeProcess } from "./_cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const EXAMPLE = new URL(
  "../examples/compile_own_server/main.ts",
  import.meta.url,
).pathname;

/** Where `deno compile` would find denort, or why it would have to download it. */
async function findRuntime(): Promise<{ found: string } | { missing: string }> {
  const fromEnv = Deno.env.get("DENORT_BIN");
  if (fromEnv !== undefined && fromEnv !== "") {
    return await exists(fromEnv)
      ? { found: `DENORT_BIN=${fromEnv}` }
      : { missing: `DENORT_BIN=${fromEnv} does not exist` };
  }
  const beside = Deno.execPath().replace(/deno(\.exe)?$/, "denort$1");
  if (beside !== Deno.execPath() && await exists(beside)) {
    return { found: beside };
  }
  const info = await runProgram(Deno.execPath(), ["info", "--json"]);
  const denoDir = info.code === 0 ? JSON.parse(info.stdout).denoDir : undefined;
  const cached =
    `${denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  if (denoDir !== undefined && await exists(cached)) return { found: cached };
  return {
    missing:
      `no Deno runtime for compiling: DENORT_BIN is unset and ${cached} is not cached (deno compile would download it)`,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

const runtime = await findRuntime();
const skipped = "missing" in runtime ? `skipped: ${runtime.missing}` : "";
if (skipped !== "") console.log(`compile_test.ts: ${skipped}`);

/** `deno task compile`'s command, with its output moved to `output`. */
async function compileTask(output: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const task = config.tasks.compile;
  const words: string[] = (typeof task === "string" ? task : task.command)
    .trim().split(/\s+/);
  assert.equal(words[0], "deno");
  assert.equal(words[1], "compile");
  const at = words.indexOf("--output");
  assert.ok(at > 0, "the compile task names its --output");
  words[at + 1] = output;
  return words.slice(1);
}

async function compile(args: string[]): Promise<void> {
  const { code, stderr } = await runProgram(
    Deno.execPath(),
    args,
    180_000,
  );
  assert.equal(code, 0, `deno ${args.join(" ")}\n${stderr}`);
}

Deno.test({
  name:
    `deno task compile builds one netref executable that serves, calls and inspects${
      skipped === "" ? "" : ` (${skipped})`
    }`,
  ignore: skipped !== "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netref_compile_" });
    try {
      const binary = `${dir}/netref`;
      const args = await compileTask(binary);
      // The task runs from the project root, where deno.json is.
      const previous = Deno.cwd();
      Deno.chdir(ROOT);
      try {
        await compile(args);
      } finally {
        Deno.chdir(previous);
      }
      const version = await runProgram(binary, ["--version"]);
      assert.equal(version.stdout.trim(), VERSION);
      await using server = await ServeProcess.start(binary, [
        "serve",
        "--port",
        "0",
      ]);
      const [call, inspect] = await Promise.all([
        runProgram(binary, ["call", server.address, "foo"]),
        runProgram(binary, ["inspect", server.address]),
      ]);
      assert.equal(call.code, 0, call.stderr);
      assert.equal(call.stdout, '"foo"\n');
      assert.match(inspect.stdout, /\n {2}makeCounter {2}method\n/);
      assert.equal(await server.stop("SIGTERM"), 0);
      assert.match(server.stderr, /connected 127\.0\.0\.1:\d+/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `the compile_own_server example compiles into one server of its own${
    skipped === "" ? "" : ` (${skipped})`
  }`,
  ignore: skipped !== "",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netref_compile_" });
    try {
      const binary = `${dir}/calc-server`;
      await compile(["compile", "--allow-net", "--output", binary, EXAMPLE]);
      await using server = await ServeProcess.start(binary, [
        "serve",
        "--port",
        "0",
      ]);
      assert.match(server.stdout, /^calc-server: serving calc on/);
      const call = await runProgram(binary, [
        "call",
        server.address,
        "add",
        "2",
        "3",
      ]);
      assert.equal(call.stdout, "5\n", call.stderr);
      assert.equal(await server.stop("SIGINT"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task compile grants what the CLI needs, and the CLI runs with exactly that", async () => {
  const args = await compileTask("OUT");
  assert.equal(args.at(-1), "server.ts");
  assert.ok(args.includes("--allow-net"), "serve and call need the network");
  assert.ok(args.includes("--allow-read"), "--service reads the user's module");
  // tests/_cli.ts runs every CLI test with the task's permissions.
  assert.deepEqual(
    PERMISSIONS,
    args.filter((arg) => arg.startsWith("--allow-")),
  );
});

Deno.test("the compile_own_server example type-checks and runs un-compiled", async () => {
  const check = await runProgram(Deno.execPath(), ["check", EXAMPLE], 120_000);
  assert.equal(check.code, 0, check.stderr);
  const entry = (...args: string[]) =>
    runProgram(Deno.execPath(), ["run", "--allow-net", EXAMPLE, ...args]);
  const version = await entry("--version");
  assert.equal(version.stdout, "1.0.0\n");
  await using server = await ServeProcess.start(Deno.execPath(), [
    "run",
    "--allow-net",
    EXAMPLE,
    "serve",
    "--port",
    "0",
  ]);
  assert.match(server.stdout, /^calc-server: serving calc on 127\.0\.0\.1:\d+/);
  const [add, last, inspect] = await Promise.all([
    entry("call", server.address, "add", "2", "3"),
    entry("call", server.address, "last"),
    entry("inspect", server.address),
  ]);
  assert.equal(add.stdout, "5\n", add.stderr);
  assert.equal(last.stdout, "0\n", "each connection has its own Calculator");
  assert.match(inspect.stdout, /^root \(service "calc", /);
  assert.match(inspect.stdout, /\n {2}last {6}field\n/);
  assert.equal(await server.stop("SIGTERM"), 0);
});
