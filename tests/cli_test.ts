import assert from "assert";
import { connect } from "../client.ts";
import { VERSION } from "../server.ts";
import { fixture, runCli, ServeProcess } from "./_cli.ts";

const SERVICES = fixture("cli_services.ts");

Deno.test("netref --version prints the version", async () => {
  const { code, stdout } = await runCli("--version");
  assert.equal(code, 0);
  assert.equal(stdout.trim(), VERSION);
});

Deno.test("netref --help lists every subcommand and exits 0", async () => {
  const { code, stdout } = await runCli("--help");
  assert.equal(code, 0);
  assert.match(stdout, /^Usage:/m);
  for (const command of ["serve", "call", "inspect", "--version"]) {
    assert.match(stdout, new RegExp(`netref ${command}`));
  }
});

Deno.test("each subcommand's --help prints its usage and exits 0", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--help"], /Usage: netref serve[\s\S]*--max-connections N/],
    [["call", "--help"], /Usage: netref call <address> <path>[\s\S]*\$bigint/],
    [["inspect", "-h"], /Usage: netref inspect <address> \[path\]/],
    [["help", "serve"], /Usage: netref serve[\s\S]*--idle-timeout/],
    [["help", "call"], /Usage: netref call/],
    [["--help", "inspect"], /Usage: netref inspect/],
  ];
  const outputs = await Promise.all(cases.map(([args]) => runCli(...args)));
  outputs.forEach(({ code, stdout, stderr }, i) => {
    const [args, pattern] = cases[i];
    assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
    assert.match(stdout, pattern, args.join(" "));
  });
});

Deno.test("a bad flag, command or value prints usage on stderr and exits 2", async () => {
  const cases: [string[], RegExp][] = [
    [[], /no command given[\s\S]*Usage:/],
    [["--bogus"], /unknown option '--bogus'[\s\S]*Usage:/],
    [["frobnicate"], /unknown command 'frobnicate'[\s\S]*Usage:/],
    [["help", "frobnicate"], /no help for 'frobnicate'/],
    [
      ["serve", "--bogus"],
      /netref serve: unknown option '--bogus'[\s\S]*Usage: netref serve/,
    ],
    [
      ["serve", "--port", "x"],
      /--port must be an integer from 0 to 65535, got 'x'[\s\S]*Usage: netref serve/,
    ],
    [["serve", "--port"], /argument missing[\s\S]*Usage: netref serve/],
    [["serve", "extra"], /unexpected argument 'extra'/],
    [
      ["serve", "--max-connections", "0"],
      /--max-connections must be an integer from 1/,
    ],
    [
      ["serve", "--max-frame-bytes", "12"],
      /--max-frame-bytes must be a size from 64/,
    ],
    [["serve", "--idle-timeout", "soon"], /--idle-timeout must be a duration/],
    [["call"], /missing <address>[\s\S]*Usage: netref call/],
    [["call", "localhost"], /missing <path>/],
    [["call", "localhost:99999", "foo"], /port must be from 1 to 65535/],
    [
      ["call", "::1", "foo"],
      /put an IPv6 address in brackets, such as \[::1\]:18811/,
    ],
    [["call", "localhost", "a..b"], /Cannot parse path 'a..b'/],
    [
      ["call", "localhost", "foo", "hello"],
      /Cannot parse argument 1 as JSON: hello \(a string needs JSON quotes: '"hello"'\)/,
    ],
    [
      ["call", "localhost", "foo", '{"$bigint":"x"}'],
      /Cannot use argument 1: Cannot read \$bigint/,
    ],
    [
      ["call", "localhost", "add", "-5"],
      /to pass a negative number, put the arguments after --/,
    ],
    [
      ["inspect", "--bogus"],
      /netref inspect: unknown option '--bogus'[\s\S]*Usage: netref inspect/,
    ],
    [["inspect", "localhost", "a", "b"], /unexpected argument 'b'/],
  ];
  const outputs = await Promise.all(cases.map(([args]) => runCli(...args)));
  outputs.forEach(({ code, stdout, stderr }, i) => {
    const [args, pattern] = cases[i];
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, pattern, args.join(" "));
    assert.equal(stdout, "", args.join(" "));
  });
});

