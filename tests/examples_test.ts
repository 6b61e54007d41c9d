import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

Deno.test("the example server and client run as the README shows", async () => {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "examples/test_service.ts", "0"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const line = await firstLine(server.stdout);
    const port = line.match(/listening on 127\.0\.0\.1:(\d+)/)?.[1];
    assert.ok(port, `unexpected first line: ${line}`);
    // Its hint names the port it was started on.
    assert.match(line, new RegExp(`task client ${port}$`));
    const client = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "examples/client.ts", port],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(client.stdout);
    assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
    assert.deepEqual(out.trim().split("\n"), [
      "foo",
      "bar",
      "1.0",
      "callback ran 3 times: [ 10, 20, 30 ]",
      "counter: 6",
      "pipelined: 41",
      "refused: Cannot access 'secret' of TestService: it is not @exposed",
    ]);
  } finally {
    server.kill("SIGINT");
    await server.status;
    await server.stdout.cancel().catch(() => {});
    await server.stderr.cancel().catch(() => {});
  }
});
