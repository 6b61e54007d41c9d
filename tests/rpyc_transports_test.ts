// RPyC over TLS and Unix sockets, both ways: Python's rpyc.ssl_connect and
// unix_connect (in rpyc.utils.factory in 5.3) calling serveTls() and
// serveUnix(), and connectRpyc() with `tls` and connectRpycUnix() calling
// Python ThreadedServers.

import assert from "node:assert/strict";
import { serveTls, serveUnix } from "../mod.ts";
import { connectRpyc, connectRpycUnix } from "../rpyc.ts";
import { makeCertificates } from "./_processes.ts";
import { pythonLines, PythonProcess, pythonTest } from "./_rpyc.ts";
import { PyFacingService } from "./_rpyc_service.ts";

pythonTest("rpyc.ssl_connect calls a serveTls() service", async () => {
  const certs = await makeCertificates();
  await using server = await serveTls(PyFacingService, {
    port: 0,
    cert: certs.read(certs.serverCert),
    key: certs.read(certs.serverKey),
  });
  const lines = await pythonLines(
    `import rpyc, sys
from rpyc.utils.factory import unix_connect
c = rpyc.ssl_connect("localhost", int(sys.argv[1]), ca_certs=sys.argv[2])
print(c.root.foo(), c.root.add(2, 3))
`,
    { args: [String(server.addr.port), certs.caCert] },
  );
  assert.deepEqual(lines, ["foo 5"]);
});

pythonTest(
  "unix_connect from Python calls a serveUnix() service",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "netref_rpyc_unix_" });
    const path = `${dir}/s.sock`;
    await using _server = await serveUnix(PyFacingService, { path });
    const lines = await pythonLines(
      `import rpyc, sys
from rpyc.utils.factory import unix_connect
c = unix_connect(sys.argv[1])
print(c.root.foo(), c.root.add(2, 3))
`,
      { args: [path] },
    );
    assert.deepEqual(lines, ["foo 5"]);
  },
);

pythonTest(
  "serveUnix() with rpyc: false leaves RPyC clients unanswered",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "netref_rpyc_unix_" });
    const path = `${dir}/s.sock`;
    await using _server = await serveUnix(PyFacingService, {
      path,
      rpyc: false,
      handshakeTimeout: 200,
      onLog: () => {},
    });
    const lines = await pythonLines(
      `import rpyc, sys
from rpyc.utils.factory import unix_connect
try:
    unix_connect(sys.argv[1]).root.foo()
    print("answered")
except EOFError:
    print("EOFError")
`,
      { args: [path] },
    );
    assert.deepEqual(lines, ["EOFError"]);
  },
);

/** A Python ThreadedServer over TLS or a Unix socket, counting connections. */
const PYTHON_SERVER = `import sys, threading, rpyc
from rpyc.utils.server import ThreadedServer
from rpyc.utils.authenticators import SSLAuthenticator

class Service(rpyc.Service):
    def on_connect(self, conn):
        print("connected", flush=True)
    def exposed_foo(self):
        return "foo"

if sys.argv[1] == "tls":
    auth = SSLAuthenticator(sys.argv[3], sys.argv[2])
    server = ThreadedServer(Service, hostname="127.0.0.1", port=0,
                            authenticator=auth)
    where = server.port
else:
    server = ThreadedServer(Service, socket_path=sys.argv[2])
    where = sys.argv[2]
# start() listens only once its thread runs: listen first, so that a client
# told the address is not refused.
server._listen()
threading.Thread(target=server.start, daemon=True).start()
print("listening on", where, flush=True)
sys.stdin.read()
`;

pythonTest(
  "connectRpyc() with tls calls a Python ThreadedServer with an SSLAuthenticator",
  async () => {
    const certs = await makeCertificates();
    await using python = new PythonProcess({ code: PYTHON_SERVER }, {
      args: ["tls", certs.serverCert, certs.serverKey],
    });
    const port = Number((await python.line()).split(" ").at(-1));
    await using conn = await connectRpyc<{ foo(): string }>(
      "localhost",
      port,
      { tls: { caCerts: [certs.read(certs.caCert)] } },
    );
    assert.equal(await conn.root.foo(), "foo");
    assert.equal(await python.line(), "connected");
  },
);

pythonTest(
  "connectRpyc() with tls refuses a server its CAs do not trust",
  async () => {
    const certs = await makeCertificates();
    await using python = new PythonProcess({ code: PYTHON_SERVER }, {
      args: ["tls", certs.serverCert, certs.serverKey],
    });
    const port = Number((await python.line()).split(" ").at(-1));
    await assert.rejects(
      connectRpyc("localhost", port, { tls: true, connectTimeout: 5000 }),
    );
  },
);

pythonTest(
  "connectRpycUnix() calls a Python ThreadedServer on a Unix socket",
  async (peer) => {
    const dir = await Deno.makeTempDir({ prefix: "netref_rpyc_unix_" });
    const path = `${dir}/py.sock`;
    await using python = new PythonProcess({ code: PYTHON_SERVER }, {
      args: ["unix", path],
    });
    assert.equal(await python.line(), `listening on ${path}`);
    await using conn = await connectRpycUnix<{ foo(): string }>(path);
    assert.equal(await conn.root.foo(), "foo");
    assert.equal(conn.peer.implementation, `rpyc/${peer.major}`);
  },
);

Deno.test("connectRpycUnix() refuses a tls option", async () => {
  await assert.rejects(
    connectRpycUnix("/nonexistent.sock", { tls: true }),
    TypeError,
  );
});

Deno.test("connectRpyc() with tls and connectRpycUnix() reach netref's own servers in both wire versions", async () => {
  const certs = await makeCertificates();
  const dir = await Deno.makeTempDir({ prefix: "netref_rpyc_unix_" });
  await using tls = await serveTls(PyFacingService, {
    port: 0,
    cert: certs.read(certs.serverCert),
    key: certs.read(certs.serverKey),
  });
  await using _unix = await serveUnix(PyFacingService, {
    path: `${dir}/s.sock`,
  });
  for (const version of [5, 6] as const) {
    await using overTls = await connectRpyc<{ foo(): string }>(
      "localhost",
      tls.addr.port,
      { tls: { caCerts: [certs.read(certs.caCert)] }, version },
    );
    assert.equal(await overTls.root.foo(), "foo");
    assert.equal(overTls.peer.implementation, `rpyc/${version}`);
    await using overUnix = await connectRpycUnix<{ foo(): string }>(
      `${dir}/s.sock`,
      { version },
    );
    assert.equal(await overUnix.root.foo(), "foo");
    assert.equal(overUnix.peer.implementation, `rpyc/${version}`);
  }
});