Deno.test("netref serve --port 0 prints its address, serves TestService, logs connects and disconnects, and stops on SIGTERM", async () => {
  await using server = await ServeProcess.serve();
  assert.match(server.stdout, /^netref: serving test on 127\.0\.0\.1:\d+$/m);
  let local = "";
  {
    await using conn = await connect<{ foo(): string }>(
      "127.0.0.1",
      server.port,
    );
    assert.equal(await conn.root.foo(), "foo");
    const addr = await server.waitFor("stderr", /connected (127\.0\.0\.1:\d+)/);
    local = addr[1];
  }
  await server.waitFor(
    "stderr",
    new RegExp(`disconnected ${local} \\(0 open\\)`),
  );
  assert.equal(await server.stop("SIGTERM"), 0);
  assert.match(server.stderr, /netref: connected 127\.0\.0\.1:\d+ \(1 open\)/);
  assert.match(server.stderr, /SIGTERM: shutting down/);
  assert.match(server.stderr, /netref: stopped/);
});

Deno.test("netref serve --service serves a module's default export, or its only @service class", async (t) => {
  await t.step("the default export", async () => {
    await using server = await ServeProcess.serve(
      "--service",
      fixture("cli_default_service.ts"),
    );
    assert.match(server.stdout, /serving greeter on/);
    const { code, stdout } = await runCli(
      "call",
      server.address,
      "greet",
      '"shell"',
    );
    assert.equal(code, 0);
    assert.equal(stdout, '"hello, shell"\n');
  });
  await t.step("the only @service class (Counter is not one)", async () => {
    await using server = await ServeProcess.serve(
      "--service",
      new URL("../examples/test_service.ts", import.meta.url).pathname,
    );
    assert.match(server.stdout, /serving test on/);
  });
  await t.step(
    "a named export, relative to the current directory",
    async () => {
      await using server = await ServeProcess.serve(
        "--service",
        "./tests/fixtures/cli_services.ts#Calculator",
      );
      assert.match(server.stdout, /serving calc on/);
      const { code, stdout } = await runCli(
        "call",
        server.address,
        "add",
        "1",
        "2",
      );
      assert.equal(code, 0);
      assert.equal(stdout, "3\n");
    },
  );
});

Deno.test("netref serve --service fails with the reason and exit code 1 on a bad module or export", async () => {
  const cases: [string, RegExp][] = [
    [
      fixture("no_such_module.ts"),
      /Cannot load --service '.*no_such_module\.ts': Module not found/,
    ],
    [
      `${SERVICES}#Nope`,
      /has no export 'Nope' \(it exports: Calculator, Counter, Sleeper\)/,
    ],
    [
      SERVICES,
      /several classes marked @service \(Calculator, Sleeper\); name one/,
    ],
  ];
  const outputs = await Promise.all(
    cases.map(([spec]) => runCli("serve", "--port", "0", "--service", spec)),
  );
  outputs.forEach(({ code, stderr }, i) => {
    assert.equal(code, 1, stderr);
    assert.match(stderr, cases[i][1]);
  });
  const twice = await runCli(
    "serve",
    "--port",
    "0",
    "--service",
    `${SERVICES}#Calculator`,
    "--service",
    `${SERVICES}#Calculator`,
  );
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /both are named 'calc'/);
});

Deno.test("netref serve warns when a service exposes nothing, as with decorators from another copy of netref", async () => {
  await using server = await ServeProcess.serve(
    "--service",
    `${fixture("cli_other_copy.ts")}#OtherCopy`,
  );
  await server.waitFor(
    "stderr",
    /warning: .*cli_other_copy\.ts#OtherCopy exposes nothing: .* imports another copy or version of netref/,
  );
  const { code, stderr } = await runCli("call", server.address, "foo");
  assert.equal(code, 1);
  assert.match(
    stderr,
    /AccessError: Cannot access 'foo' of OtherCopy: it is not @exposed/,
  );
});

