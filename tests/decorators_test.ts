import assert from "node:assert/strict";
import { connect, exposed, serve, service } from "../mod.ts";
import { serviceName } from "../src/core/exposure.ts";
import { OtherCopy } from "./fixtures/cli_other_copy.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("a service marked with another copy's decorators is served by this copy, name and members", async () => {
  assert.equal(serviceName(OtherCopy), "other");
  await using server = serve(OtherCopy, { port: 0 });
  await using conn = await connect<OtherCopy>(
    "127.0.0.1",
    server.addr.port,
  );
  assert.equal(await conn.root.foo(), "foo");
});

Deno.test("decorators called the legacy way (experimentalDecorators) throw a TypeError naming the setting", () => {
  const legacy = (decorator: unknown, ...args: unknown[]) =>
    (decorator as (...args: unknown[]) => unknown)(...args);
  class Target {
    foo() {}
  }
  const descriptor = Object.getOwnPropertyDescriptor(Target.prototype, "foo");
  assert.throws(
    () => legacy(exposed, Target.prototype, "foo", descriptor),
    /Cannot use @exposed: .*legacy decorator.*"experimentalDecorators": true/,
  );
  assert.throws(
    () => legacy(service, Target),
    /Cannot use @service: .*experimentalDecorators/,
  );
  assert.throws(
    () => legacy(service("name"), Target),
    /Cannot use @service\(name\): .*experimentalDecorators/,
  );
});

Deno.test("a program compiled with experimentalDecorators fails at import with the setting named, not 'Cannot expose undefined'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = JSON.parse(
      await Deno.readTextFile(new URL("deno.json", ROOT)),
    );
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({
        imports: config.imports,
        compilerOptions: { experimentalDecorators: true },
      }),
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { exposed } from "${new URL("mod.ts", ROOT).href}";
class Legacy {
  @exposed
  foo() { return 1; }
}
console.log(new Legacy().foo());
`,
    );
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-lock",
        "--config",
        `${dir}/deno.json`,
        `${dir}/main.ts`,
      ],
      stdout: "null",
      stderr: "piped",
      cwd: dir,
    }).output();
    const text = new TextDecoder().decode(stderr);
    assert.notEqual(code, 0);
    assert.match(text, /experimentalDecorators/);
    assert.doesNotMatch(text, /Cannot expose undefined/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
