import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  currentCall,
  exposed,
  registerErrorClass,
  RemoteError,
  TimeoutError,
  withOptions,
} from "../mod.ts";
import { eventually, harness } from "./_harness.ts";

class QuotaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuotaError";
  }
}
registerErrorClass(QuotaError);

class WorkService {
  aborted: string[] = [];
  @exposed
  async wait(ms: number, label: string): Promise<string> {
    const { signal } = currentCall();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        }, { once: true });
      });
    } catch (error) {
      this.aborted.push(label);
      throw error;
    }
    return label;
  }
  @exposed
  wasAborted(label: string): boolean {
    return this.aborted.includes(label);
  }
  @exposed
  quota(): never {
    const error = new QuotaError("quota exceeded", {
      cause: new Error("disk full"),
    });
    (error as QuotaError & { code: string }).code = "E_QUOTA";
    throw error;
  }
  @exposed
  plain(): never {
    const error = new Error("plain failure", { cause: { detail: 7 } });
    (error as Error & { code: number }).code = 42;
    throw error;
  }
  @exposed
  throwsString(): never {
    throw "a string";
  }
}

Deno.test("RemoteError carries the remote name, message, stack, code and cause", async () => {
  await using h = await harness(WorkService);
  await assert.rejects(h.client.root.plain(), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.remoteName, "Error");
    assert.match(error.message, /plain failure/);
    assert.match(error.remoteStack ?? "", /plain/);
    assert.equal(error.code, 42);
    assert.deepEqual(error.cause, { detail: 7 });
    return true;
  });
});

Deno.test("a registered error class is rebuilt as itself, with code, cause and the remote stack", async () => {
  await using h = await harness(WorkService);
  await assert.rejects(h.client.root.quota(), (error: unknown) => {
    assert.ok(error instanceof QuotaError, `got ${error}`);
    assert.equal(error.message, "quota exceeded");
    const { remoteStack } = error as QuotaError & { remoteStack?: string };
    assert.match(remoteStack ?? "", /QuotaError: quota exceeded\n\s+at /);
    assert.equal((error as QuotaError & { code: string }).code, "E_QUOTA");
    assert.ok(error.cause instanceof RemoteError);
    assert.match((error.cause as Error).message, /disk full/);
    return true;
  });
});

Deno.test("a thrown non-error arrives as RemoteError describing it", async () => {
  await using h = await harness(WorkService);
  await assert.rejects(h.client.root.throwsString(), /a string/);
});

Deno.test("a per-call timeout fails the call with TimeoutError and cancels the handler", async () => {
  await using h = await harness(WorkService);
  const quick = withOptions(h.client.root, { timeout: 50 });
  const started = performance.now();
  await assert.rejects(quick.wait(5000, "t1"), (error: unknown) => {
    assert.ok(error instanceof TimeoutError);
    assert.match(error.message, /wait.*50 ms/);
    return true;
  });
  // The time is the behaviour here: a generous bound for a 50 ms timeout.
  assert.ok(performance.now() - started < 2000);
  assert.ok(await eventually(() => h.serverSide.stats.inFlight === 0, 1000));
  assert.equal(await h.client.root.wasAborted("t1"), true);
});

Deno.test("the connection's timeout option is the default for every call", async () => {
  await using h = await harness(WorkService, { connect: { timeout: 50 } });
  await assert.rejects(h.client.root.wait(5000, "t2"), TimeoutError);
  assert.equal(
    await withOptions(h.client.root, { timeout: 2000 }).wait(100, "ok"),
    "ok",
  );
});

Deno.test("an AbortSignal cancels a call and the handler's signal aborts", async () => {
  await using h = await harness(WorkService);
  const controller = new AbortController();
  const call = withOptions(h.client.root, { signal: controller.signal }).wait(
    5000,
    "a1",
  );
  // Abort once the handler runs, so that it is the handler that is cancelled.
  assert.ok(await eventually(() => h.serverSide.stats.inFlight === 1, 1000));
  controller.abort(new Error("user gave up"));
  await assert.rejects(call, /user gave up/);
  assert.ok(await eventually(() => h.serverSide.stats.inFlight === 0, 1000));
  assert.equal(await h.client.root.wasAborted("a1"), true);
});

Deno.test("an already-aborted signal fails the call without sending it", async () => {
  await using h = await harness(WorkService);
  const signal = AbortSignal.abort(new Error("too late"));
  await assert.rejects(
    withOptions(h.client.root, { signal }).wait(1, "never"),
    /too late/,
  );
  assert.equal(await h.client.root.wasAborted("never"), false);
});

Deno.test("when the server process dies, pending calls fail at once with ConnectionClosedError", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      new URL("./fixtures/slow_server.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const port = Number(value!.trim());
    await using conn = await connect<
      { sleep(ms: number): string; pid(): number }
    >(
      "127.0.0.1",
      port,
    );
    const calls = [conn.root.sleep(10_000), conn.root.sleep(20_000)];
    // Answered after both sleeps were received: they are pending there.
    assert.equal(typeof await conn.root.pid(), "number");
    const killedAt = performance.now();
    child.kill("SIGKILL");
    for (const call of calls) {
      await assert.rejects(call, ConnectionClosedError);
    }
    assert.ok(performance.now() - killedAt < 2000, "calls failed promptly");
    await conn.closed;
    await assert.rejects(conn.root.sleep(1), ConnectionClosedError);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already dead.
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("closing the client fails its pending calls with ConnectionClosedError", async () => {
  await using h = await harness(WorkService, { leakCheck: false });
  const call = h.client.root.wait(5000, "c1");
  assert.ok(await eventually(() => h.serverSide.stats.inFlight === 1, 1000));
  await h.client.close();
  await assert.rejects(call, ConnectionClosedError);
  assert.ok(await eventually(() => h.serverSide.isClosed, 1000));
  assert.ok(await eventually(() => h.server.connectionCount === 0, 1000));
});