Deno.test("netref call and inspect reach several services served under one root", async (t) => {
  await using server = await ServeProcess.serve(
    "--service",
    `${SERVICES}#Calculator`,
    "--service",
    `${SERVICES}#Sleeper`,
  );
  assert.match(
    server.stdout,
    /serving calc, slow on 127\.0\.0\.1:\d+ as root\.calc, root\.slow/,
  );
  const call = (...args: string[]) => runCli("call", server.address, ...args);

  await t.step("call prints a method's result as JSON", async () => {
    const { code, stdout, stderr } = await call("calc.add", "1", "2");
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "3\n");
  });

  await t.step(
    "call with no arguments reads a field, along a dotted path",
    async () => {
      const [settings, theme] = await Promise.all([
        call("calc.settings", "--compact"),
        call("calc.settings.theme"),
      ]);
      assert.equal(settings.stdout, '{"theme":"dark","sizes":[1,2,3]}\n');
      assert.equal(theme.stdout, '"dark"\n');
    },
  );

  await t.step(
    "call follows () on the way, and takes negative numbers after --",
    async () => {
      const [counter, negative] = await Promise.all([
        call("calc.makeCounter().increment", "5"),
        call("calc.add", "--", "-5", "3"),
      ]);
      assert.equal(counter.stdout, "5\n");
      assert.equal(negative.stdout, "-2\n");
    },
  );

  await t.step(
    "call tags what JSON lacks: bigint, bytes, Date, Map, Set, NaN, netrefs",
    async () => {
      const { code, stdout } = await call("calc.values", "--compact");
      assert.equal(code, 0);
      assert.deepEqual(JSON.parse(stdout), {
        big: { $bigint: "9223372036854775807" },
        bytes: { $bytes: "AQID" },
        when: { $date: "1970-01-01T00:00:00.000Z" },
        map: { $map: [["a", 1], [2, [true]]] },
        set: { $set: [1, "two"] },
        nothing: null,
        nan: { $number: "NaN" },
        callback: { $netref: "function" },
        counter: { $netref: "object" },
        tricky: { $object: { $bigint: "not a tag" } },
      });
      const pretty = await call("calc.add", "2", "3");
      assert.equal(pretty.stdout, "5\n");
    },
  );

  await t.step("call reads the same tags in arguments", async () => {
    const { code, stdout } = await call(
      "calc.types",
      "--compact",
      '{"$bigint":"12"}',
      '{"$bytes":"AQID"}',
      '{"$date":"2024-01-01T00:00:00.000Z"}',
      '{"$map":[["a",1]]}',
      '{"$set":[1]}',
      '{"$number":"-Infinity"}',
      '{"$object":{"$set":1}}',
    );
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout), [
      "bigint:12",
      'Uint8Array:{"0":1,"1":2,"2":3}',
      'Date:"2024-01-01T00:00:00.000Z"',
      'Map:[["a",1]]',
      "Set:[1]",
      "number:-Infinity",
      'Object:{"$set":1}',
    ]);
    const echo = await call(
      "calc.echo",
      "--compact",
      '{"$map":[[{"$bigint":"1"},{"$set":[]}]]}',
    );
    assert.equal(echo.stdout, '{"$map":[[{"$bigint":"1"},{"$set":[]}]]}\n');
  });

  await t.step(
    "a remote error exits 1 with its message on stderr",
    async () => {
      const [thrown, hidden, writeOnly] = await Promise.all([
        call("calc.divide", "1", "0"),
        call("calc.internal"),
        call("calc.secretOnly"),
      ]);
      assert.equal(thrown.code, 1);
      assert.equal(thrown.stdout, "");
      assert.equal(
        thrown.stderr,
        "netref: RemoteError: RangeError: Cannot divide by zero\n",
      );
      assert.equal(hidden.code, 1);
      assert.match(
        hidden.stderr,
        /AccessError: Cannot access 'internal' of Calculator: it is not @exposed/,
      );
      assert.equal(writeOnly.code, 1);
      assert.match(writeOnly.stderr, /exposed for writing only/);
    },
  );

  await t.step(
    "inspect lists members and their kinds, at the root and along a path",
    async () => {
      const [root, calc, counter, json] = await Promise.all([
        runCli("inspect", server.address),
        runCli("inspect", server.address, "calc"),
        runCli("inspect", server.address, "calc.makeCounter()"),
        runCli("inspect", server.address, "calc.settings", "--json"),
      ]);
      assert.equal(root.code, 0, root.stderr);
      assert.equal(
        root.stdout,
        `root (service "calc,slow", netref-deno/${VERSION} at ${server.address})\n` +
          "  calc  getter\n  slow  getter\n",
      );
      assert.equal(
        calc.stdout.split("\n").slice(1).join("\n"),
        [
          "  add          method",
          "  divide       method",
          "  echo         method",
          "  makeCounter  method",
          "  secretOnly   setter",
          "  settings     field",
          "  types        method",
          "  values       method",
          "",
        ].join("\n"),
      );
      assert.match(counter.stdout, /^root\.calc\.makeCounter\(\) \(/);
      assert.match(
        counter.stdout,
        /\n {2}count {6}getter\n {2}increment {2}method\n$/,
      );
      assert.deepEqual(JSON.parse(json.stdout), [
        { name: "sizes", kind: "getter" },
        { name: "theme", kind: "getter" },
      ]);
    },
  );

  await t.step("call and inspect exit 1 when nothing listens", async () => {
    const port = await freePort();
    const [calling, inspecting] = await Promise.all([
      runCli("call", `127.0.0.1:${port}`, "foo"),
      runCli("inspect", `127.0.0.1:${port}`),
    ]);
    for (const { code, stderr } of [calling, inspecting]) {
      assert.equal(code, 1);
      assert.match(
        stderr,
        new RegExp(`Cannot connect to 127\\.0\\.0\\.1:${port}: .*refused`, "i"),
      );
    }
  });

  assert.equal(await server.stop(), 0);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`netref serve shuts down gracefully on ${signal}, finishing a call in flight`, async () => {
    await using server = await ServeProcess.serve(
      "--service",
      `${SERVICES}#Sleeper`,
    );
    const calling = runCli("call", server.address, "sleep", "1500");
    await server.waitFor("stderr", /slow: sleeping 1500 ms/);
    const stopping = server.stop(signal);
    const [call, code] = await Promise.all([calling, stopping]);
    assert.equal(call.code, 0, call.stderr);
    assert.equal(call.stdout, '"slept"\n');
    assert.equal(code, 0);
    assert.match(
      server.stderr,
      new RegExp(
        `${signal}: shutting down; 1 connection\\(s\\) get up to 10000 ms`,
      ),
    );
    // The call was answered before its connection was closed.
    assert.ok(
      server.stderr.indexOf("shutting down") <
        server.stderr.lastIndexOf("disconnected"),
    );
    assert.match(server.stderr, /netref: stopped\n$/);
  });
}

