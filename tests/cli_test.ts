import assert from "assert";
import { connect } from "../client.ts";
import { VERSION } from "../server.ts";

const cli = new URL("../server.ts", import.meta.url).pathname;

async function run(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", cli, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("netref --version prints the version", async () => {
  const { code, stdout } = await run("--version");
  assert.equal(code, 0);
  assert.equal(stdout.trim(), VERSION);
});

Deno.test("netref --help prints usage and exits 0", async () => {
  const { code, stdout } = await run("--help");
  assert.equal(code, 0);
  assert.match(stdout, /Usage:/);
  assert.match(stdout, /netref serve/);
});

Deno.test("a bad flag or command prints usage and exits 2", async () => {
  for (
    const args of [["--bogus"], ["frobnicate"], ["serve", "--port", "x"], []]
  ) {
    const { code, stderr, stdout } = await run(...args);
    assert.equal(code, 2, `args ${args.join(" ")}`);
    assert.match(stderr + stdout, /Usage:|--port/);
  }
});

Deno.test("netref serve serves TestService and stops on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", cli, "serve", "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    while (!text.includes("\n")) text += (await reader.read()).value ?? "";
    const port = Number(text.match(/127\.0\.0\.1:(\d+)/)?.[1]);
    assert.ok(port > 0, text);
    {
      await using conn = await connect<{ foo(): string }>("127.0.0.1", port);
      assert.equal(await conn.root.foo(), "foo");
    }
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
});
