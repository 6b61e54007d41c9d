import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { VERSION } from "../server.ts";
import {
  fixture,
  runCli,
  runCliWith,
  runProgram,
  ServeProcess,
} from "./_cli.ts";
import { hasOpenssl, makeCertificates } from "./_processes.ts";
import { needPeer, runs } from "./_peers.ts";
import { spawn, until } from "./_registry.ts";

const SERVICES = fixture("cli_services.ts");
const PYTHON = "/usr/bin/python3";
const RPYC_FOO =
  "import rpyc,sys; c = rpyc.connect('127.0.0.1', int(sys.argv[1])); print(c.root.foo())";
const haveOpenssl = needPeer(
  "openssl",
  await hasOpenssl(),
  "apt-get install openssl; .ci/run installs it",
);
const haveEtcd = needPeer(
  "etcd",
  await runs("etcd", ["--version"]),
  "Debian: apt-get install etcd-server; .ci/run installs it",
);

Deno.test("netref --version prints the version", async () => {
  const { code, stdout } = await runCli("--version");
  assert.equal(code, 0);
  assert.equal(stdout.trim(), VERSION);
});

Deno.test("netref --help lists every subcommand and exits 0", async () => {
  const { code, stdout } = await runCli("--help");
  assert.equal(code, 0);
  assert.match(stdout, /^Usage:/m);
  for (
    const command of [
      "serve",
      "call",
      "inspect",
      "registry",
      "list",
      "--version",
    ]
  ) {
    assert.match(stdout, new RegExp(`netref ${command}`));
  }
});

