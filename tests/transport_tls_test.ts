import assert from "node:assert/strict";
import { ConnectionClosedError, exposed } from "../mod.ts";
import { connectTls } from "../src/client/transports.ts";
import { serveTls } from "../src/server/transports.ts";
import type { TestService } from "../examples/test_service.ts";
import {
  type Certificates,
  hasOpenssl,
  makeCertificates,
  startFixture,
} from "./_processes.ts";
import { needPeer } from "./_peers.ts";
import { assertDrained, recordConnections } from "./_harness.ts";

const haveOpenssl = needPeer(
  "openssl",
  await hasOpenssl(),
  "apt-get install openssl; .ci/run installs it",
);

/** Runs `fn` with fresh certificates, removed afterwards. */
async function withCertificates(
  fn: (certs: Certificates) => Promise<void>,
): Promise<void> {
  const certs = await makeCertificates();
  try {
    await fn(certs);
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
}

Deno.test({
  name: "connectTls() reaches a TLS server in another process",
  ignore: !haveOpenssl,
  fn: () =>
    withCertificates(async (certs) => {
      await using server = await startFixture("transport_server.ts", [
        "tls",
        certs.serverCert,
        certs.serverKey,
      ]);
      await using conn = await connectTls<TestService>(
        "localhost",
        server.ready.port,
        { caCerts: [certs.read(certs.caCert)] },
      );
      assert.equal(await conn.root.foo(), "foo");
      const seen: number[] = [];
      assert.equal(await conn.root.each([1, 2, 3], (n) => seen.push(n)), 3);
      assert.deepEqual(seen, [1, 2, 3]);
    }),
});

Deno.test({
  name: "connectTls() refuses a server whose certificate it does not trust",
  ignore: !haveOpenssl,
  fn: () =>
    withCertificates(async (certs) => {
      await using server = await startFixture("transport_server.ts", [
        "tls",
        certs.serverCert,
        certs.serverKey,
      ]);
      await assert.rejects(
        connectTls("127.0.0.1", server.ready.port, { log: () => {} }),
        (error: Error) => {
          assert.ok(error instanceof ConnectionClosedError, String(error));
          assert.match(error.message, /TLS handshake failed/);
          assert.match(error.message, /UnknownIssuer|certificate/i);
          return true;
        },
      );
    }),
});

Deno.test({
  name:
    "a mutual-TLS server in another process admits a client certificate signed by its CA",
  ignore: !haveOpenssl,
  fn: () =>
    withCertificates(async (certs) => {
      await using server = await startFixture("transport_server.ts", [
        "tls",
        certs.serverCert,
        certs.serverKey,
        certs.caCert,
      ]);
      await using conn = await connectTls<TestService>(
        "127.0.0.1",
        server.ready.port,
        {
          caCerts: [certs.read(certs.caCert)],
          cert: certs.read(certs.clientCert),
          key: certs.read(certs.clientKey),
        },
      );
      assert.equal(await conn.root.foo(), "foo");
      using counter = await conn.root.makeCounter();
      assert.equal(await counter.increment(41), 41);
    }),
});

Deno.test({
  name:
    "a mutual-TLS server in another process refuses clients without a certificate it trusts, with a clear error",
  ignore: !haveOpenssl,
  fn: () =>
    withCertificates(async (certs) => {
      await using server = await startFixture("transport_server.ts", [
        "tls",
        certs.serverCert,
        certs.serverKey,
        certs.caCert,
      ]);
      const port = server.ready.port;
      const caCerts = [certs.read(certs.caCert)];
      await assert.rejects(
        connectTls("127.0.0.1", port, { caCerts, log: () => {} }),
        (error: Error) => {
          assert.ok(error instanceof ConnectionClosedError, String(error));
          assert.match(error.message, /refused the TLS handshake/);
          assert.match(error.message, /requires a client certificate/);
          return true;
        },
      );
      await assert.rejects(
        connectTls("127.0.0.1", port, {
          caCerts,
          cert: certs.read(certs.strangerCert),
          key: certs.read(certs.strangerKey),
          log: () => {},
        }),
        (error: Error) => {
          assert.ok(error instanceof ConnectionClosedError, String(error));
          assert.match(error.message, /refused the TLS handshake/);
          assert.match(
            error.message,
            /did not accept this client's certificate/,
          );
          return true;
        },
      );
      // The refusals cost nobody else anything.
      await using conn = await connectTls<TestService>("127.0.0.1", port, {
        caCerts,
        cert: certs.read(certs.clientCert),
        key: certs.read(certs.clientKey),
      });
      assert.equal(await conn.root.bar(), "bar");
      await server.stop();
      assert.match(
        server.stderr(),
        /refused 127\.0\.0\.1:\d+ during the TLS handshake/,
      );
    }),
});

class Greeter {
  @exposed
  greet(name: string): string {
    return `hello ${name}`;
  }
}

Deno.test({
  name:
    "serveTls() with ca logs each refused client and keeps serving, in process",
  ignore: !haveOpenssl,
  fn: () =>
    withCertificates(async (certs) => {
      const logs: string[] = [];
      const recorder = recordConnections(Greeter);
      await using server = await serveTls(recorder.Service, {
        port: 0,
        cert: certs.read(certs.serverCert),
        key: certs.read(certs.serverKey),
        ca: certs.read(certs.caCert),
        log: (line) => logs.push(line),
      });
      const caCerts = [certs.read(certs.caCert)];
      await assert.rejects(
        connectTls("localhost", server.addr.port, { caCerts, log: () => {} }),
        ConnectionClosedError,
      );
      await using conn = await connectTls<Greeter>(
        "localhost",
        server.addr.port,
        {
          caCerts,
          cert: certs.read(certs.clientCert),
          key: certs.read(certs.clientKey),
        },
      );
      assert.equal(await conn.root.greet("tls"), "hello tls");
      assert.equal(server.connectionCount, 1);
      assert.equal(logs.length, 1, logs.join("\n"));
      assert.match(logs[0], /refused .* during the TLS handshake/);
      await assertDrained(conn, recorder.sides[0]);
    }),
});

Deno.test("serveTls() and connectTls() reject bad certificate options", async () => {
  await assert.rejects(
    serveTls(Greeter, { port: 0, cert: "not a certificate", key: "" }),
    TypeError,
  );
  await assert.rejects(
    connectTls("localhost", 1, { cert: "only a cert" }),
    TypeError,
  );
});
