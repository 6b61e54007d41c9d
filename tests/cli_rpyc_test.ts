import assert from "node:assert/strict";
import { runCli } from "./_cli.ts";
import { RPYC5, startPythonServer } from "./_rpyc.ts";

Deno.test("netref call and inspect --rpyc reach a Python RPyC server; without it, call fails in its --timeout suggesting --rpyc", async () => {
  await using python = await startPythonServer();
  const address = `127.0.0.1:${python.port}`;
  const [called, inspected, plain] = await Promise.all([
    runCli("call", address, "add", "2", "3", "--rpyc"),
    runCli("inspect", address, "--rpyc"),
    runCli("call", address, "foo", "--timeout", "1s"),
  ]);
  assert.equal(called.code, 0, called.stderr);
  assert.equal(called.stdout.trim(), "5");
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, /^ {2}add +method$/m);
  assert.match(inspected.stdout, /^ {2}make_counter +method$/m);
  assert.notEqual(plain.code, 0);
  assert.match(
    plain.stderr,
    /TimeoutError: .*not connected within 1000 ms \(timeout\).*use connectRpyc\(\) \(netref call --rpyc\)/,
  );
  assert.equal(plain.stderr.match(/connectRpyc/g)?.length, 1, plain.stderr);
});

Deno.test("netref call --rpyc refuses what RPyC servers do not speak: TLS, tokens, other transports", async () => {
  for (
    const args of [
      ["call", "127.0.0.1:1", "foo", "--rpyc", "--tls"],
      ["call", "unix:/tmp/x.sock", "foo", "--rpyc"],
      ["inspect", "ws://127.0.0.1:1/", "--rpyc"],
    ]
  ) {
    const { code, stderr } = await runCli(...args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--rpyc takes a TCP address/);
  }
});

Deno.test("netref call --rpyc --rpyc-version 5 reaches an RPyC 5 server without the refused RPyC 6 attempt it would log", async () => {
  const python = await startPythonServer({ peer: RPYC5, log: true });
  const address = `127.0.0.1:${python.port}`;
  const pinned = await runCli(
    "call",
    address,
    "foo",
    "--rpyc",
    "--rpyc-version",
    "5",
  );
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.equal(pinned.stdout.trim(), `"foo"`);
  assert.equal(await python.process.line(), "disconnected");
  const { stderr } = await python.process.close();
  assert.doesNotMatch(stderr, /^(WARNING|ERROR|CRITICAL) |Traceback/m, stderr);
  for (
    const [args, message] of [
      [["--rpyc", "--rpyc-version", "7"], /--rpyc-version must be 5 or 6/],
      [["--rpyc-version", "5"], /--rpyc-version goes with --rpyc/],
    ] as const
  ) {
    const refused = await runCli("call", address, "foo", ...args);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, message);
  }
});