Deno.test("each subcommand's --help prints its usage and exits 0", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--help"], /Usage: netref serve[\s\S]*--max-connections N/],
    [
      ["serve", "--help"],
      /--unix PATH[\s\S]*--websocket[\s\S]*--tls-cert FILE[\s\S]*--token-env VAR[\s\S]*--no-rpyc[\s\S]*--register URL/,
    ],
    [["call", "--help"], /--tls-ca FILE[\s\S]*unix:\/run\/netref\.sock/],
    [
      ["registry", "--help"],
      /Usage: netref registry \[options\][\s\S]*--warmup/,
    ],
    [["list", "--help"], /Usage: netref list <registry-url> \[name\]/],
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
    [
      ["serve", "--max-frame-bytes", "3GiB"],
      /--max-frame-bytes must be a size from 64 to 2147483647 bytes/,
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
    [
      ["serve", "--unix", "/tmp/a.sock", "--port", "0"],
      /--unix cannot be used with --port: a Unix socket has no host or port/,
    ],
    [
      ["serve", "--websocket", "--tls-cert", "a", "--tls-key", "b"],
      /--websocket cannot be used with --tls-cert/,
    ],
    [["serve", "--tls-cert", "a"], /--tls-cert and --tls-key go together/],
    [["serve", "--tls-ca", "a"], /--tls-ca needs --tls-cert and --tls-key/],
    [
      ["serve", "--token-env", "NETREF_TEST_UNSET"],
      /--token-env NETREF_TEST_UNSET: NETREF_TEST_UNSET is not set/,
    ],
    [
      ["call", "localhost", "foo", "--token-env", "s3cret!"],
      /--token-env takes the name of an environment variable/,
    ],
    [["serve", "--ttl", "5s"], /--ttl needs --register/],
    [
      ["serve", "--register", "netref://127.0.0.1:1", "--host", "0.0.0.0"],
      /--register with --host 0\.0\.0\.0 needs --advertise HOST:PORT/,
    ],
    [
      ["list", "http://x"],
      /unknown scheme 'http', expected netref:\/\/, etcd:\/\/ or rpyc:\/\//,
    ],
    [["call", "unix:/tmp/a.sock", "foo", "--tls"], /need a host:port address/],
    [
      [
        "serve",
        "--register",
        "netref://h",
        "--tls-cert",
        "a",
        "--tls-key",
        "b",
      ],
      /--register announces a TCP address: it cannot be used with TLS/,
    ],
    [
      ["call", "ftp://x", "foo"],
      /expected host:port, unix:PATH, ws:\/\/ or wss:\/\//,
    ],
    [["list", "netref://127.0.0.1:1", "a/b"], /Cannot use service name/],
    [["call", "h", "foo", "--format", "xml"], /--format must be text or json/],
    [["call", "h", "foo", "1", "-d", "[2]"], /with --data, the arguments/],
    [
      ["call", "h", "foo", "--data", "{}"],
      /expected a JSON array of them, as \[1, "two"\], got object/,
    ],
    [
      ["call", "h", "foo", "-d", "[1,"],
      /Cannot parse the arguments from --data/,
    ],
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

Deno.test("netref serve --service serves a module marked with the decorators of another copy of netref", async () => {
  await using server = await ServeProcess.serve(
    "--service",
    fixture("cli_other_copy.ts"),
  );
  const { code, stdout, stderr } = await runCli("call", server.address, "foo");
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), '"foo"');
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
    "call tags what JSON lacks: bigint, bytes, Date, Map, Set, NaN, -0, typed arrays, netrefs",
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
        negativeZero: { $number: "-0" },
        floats: { $typed: ["Float64Array", "AAAAAAAA+D8="] },
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
    const typed = await call(
      "calc.echo",
      "--compact",
      '[{"$typed":["Int16Array","AQACAA=="]},{"$typed":["ArrayBuffer","AQI="]},{"$number":"-0"}]',
    );
    assert.equal(
      typed.stdout,
      '[{"$typed":["Int16Array","AQACAA=="]},{"$typed":["ArrayBuffer","AQI="]},{"$number":"-0"}]\n',
    );
  });

  await t.step(
    "a remote error exits 4 with its message on stderr, a member not exposed or not readable 6",
    async () => {
      const [thrown, hidden, writeOnly] = await Promise.all([
        call("calc.divide", "1", "0"),
        call("calc.internal"),
        call("calc.secretOnly"),
      ]);
      assert.equal(thrown.code, 4);
      assert.equal(thrown.stdout, "");
      assert.equal(
        thrown.stderr,
        "netref: RemoteError: RangeError: Cannot divide by zero\n",
      );
      assert.equal(hidden.code, 6);
      assert.match(
        hidden.stderr,
        /AccessError: Cannot access 'internal' of Calculator: it is not @exposed/,
      );
      assert.equal(writeOnly.code, 6);
      assert.match(writeOnly.stderr, /exposed for writing only/);
    },
  );

  await t.step(
    "inspect lists members, their kinds and methods' parameters, at the root and along a path",
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
          "  add          method (a, b)",
          "  divide       method (a, b)",
          "  echo         method (value)",
          "  makeCounter  method ()",
          "  secretOnly   setter",
          "  settings     field",
          "  types        method (...args)",
          "  values       method ()",
          "",
        ].join("\n"),
      );
      assert.match(counter.stdout, /^root\.calc\.makeCounter\(\) \(/);
      assert.match(
        counter.stdout,
        /\n {2}count {6}getter\n {2}increment {2}method \(by\)\n$/,
      );
      assert.deepEqual(JSON.parse(json.stdout), [
        { name: "sizes", kind: "getter" },
        { name: "theme", kind: "getter" },
      ]);
    },
  );

  await t.step("call and inspect exit 3 when nothing listens", async () => {
    const port = await freePort();
    const [calling, inspecting] = await Promise.all([
      runCli("call", `127.0.0.1:${port}`, "foo"),
      runCli("inspect", `127.0.0.1:${port}`),
    ]);
    for (const { code, stderr } of [calling, inspecting]) {
      assert.equal(code, 3);
      assert.match(
        stderr,
        new RegExp(`Cannot connect to 127\\.0\\.0\\.1:${port}: .*refused`, "i"),
      );
    }
  });

  assert.equal(await server.stop(), 0);
});

