import assert from "node:assert/strict";
import { ConnectionClosedError, exposed } from "../mod.ts";
import { connectWebSocket } from "../src/client/transports.ts";
import { webSocketHandler } from "../src/server/websocket.ts";
import type { TestService } from "../examples/test_service.ts";
import { startFixture } from "./_processes.ts";
import { needPeer } from "./_peers.ts";
import { assertDrained, recordConnections } from "./_harness.ts";

Deno.test("connectWebSocket() reaches a WebSocket server in another process", async () => {
  await using server = await startFixture("transport_server.ts", [
    "websocket",
  ]);
  const url = `ws://127.0.0.1:${server.ready.port}/`;
  {
    await using conn = await connectWebSocket<TestService>(url);
    assert.equal(await conn.root.foo(), "foo");
    assert.equal(await conn.root.version, "1.0");
    const seen: number[] = [];
    assert.equal(await conn.root.each([7, 8, 9], (n) => seen.push(n)), 3);
    assert.deepEqual(seen, [7, 8, 9]);
    assert.equal(await conn.root.makeCounter().increment(41), 41);
  }
  // Plain HTTP requests are answered, not upgraded.
  const page = await fetch(`http://127.0.0.1:${server.ready.port}/`);
  assert.equal(page.status, 426);
  await page.body?.cancel();
  const other = await fetch(`http://127.0.0.1:${server.ready.port}/elsewhere`);
  assert.equal(other.status, 404);
  await other.body?.cancel();
  await assert.rejects(
    connectWebSocket(`ws://127.0.0.1:${server.ready.port}/elsewhere`),
    ConnectionClosedError,
  );
});

class Echo {
  @exposed
  echo<T>(value: T): T {
    return value;
  }
}

Deno.test("webSocketHandler() mounts netref beside an app's own routes", async () => {
  const recorder = recordConnections(Echo);
  const netref = webSocketHandler(recorder.Service, {
    allowedOrigins: ["http://app.example"],
  });
  const app = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) =>
      new URL(request.url).pathname === "/netref"
        ? netref.handle(request, info)
        : new Response("the app"),
  );
  try {
    const base = `127.0.0.1:${app.addr.port}`;
    assert.equal(await (await fetch(`http://${base}/`)).text(), "the app");
    {
      await using conn = await connectWebSocket<Echo>(`ws://${base}/netref`);
      // Large values cross as many WebSocket messages.
      const big = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
      assert.deepEqual(await conn.root.echo(big), big);
      assert.equal(netref.connectionCount, 1);
      assert.equal(conn.remoteAddr, null);
      await assertDrained(conn, recorder.sides[0]);
    }
    // A page from an origin not allowed is refused before the upgrade.
    const upgrade = (origin: string) =>
      netref.handle(
        new Request(`http://${base}/netref`, {
          headers: { upgrade: "websocket", origin },
        }),
      );
    assert.equal(upgrade("http://evil.example").status, 403);
    assert.equal(upgrade(`http://${base}`).status, 403);
    await netref.shutdown();
    assert.equal(netref.connectionCount, 0);
    assert.equal(upgrade("http://app.example").status, 503);
  } finally {
    await netref.shutdown();
    await app.shutdown();
  }
});

/** Whether Debian's `chromium` can be run. */
async function hasChromium(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("chromium", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const haveChromium = needPeer(
  "chromium",
  await hasChromium(),
  "apt-get install chromium; .ci/run installs it",
);

/** Runs `command`, killing it after `ms`; returns its exit code and output. */
async function runFor(
  command: string,
  args: string[],
  ms: number,
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "a page in headless Chromium calls the example service over WebSocket",
  ignore: !haveChromium,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "netref_browser_" });
    try {
      // The client as a browser script.
      const root = new URL("..", import.meta.url).pathname;
      const bundled = await runFor(
        Deno.execPath(),
        [
          "bundle",
          "--quiet",
          "--platform=browser",
          "--output",
          `${dir}/client.js`,
          "tests/fixtures/browser_client.ts",
        ],
        120_000,
        root,
      );
      assert.equal(bundled.code, 0, `deno bundle failed:\n${bundled.stderr}`);
      const script = await Deno.readTextFile(`${dir}/client.js`);

      // The page and its script come from this server; the service from
      // another process, which allows this page's origin only.
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => finish = resolve);
      const held = setTimeout(finish, 60_000); // Never hold the page forever.
      const pages = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        async (request) => {
          switch (new URL(request.url).pathname) {
            case "/":
              return new Response(
                `<!doctype html><html><body><div id="result"></div>` +
                  `<img src="/held.svg"><script type="module" src="/client.js"></script>` +
                  `</body></html>`,
                { headers: { "content-type": "text/html" } },
              );
            case "/client.js":
              return new Response(script, {
                headers: { "content-type": "text/javascript" },
              });
            case "/held.svg":
              // Holds the load event (and --dump-dom) until the script is done.
              await finished;
              return new Response(
                `<svg xmlns="http://www.w3.org/2000/svg"/>`,
                { headers: { "content-type": "image/svg+xml" } },
              );
            case "/done":
              finish();
              return new Response("ok");
            default:
              return new Response("not found", { status: 404 });
          }
        },
      );
      try {
        const origin = `http://127.0.0.1:${pages.addr.port}`;
        await using server = await startFixture("transport_server.ts", [
          "websocket",
          origin,
        ]);
        const ws = `ws://127.0.0.1:${server.ready.port}/`;
        const browser = await runFor("chromium", [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          `--user-data-dir=${dir}/profile`,
          "--dump-dom",
          `${origin}/?ws=${encodeURIComponent(ws)}`,
        ], 90_000);
        const match = browser.stdout.match(
          /<div id="result" data-done="true">(.*?)<\/div>/,
        );
        assert.ok(
          match,
          `the page never finished (chromium exited ${browser.code}):\n${browser.stdout}\n${
            browser.stderr.slice(-2000)
          }`,
        );
        const result = JSON.parse(match[1].replaceAll("&amp;", "&"));
        assert.deepEqual(
          { ...result, exports: result.exports > 10 },
          {
            foo: "foo",
            each: 3,
            seen: [10, 20, 30],
            counter: 41,
            afterClose: "closed",
            exports: true,
          },
        );
      } finally {
        clearTimeout(held);
        finish();
        await pages.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a WebSocket client that closes and exits at once leaves no error on the server", async () => {
  const { serveWebSocket } = await import("../mod.ts");
  const { TestService } = await import("../examples/test_service.ts");
  const logs: string[] = [];
  await using server = serveWebSocket(TestService, {
    port: 0,
    log: (line) => logs.push(line),
  });
  const client = new URL("../client.ts", import.meta.url).href;
  const script = `
    import { connectWebSocket } from "${client}";
    const conn = await connectWebSocket("ws://127.0.0.1:${server.addr.port}/");
    console.log(await conn.root.foo());
    await conn.close();
    Deno.exit(0);
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(new TextDecoder().decode(output.stdout), "foo\n");
  for (let i = 0; i < 100 && server.connectionCount > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(server.connectionCount, 0);
  assert.deepEqual(
    logs.filter((line) => /Unexpected EOF|error/i.test(line)),
    [],
  );
});