Deno.test("a second signal during the shutdown closes everything at once, exit code 130", async () => {
  await using server = await ServeProcess.serve(
    "--service",
    `${SERVICES}#Sleeper`,
  );
  const calling = runCli("call", server.address, "sleep", "20000");
  await server.waitFor("stderr", /slow: sleeping 20000 ms/);
  const started = Date.now();
  server.signal("SIGINT");
  await server.waitFor("stderr", /SIGINT: shutting down/);
  const code = await server.stop("SIGINT");
  assert.equal(code, 130);
  assert.ok(Date.now() - started < 10_000, "did not wait for the call");
  assert.match(server.stderr, /SIGINT again: closing every connection now/);
  const call = await calling;
  assert.equal(call.code, 1);
  assert.match(call.stderr, /ConnectionClosedError/);
});

Deno.test("--max-connections 1 refuses a second client with the reason", async () => {
  await using server = await ServeProcess.serve("--max-connections", "1");
  await using first = await connect("127.0.0.1", server.port);
  const second = await runCli("call", server.address, "foo");
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    /refused the connection: the server is at its limit of 1 connections/,
  );
  await server.waitFor(
    "stderr",
    /refused 127\.0\.0\.1:\d+: the server is at its limit of 1 connections/,
  );
  assert.ok(!first.isClosed, "the first client keeps its connection");
});

Deno.test("--max-frame-bytes is announced to clients, which refuse to send more", async () => {
  await using server = await ServeProcess.serve(
    "--service",
    `${SERVICES}#Calculator`,
    "--max-frame-bytes",
    "1KiB",
  );
  const [small, big] = await Promise.all([
    runCli("call", server.address, "echo", '"small"'),
    runCli("call", server.address, "echo", JSON.stringify("x".repeat(2000))),
  ]);
  assert.equal(small.code, 0);
  assert.equal(big.code, 1);
  assert.match(big.stderr, /exceeds the peer's maxFrameBytes 1024/);
});

Deno.test("--max-in-flight disconnects a client that runs more calls at once", async () => {
  await using server = await ServeProcess.serve(
    "--service",
    `${SERVICES}#Sleeper`,
    "--max-in-flight",
    "2",
  );
  await using conn = await connect<{ sleep(ms: number): string }>(
    "127.0.0.1",
    server.port,
  );
  const results = await Promise.allSettled(
    [1, 2, 3].map(() => conn.root.sleep(300)),
  );
  assert.ok(results.some((r) => r.status === "rejected"));
  await server.waitFor(
    "stderr",
    /exceeded maxInFlight: more than 2 requests in flight/,
  );
});

Deno.test("--handshake-timeout closes a connection that never says hello", async () => {
  await using server = await ServeProcess.serve("--handshake-timeout", "300ms");
  const socket = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  const started = Date.now();
  try {
    const buffer = new Uint8Array(256);
    while ((await socket.read(buffer)) !== null) {
      // The server may send a refusal before it closes.
    }
  } catch {
    // Reset by the server: closed too.
  } finally {
    socket.close();
  }
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 5000, `closed after ${elapsed} ms`);
  await server.waitFor("stderr", /no hello from .* within 300 ms/);
});

Deno.test("--idle-timeout closes a connection that stays silent", async () => {
  await using server = await ServeProcess.serve("--idle-timeout", "400ms");
  await using conn = await connect("127.0.0.1", server.port);
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    conn.closed,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("still open after 5 s")), 5000);
    }),
  ]).finally(() => clearTimeout(timer));
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 350, `closed after ${elapsed} ms`);
  await server.waitFor("stderr", /was idle for 400 ms \(idleTimeout\)/);
});

async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await Promise.resolve();
  return port;
}