Deno.test("netref help documents every exit code and the JSON error line", async () => {
  const [whole, call, inspect, list] = await Promise.all([
    runCli("help"),
    runCli("call", "--help"),
    runCli("inspect", "--help"),
    runCli("list", "--help"),
  ]);
  for (
    const line of [
      /^ {2}1 {2}other failure/m,
      /^ {2}2 {2}usage/m,
      /^ {2}3 {2}connection/m,
      /^ {2}4 {2}remote error/m,
      /^ {2}5 {2}timeout/m,
      /^ {2}6 {2}access/m,
      /\{"error":"<message>","code":"usage\|connection\|remote\|timeout\|access\|failure"\}/,
    ]
  ) assert.match(whole.stdout, line);
  assert.match(call.stdout, /-d, --data JSON\|@/);
  for (const { stdout } of [call, inspect, list]) {
    assert.match(stdout, /-q, --quiet/);
    assert.match(stdout, /--format FORMAT/);
  }
  assert.match(inspect.stdout, /--json/);
  assert.match(list.stdout, /--json/);
});

Deno.test("netref call, inspect and list are scriptable: --data, --quiet, --format json and an exit code per class of failure", async (t) => {
  await using server = await ServeProcess.serve(
    "--service",
    `${SERVICES}#Calculator`,
    "--service",
    `${SERVICES}#Sleeper`,
  );
  const call = (...args: string[]) => runCli("call", server.address, ...args);
  const withStdin = (stdin: string, ...args: string[]) =>
    runCliWith({ stdin }, "call", server.address, ...args);

  await t.step(
    "-d @ reads the arguments from stdin as a JSON array, -d takes the array itself",
    async () => {
      const [piped, inline, none, tagged] = await Promise.all([
        withStdin("[1, 2]\n", "calc.add", "-d", "@"),
        call("calc.add", "--data", "[3, 4]"),
        call("calc.values", "-d", "[]", "--compact"),
        withStdin('[{"$bigint":"12"}]', "calc.types", "--data", "@"),
      ]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout, "3\n");
      assert.equal(inline.stdout, "7\n");
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^\{"big":/);
      assert.equal(tagged.stdout, '[\n  "bigint:12"\n]\n');
    },
  );

  await t.step(
    "stdin that is not a JSON array is a usage error, exit 2",
    async () => {
      const [text, object] = await Promise.all([
        withStdin("one two", "calc.add", "-d", "@"),
        withStdin('{"a": 1}', "calc.add", "-d", "@"),
      ]);
      assert.equal(text.code, 2);
      assert.match(
        text.stderr,
        /^netref: Cannot parse the arguments from stdin as JSON/,
      );
      assert.equal(object.code, 2);
      assert.match(object.stderr, /expected a JSON array of them/);
    },
  );

  await t.step(
    "--quiet prints no result, and the exit code still tells",
    async () => {
      const [ok, thrown, listed] = await Promise.all([
        call("calc.add", "1", "2", "--quiet"),
        call("calc.divide", "1", "0", "-q"),
        runCli("inspect", server.address, "-q"),
      ]);
      assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "", ""]);
      assert.equal(thrown.code, 4);
      assert.equal(thrown.stdout, "");
      assert.match(thrown.stderr, /Cannot divide by zero/);
      assert.deepEqual([listed.code, listed.stdout], [0, ""]);
    },
  );

  await t.step("a call past --timeout exits 5", async () => {
    const { code, stdout, stderr } = await call(
      "slow.sleep",
      "5000",
      "--timeout",
      "200ms",
    );
    assert.equal(code, 5, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, /^netref: TimeoutError: /);
  });

  await t.step(
    "--format json prints each failure as one JSON line on stderr, with its class as code",
    async () => {
      const port = await freePort();
      const cases: [string[], number, string, RegExp][] = [
        [
          ["call", server.address, "calc.add", "--bogus"],
          2,
          "usage",
          /unknown option '--bogus'/,
        ],
        [
          ["call", `127.0.0.1:${port}`, "foo"],
          3,
          "connection",
          /^Cannot connect to 127\.0\.0\.1:\d+: .*refused/i,
        ],
        [
          ["call", server.address, "calc.divide", "1", "0"],
          4,
          "remote",
          /^RemoteError: RangeError: Cannot divide by zero$/,
        ],
        [
          ["call", server.address, "slow.sleep", "5000", "--timeout", "200ms"],
          5,
          "timeout",
          /^TimeoutError: /,
        ],
        [
          ["call", server.address, "calc.internal"],
          6,
          "access",
          /^AccessError: Cannot access 'internal'/,
        ],
        [
          ["inspect", server.address, "--tls-ca", "/nonexistent/ca.pem"],
          1,
          "failure",
          /^Cannot read --tls-ca \/nonexistent\/ca\.pem/,
        ],
        [
          ["list", `netref://127.0.0.1:${port}`],
          3,
          "connection",
          /^Cannot reach registry netref:\/\/127\.0\.0\.1:\d+/,
        ],
      ];
      const outputs = await Promise.all(
        cases.map(([args]) => runCli(...args, "--format", "json")),
      );
      outputs.forEach(({ code, stdout, stderr }, i) => {
        const [args, exit, kind, message] = cases[i];
        const what = args.join(" ");
        assert.equal(code, exit, `${what}: ${stderr}`);
        assert.equal(stdout, "", what);
        assert.match(stderr, /^[^\n]*\n$/, `${what}: one line`);
        const parsed = JSON.parse(stderr);
        assert.deepEqual(Object.keys(parsed), ["error", "code"], what);
        assert.equal(parsed.code, kind, what);
        assert.match(parsed.error, message, what);
      });
    },
  );

  await t.step(
    "inspect --json gives methods' parameter names, or their arity where the source hides them",
    async () => {
      const [calc, slow, text] = await Promise.all([
        runCli("inspect", server.address, "calc", "--json"),
        runCli("inspect", server.address, "slow", "--json"),
        runCli("inspect", server.address, "slow"),
      ]);
      assert.equal(calc.code, 0, calc.stderr);
      const members = JSON.parse(calc.stdout);
      assert.deepEqual(members[0], {
        name: "add",
        kind: "method",
        params: ["a", "b"],
      });
      assert.deepEqual(
        members.find((m: { name: string }) => m.name === "settings"),
        { name: "settings", kind: "field" },
      );
      assert.deepEqual(JSON.parse(slow.stdout), [
        { name: "label", kind: "method", arity: 2 },
        { name: "sleep", kind: "method", params: ["ms"] },
      ]);
      assert.match(
        text.stdout,
        /\n {2}label {2}method \(2 parameters\)\n {2}sleep {2}method \(ms\)\n$/,
      );
    },
  );

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
  assert.equal(call.code, 3);
  assert.match(call.stderr, /ConnectionClosedError/);
});

