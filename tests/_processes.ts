/**
 * Test helpers for the transport tests: a fixture server in its own
 * process, and certificates made with `openssl` at test time.
 *
 * @module
 */

import assert from "node:assert/strict";

const fixtures = new URL("./fixtures/", import.meta.url);

/** A fixture server running in its own process. */
export interface FixtureProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** The first line it printed on stdout: its address, as JSON. */
  ready: { hostname: string; port: number; path: string };
  /** Everything it printed on stderr so far. */
  stderr(): string;
  /** Stops it with SIGTERM (SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Starts `tests/fixtures/<script>` with `deno run` and waits (at most 20 s)
 * for its first line on stdout.
 */
export async function startFixture(
  script: string,
  args: string[],
  permissions = ["--allow-net", "--allow-read", "--allow-write"],
): Promise<FixtureProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...permissions,
      new URL(script, fixtures).pathname,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream())
    .pipeTo(
      new WritableStream({
        write(chunk) {
          errText += chunk;
        },
      }),
    ).catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let outText = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${script} printed nothing within 20 s`)),
      20_000,
    );
  });
  let stopped: Promise<Deno.CommandStatus> | null = null;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited already.
        }
      }, 3000);
      const status = await child.status;
      clearTimeout(killer);
      await stdoutDone;
      await stderrDone;
      return status;
    })();
  let stdoutDone: Promise<void> = Promise.resolve();
  try {
    while (!outText.includes("\n")) {
      const { value, done } = await Promise.race([lines.read(), timeout]);
      if (done) {
        await child.status;
        await stderrDone;
        throw new Error(`${script} exited before it was ready:\n${errText}`);
      }
      outText += value;
    }
  } catch (error) {
    clearTimeout(timer);
    await stop().catch(() => {});
    await lines.cancel().catch(() => {});
    throw error;
  }
  clearTimeout(timer);
  // Keep draining stdout (the service logs there) until the process ends.
  stdoutDone = (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    child,
    ready: JSON.parse(outText.slice(0, outText.indexOf("\n"))),
    stderr: () => errText,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** Paths of certificates made by {@linkcode makeCertificates}. */
export interface Certificates {
  dir: string;
  /** The CA that signed the server's and the good client's certificates. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** A client certificate signed by the CA. */
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by another CA. */
  strangerCert: string;
  strangerKey: string;
  /** Reads a PEM file. */
  read(path: string): string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    output.code,
    0,
    `openssl ${args.join(" ")} failed:\n${
      new TextDecoder().decode(output.stderr)
    }`,
  );
}

/** Whether `openssl` can be run. */
export async function hasOpenssl(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Makes, in a new temp dir: a CA; a server certificate for localhost and
 * 127.0.0.1 signed by it; a client certificate signed by it; and a client
 * certificate signed by another CA.
 */
export async function makeCertificates(): Promise<Certificates> {
  const dir = await Deno.makeTempDir({ prefix: "netref_tls_" });
  const ca = async (name: string) =>
    await openssl(
      dir,
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=netref test ${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
  const leaf = async (
    name: string,
    signer: string,
    extensions: string,
  ) => {
    await openssl(
      dir,
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${signer}.crt`,
      "-CAkey",
      `${signer}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  };
  await Promise.all([ca("ca"), ca("otherca")]);
  const clientExt = "basicConstraints=CA:FALSE\n" +
    "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
  await leaf(
    "localhost",
    "ca",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await leaf("client", "ca", clientExt);
  await leaf("stranger", "otherca", clientExt);
  return {
    dir,
    caCert: `${dir}/ca.crt`,
    serverCert: `${dir}/localhost.crt`,
    serverKey: `${dir}/localhost.key`,
    clientCert: `${dir}/client.crt`,
    clientKey: `${dir}/client.key`,
    strangerCert: `${dir}/stranger.crt`,
    strangerKey: `${dir}/stranger.key`,
    read: (path) => Deno.readTextFileSync(path),
  };
}
