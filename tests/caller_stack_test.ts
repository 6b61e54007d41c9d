import assert from "node:assert/strict";
import {
  exposed,
  registerErrorClass,
  RemoteError,
  TimeoutError,
  withOptions,
} from "../mod.ts";
import { connectRpyc } from "../rpyc.ts";
import { harness } from "./_harness.ts";
import { startPythonServer } from "./_rpyc.ts";

const thisFile = new URL(import.meta.url).href;

class LimitError extends Error {
  constructor(message: string, readonly limit: number) {
    super(message);
    this.name = "LimitError";
  }
}
registerErrorClass(LimitError);

class Strict extends Error {
  constructor(readonly code: number, readonly detail: { max: number }) {
    if (typeof detail !== "object") throw new TypeError("detail expected");
    super(`code ${code}`);
    this.name = "Strict";
  }
}
registerErrorClass(Strict);

class FailingService {
  @exposed
  fail(): never {
    throw new Error("handler failed");
  }
  @exposed
  slow(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 300));
  }
  @exposed
  overLimit(): never {
    const error = new LimitError("over the limit", 10) as LimitError & {
      tags: string[];
      when: Date;
      handler: () => void;
      nested: { a: number[] };
    };
    error.tags = ["a", "b"];
    error.when = new Date(5);
    error.handler = () => {};
    error.nested = { a: [1, 2] };
    throw error;
  }
  @exposed
  strict(): never {
    throw new Strict(7, { max: 3 });
  }
}

/** The line number of the line calling this, in this file. */
function lineHere(): number {
  const stack = new Error().stack!.split("\n")[2];
  return Number(stack.match(/:(\d+):\d+\)?$/)![1]);
}

function assertNamesLine(error: unknown, line: number): void {
  assert.ok(error instanceof Error);
  assert.ok(
    error.stack!.includes(`${thisFile}:${line}:`),
    `expected ${thisFile}:${line} in:\n${error.stack}`,
  );
}

Deno.test("a remote error's stack names the line that awaited the call", async () => {
  await using h = await harness(FailingService);
  let line = 0;
  const error = await (async () => {
    try {
      line = lineHere() + 1;
      await h.client.root.fail();
    } catch (error) {
      return error;
    }
  })();
  assert.ok(error instanceof RemoteError);
  assertNamesLine(error, line);
  assert.match(error.stack!, /^RemoteError: Error: handler failed\n/);
  assert.match(error.stack!, /thrown on the peer:\n\s+Error: handler failed/);
  assert.doesNotMatch(error.stack!, /rebuildError|codec\.ts|build\.ts/);
});

Deno.test("a timeout's stack names the line that awaited the call", async () => {
  await using h = await harness(FailingService);
  const quick = withOptions(h.client.root, { timeout: 50 });
  let line = 0;
  const error = await (async () => {
    try {
      line = lineHere() + 1;
      await quick.slow();
    } catch (error) {
      return error;
    }
  })();
  assert.ok(error instanceof TimeoutError);
  assertNamesLine(error, line);
});

Deno.test("an error from a Python RPyC server has the caller's line in its stack", async () => {
  await using server = await startPythonServer();
  await using conn = await connectRpyc("127.0.0.1", server.port);
  const root = conn.root as unknown as {
    fail(message: string): Promise<never>;
  };
  let line = 0;
  const error = await (async () => {
    try {
      line = lineHere() + 1;
      await root.fail("from python");
    } catch (error) {
      return error;
    }
  })();
  assertNamesLine(error, line);
  assert.match((error as Error).stack!, /from python/);
});

Deno.test("a registered error class with its own constructor arrives with its plain-data fields", async () => {
  await using h = await harness(FailingService);
  await assert.rejects(h.client.root.overLimit(), (error: unknown) => {
    assert.ok(error instanceof LimitError);
    assert.equal(error.name, "LimitError");
    assert.equal(error.message, "over the limit");
    assert.equal(error.limit, 10);
    const fields = error as unknown as Record<string, unknown>;
    assert.deepEqual(fields.tags, ["a", "b"]);
    assert.deepEqual(fields.when, new Date(5));
    assert.deepEqual(fields.nested, { a: [1, 2] });
    assert.equal(fields.handler, undefined, "functions are not plain data");
    return true;
  });
});

Deno.test("a registered class whose constructor refuses (message, options) is still rebuilt", async () => {
  await using h = await harness(FailingService);
  await assert.rejects(h.client.root.strict(), (error: unknown) => {
    assert.ok(error instanceof Strict);
    assert.equal(error.name, "Strict");
    assert.equal(error.message, "code 7");
    assert.equal(error.code, 7);
    assert.deepEqual(error.detail, { max: 3 });
    return true;
  });
});

Deno.test("an unregistered error's plain-data fields arrive on the RemoteError", async () => {
  class Unregistered extends Error {
    retryAfter = 30;
  }
  class Service {
    @exposed
    fail(): never {
      throw new Unregistered("later");
    }
  }
  await using h = await harness(Service);
  await assert.rejects(h.client.root.fail(), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(
      (error as RemoteError & { retryAfter: number }).retryAfter,
      30,
    );
    return true;
  });
});

Deno.test("an error's fields never replace the name, message, stack or a method", async () => {
  class Sneaky extends Error {}
  class Service {
    @exposed
    fail(): never {
      const error = new Sneaky("sneaky") as Sneaky & Record<string, unknown>;
      Object.assign(error, { then: 1, remoteStack: "forged", toString: "x" });
      throw error;
    }
  }
  await using h = await harness(Service);
  await assert.rejects(h.client.root.fail(), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    const fields = error as unknown as Record<string, unknown>;
    assert.equal(fields.then, undefined);
    assert.notEqual(error.remoteStack, "forged");
    assert.equal(typeof error.toString, "function");
    return true;
  });
});