Deno.test("--max-connections 1 refuses a second client with the reason", async () => {
  await using server = await ServeProcess.serve("--max-connections", "1");
  await using first = await connect("127.0.0.1", server.port);
  const second = await runCli("call", server.address, "foo");
  assert.equal(second.code, 3);
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

Deno.test("--handshake-timeout closes a connection that never says hello (with --no-rpyc)", async () => {
  // With RPyC answered, a silent client is taken for an RPyC client.
  await using server = await ServeProcess.serve(
    "--no-rpyc",
    "--handshake-timeout",
    "300ms",
  );
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

Deno.test("netref serve answers Python RPyC clients on its port, and --no-rpyc turns that off", async () => {
  await using rpyc = await ServeProcess.serve();
  await using netrefOnly = await ServeProcess.serve("--no-rpyc");
  const [answered, refused] = await Promise.all(
    [rpyc, netrefOnly].map((server) =>
      runProgram(PYTHON, ["-c", RPYC_FOO, String(server.port)], 15_000)
    ),
  );
  assert.equal(answered.code, 0, answered.stderr);
  assert.equal(answered.stdout, "foo\n");
  assert.notEqual(refused.code, 0);
  await netrefOnly.waitFor("stderr", /did not send the netref magic/);
  await rpyc.waitFor("stderr", /disconnected 127\.0\.0\.1:\d+ \(0 open\)/);
  assert.equal(await rpyc.stop(), 0);
});

Deno.test("serve --token-env refuses clients without the secret; call and inspect --token-env send it", async () => {
  const env = {
    NETREF_TEST_TOKEN: "s3cret-token",
    NETREF_TEST_WRONG: "a guess",
    NETREF_TEST_EMPTY: "",
  };
  await using server = await ServeProcess.run(
    ["serve", "--port", "0", "--token-env", "NETREF_TEST_TOKEN"],
    { env },
  );
  const withEnv = (...args: string[]) => runCliWith({ env }, ...args);
  const [none, wrong, right, listed, empty, emptyServe] = await Promise.all([
    runCli("call", server.address, "foo"),
    withEnv("call", server.address, "foo", "--token-env", "NETREF_TEST_WRONG"),
    withEnv("call", server.address, "foo", "--token-env", "NETREF_TEST_TOKEN"),
    withEnv("inspect", server.address, "--token-env", "NETREF_TEST_TOKEN"),
    withEnv("call", server.address, "foo", "--token-env", "NETREF_TEST_EMPTY"),
    withEnv("serve", "--port", "0", "--token-env", "NETREF_TEST_EMPTY"),
  ]);
  assert.equal(none.code, 3);
  assert.match(
    none.stderr,
    /refused the connection: authentication failed: this server requires a token, and none was sent/,
  );
  assert.equal(wrong.code, 3);
  assert.match(wrong.stderr, /authentication failed: the token does not match/);
  assert.equal(right.code, 0, right.stderr);
  assert.equal(right.stdout, '"foo"\n');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /\n {2}foo +method \(\)\n/);
  for (const output of [empty, emptyServe]) {
    assert.equal(output.code, 2);
    assert.match(
      output.stderr,
      /--token-env NETREF_TEST_EMPTY: NETREF_TEST_EMPTY is empty/,
    );
  }
  await server.waitFor(
    "stderr",
    /closing connection to 127\.0\.0\.1:\d+: authentication failed: the token does not match/,
  );
  assert.equal(await server.stop(), 0);
  const printed = [server.stdout, server.stderr, none.stderr, wrong.stderr]
    .join("");
  assert.ok(!printed.includes(env.NETREF_TEST_TOKEN), "the secret is printed");
});

Deno.test({
  name:
    "serve --tls-cert/--tls-key serves TLS, --tls-ca requires client certificates, and call/inspect --tls-* reach both",
  ignore: !haveOpenssl,
  async fn() {
    const certs = await makeCertificates();
    try {
      const serverTls = [
        "--tls-cert",
        certs.serverCert,
        "--tls-key",
        certs.serverKey,
      ];
      await using tls = await ServeProcess.serve(...serverTls);
      await using mutual = await ServeProcess.serve(
        ...serverTls,
        "--tls-ca",
        certs.caCert,
      );
      assert.match(tls.stdout, /serving test on 127\.0\.0\.1:\d+ \(TLS\)$/m);
      assert.match(
        mutual.stdout,
        /serving test on 127\.0\.0\.1:\d+ \(mutual TLS\)$/m,
      );
      const ca = ["--tls-ca", certs.caCert];
      const client = [
        "--tls-cert",
        certs.clientCert,
        "--tls-key",
        certs.clientKey,
      ];
      const stranger = [
        "--tls-cert",
        certs.strangerCert,
        "--tls-key",
        certs.strangerKey,
      ];
      const at = (server: ServeProcess) => `localhost:${server.port}`;
      const [
        trusted,
        systemCas,
        plain,
        withCert,
        withoutCert,
        strangerCert,
        inspected,
        noFile,
        tlsUrl,
      ] = await Promise.all([
        runCli("call", at(tls), "foo", ...ca),
        runCli("call", at(tls), "foo", "--tls"),
        runCli("call", at(tls), "foo"),
        runCli("call", at(mutual), "foo", ...ca, ...client),
        runCli("call", at(mutual), "foo", ...ca),
        runCli("call", at(mutual), "foo", ...ca, ...stranger),
        runCli("inspect", at(mutual), ...ca, ...client),
        runCli("call", at(tls), "foo", "--tls-ca", `${certs.dir}/missing.pem`),
        runCli("call", `tls://${at(tls)}`, "foo", ...ca),
      ]);
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.equal(trusted.stdout, '"foo"\n');
      assert.equal(systemCas.code, 3);
      assert.match(
        systemCas.stderr,
        /the TLS handshake failed: invalid peer certificate: UnknownIssuer/,
      );
      assert.equal(plain.code, 3);
      assert.match(
        plain.stderr,
        /ProtocolError: .*did not send the netref magic/,
      );
      assert.equal(withCert.code, 0, withCert.stderr);
      assert.equal(withCert.stdout, '"foo"\n');
      assert.equal(withoutCert.code, 3);
      assert.match(withoutCert.stderr, /it requires a client certificate/);
      assert.equal(strangerCert.code, 3);
      assert.match(
        strangerCert.stderr,
        /did not accept this client's certificate/,
      );
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.match(
        inspected.stdout,
        /^root \(service "test", netref-deno\/[^ ]+ at localhost:\d+ over TLS\)\n/,
      );
      assert.equal(tlsUrl.code, 0, tlsUrl.stderr);
      assert.equal(tlsUrl.stdout, '"foo"\n');
      assert.equal(noFile.code, 1);
      assert.match(
        noFile.stderr,
        /^netref: Cannot read --tls-ca .*missing\.pem: No such file/,
      );
      await mutual.waitFor(
        "stderr",
        /refused 127\.0\.0\.1:\d+ during the TLS handshake/,
      );
      assert.equal(await tls.stop(), 0);
      assert.equal(await mutual.stop(), 0);
      assert.match(mutual.stderr, /connected 127\.0\.0\.1:\d+ \(1 open\)/);
      assert.match(mutual.stderr, /netref: stopped\n$/);
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

Deno.test("serve --unix listens on a socket that call and inspect reach as unix:PATH, and removes it at shutdown", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netref_cli_" });
  const path = `${dir}/netref.sock`;
  try {
    // Unix sockets need --allow-write, which the compile task grants.
    const write = { permissions: ["--allow-write"] };
    await using server = await ServeProcess.run(
      ["serve", "--unix", path],
      write,
    );
    assert.equal(server.address, `unix:${path}`);
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    const [called, inspected, python] = await Promise.all([
      runCliWith(write, "call", server.address, "foo"),
      runCliWith(write, "inspect", server.address, "--json"),
      runProgram(PYTHON, [
        "-c",
        "import rpyc,sys; print(rpyc.utils.factory.unix_connect(sys.argv[1]).root.foo())",
        path,
      ], 15_000),
    ]);
    assert.equal(called.code, 0, called.stderr);
    assert.equal(called.stdout, '"foo"\n');
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.ok(
      JSON.parse(inspected.stdout).some((m: { name: string }) =>
        m.name === "foo"
      ),
    );
    assert.equal(python.code, 0, python.stderr);
    assert.equal(python.stdout, "foo\n");
    await server.waitFor("stderr", /disconnected unix socket \(0 open\)/);
    assert.equal(await server.stop(), 0);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    assert.match(server.stderr, /netref: connected unix socket \(1 open\)/);
    assert.match(server.stderr, /netref: stopped\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve --websocket serves ws://HOST:PORT/ to call and inspect, logs connections, and finishes a call in flight at SIGTERM", async () => {
  await using server = await ServeProcess.serve(
    "--websocket",
    "--service",
    `${SERVICES}#Sleeper`,
  );
  assert.match(server.address, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  const inspected = await runCli("inspect", server.address);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(
    inspected.stdout,
    new RegExp(
      `at ws://127\\.0\\.0\\.1:\\d+/\\)\\n {2}label +method \\(2 parameters\\)\\n {2}sleep +method \\(ms\\)\\n`,
    ),
  );
  // An http:// URL names the same WebSocket endpoint, as in browsers.
  const overHttp = await runCli(
    "call",
    server.address.replace(/^ws:/, "http:"),
    "sleep",
    "0",
  );
  assert.equal(overHttp.code, 0, overHttp.stderr);
  assert.equal(overHttp.stdout, '"slept"\n');
  const calling = runCli("call", server.address, "sleep", "800");
  await server.waitFor("stderr", /slow: sleeping 800 ms/);
  const [call, code] = await Promise.all([calling, server.stop("SIGTERM")]);
  assert.equal(call.code, 0, call.stderr);
  assert.equal(call.stdout, '"slept"\n');
  assert.equal(code, 0);
  assert.match(server.stderr, /netref: connected 127\.0\.0\.1:\d+ \(1 open\)/);
  assert.match(server.stderr, /SIGTERM: shutting down; 1 connection\(s\)/);
  assert.match(server.stderr, /netref: stopped\n$/);
  // Clients wait for the WebSocket close handshake before exiting.
  assert.doesNotMatch(server.stderr, /Unexpected EOF/);
});

Deno.test("netref registry, serve --register and list: servers announce their services and withdraw them at SIGTERM", async () => {
  await using registry = await ServeProcess.run([
    "registry",
    "--port",
    "0",
    "--warmup",
    "0",
  ]);
  const url = registry.address;
  assert.match(url, /^netref:\/\/127\.0\.0\.1:\d+$/);
  await using test = await ServeProcess.serve("--register", url);
  await using calc = await ServeProcess.serve(
    "--register",
    url,
    "--ttl",
    "5s",
    "--advertise",
    "192.0.2.1:18811",
    "--service",
    `${SERVICES}#Calculator`,
  );
  await Promise.all([
    test.waitFor("stderr", /registered test as 127\.0\.0\.1:\d+ in netref:/),
    calc.waitFor(
      "stderr",
      /registered calc as 192\.0\.2\.1:18811 in .* \(ttl 5000 ms\)/,
    ),
  ]);
  const rows = (table: string) =>
    table.trim().split("\n").slice(1).map((line) =>
      line.split(/ +/).slice(0, 3)
    );
  const [both, onlyTest, json] = await Promise.all([
    runCli("list", url),
    runCli("list", url, "test"),
    runCli("list", url, "test", "--json"),
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), [{
    name: "test",
    id: test.address,
    hostname: "127.0.0.1",
    port: test.port,
    metadata: {},
  }]);
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /^SERVICE +ID +ADDRESS +METADATA\n/);
  assert.deepEqual(rows(both.stdout), [
    ["calc", "192.0.2.1:18811", "192.0.2.1:18811"],
    ["test", test.address, test.address],
  ]);
  assert.deepEqual(rows(onlyTest.stdout), [[
    "test",
    test.address,
    test.address,
  ]]);

  assert.equal(await calc.stop("SIGTERM"), 0);
  assert.match(
    calc.stderr,
    /SIGTERM: withdrawing from netref:\/\/127\.0\.0\.1:\d+\nnetref: SIGTERM: shutting down/,
  );
  const after = await runCli("list", url);
  assert.deepEqual(rows(after.stdout), [["test", test.address, test.address]]);

  assert.equal(await test.stop(), 0);
  assert.equal(await registry.stop(), 0);
  assert.match(registry.stderr, /netref: stopped\n$/);
  const gone = await runCli("list", url);
  assert.equal(gone.code, 3);
  assert.match(
    gone.stderr,
    /Cannot reach registry netref:\/\/127\.0\.0\.1:\d+/,
  );
});

Deno.test({
  name:
    "serve --register and list work against etcd too (etcd:// URLs, with a prefix)",
  ignore: !haveEtcd,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "netref_cli_etcd_" });
    const client = `http://127.0.0.1:${await freePort()}`;
    const peer = `http://127.0.0.1:${await freePort()}`;
    const etcd = await spawn("etcd", [
      "--name=netref-cli",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=netref-cli=${peer}`,
    ], false);
    try {
      const healthy = await until(
        async () => {
          try {
            return (await (await fetch(`${client}/health`)).json()).health ===
              "true";
          } catch {
            return false;
          }
        },
        10_000,
        50,
      );
      assert.ok(healthy, `etcd did not start: ${etcd.stderr().slice(-2000)}`);
      const url = `etcd://${client.slice("http://".length)}/cli`;
      await using server = await ServeProcess.serve(
        "--register",
        url,
        "--ttl",
        "2s",
      );
      await server.waitFor("stderr", /registered test as .* in etcd:/);
      const listed = await runCli("list", url, "test");
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(
        listed.stdout,
        new RegExp(`\\ntest +${server.address} +${server.address}\\n$`),
      );
      assert.equal(await server.stop(), 0);
      const after = await runCli("list", url);
      assert.equal(after.stdout, "no services registered\n");
    } finally {
      await etcd.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await Promise.resolve();
  return port;
}
