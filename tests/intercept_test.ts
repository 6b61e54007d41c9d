// Interceptors on both sides of a connection: what they see of each call,
// refusing a call, and the calls of Python RPyC clients passing the same
// server interceptors.

import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  currentCall,
  exposed,
  RemoteError,
  serve,
  serveTls,
  service,
} from "../mod.ts";
import { connectTls } from "../client.ts";
import type { InterceptedCall, Interceptor, LogEvent } from "../client.ts";
import { hasOpenssl, makeCertificates } from "./_processes.ts";
import { needPeer } from "./_peers.ts";
import { pythonLines } from "./_rpyc.ts";
import { client as pythonClient, served } from "./_rpyc_service.ts";

@service("calc")
class Calc {
  @exposed
  add(a: number, b: number): number {
    return a + b;
  }
  @exposed
  admin(): string {
    return "secret";
  }
  @exposed
  async twice(fn: (n: number) => Promise<number>): Promise<number> {
    return await fn(await fn(1));
  }
  @exposed
  async askClient(): Promise<unknown> {
    const peer = (currentCall().connection as Connection<Helper>).root;
    return await peer.name();
  }
}

interface Helper {
  name(): string;
}

/** What an interceptor saw of a call, as plain data. */
function seen(call: InterceptedCall) {
  return {
    direction: call.direction,
    service: call.service,
    target: call.target,
    method: call.method,
    operation: call.operation,
    args: [...call.args].map((a) => typeof a === "function" ? "fn" : a),
  };
}

Deno.test("a server interceptor sees each call and its refusal reaches the caller as the call's error", async () => {
  const calls: ReturnType<typeof seen>[] = [];
  const guard: Interceptor = (call, next) => {
    calls.push(seen(call));
    if (call.method === "admin") {
      throw new Error(`Not allowed: ${call.service}/${call.method}`);
    }
    return next();
  };
  await using server = serve(Calc, {
    port: 0,
    log: () => {},
    intercept: [guard],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.add(2, 3), 5);
  await assert.rejects(conn.root.admin(), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.match(error.message, /Not allowed: calc\/admin$/);
    return true;
  });
  assert.deepEqual(calls, [
    {
      direction: "incoming",
      service: "calc",
      target: "root",
      method: "add",
      operation: "call",
      args: [2, 3],
    },
    {
      direction: "incoming",
      service: "calc",
      target: "root",
      method: "admin",
      operation: "call",
      args: [],
    },
  ]);
});

Deno.test("a client interceptor sees its calls and the server's callbacks, and may change a result", async () => {
  const calls: ReturnType<typeof seen>[] = [];
  const client: Interceptor = async (call, next) => {
    calls.push(seen(call));
    const result = await next();
    return call.method === "add" ? (result as number) * 10 : result;
  };
  await using server = serve(Calc, { port: 0, log: () => {} });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port, {
    intercept: [client],
  });
  assert.equal(await conn.root.add(2, 3), 50);
  assert.equal(await conn.root.twice((n: number) => Promise.resolve(n + 1)), 3);
  assert.deepEqual(calls, [
    {
      direction: "outgoing",
      service: "calc",
      target: "root",
      method: "add",
      operation: "call",
      args: [2, 3],
    },
    {
      direction: "outgoing",
      service: "calc",
      target: "root",
      method: "twice",
      operation: "call",
      args: ["fn"],
    },
    ...[1, 2].map((n) => ({
      direction: "incoming",
      service: "",
      target: "ref",
      method: "",
      operation: "call",
      args: [n],
    })),
  ]);
});

Deno.test("a client interceptor that throws fails the call before it is sent", async () => {
  let served = 0;
  await using server = serve(Calc, {
    port: 0,
    log: () => {},
    intercept: [(_call, next) => {
      served++;
      return next();
    }],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port, {
    intercept: [() => Promise.reject(new RangeError("offline mode"))],
  });
  await assert.rejects(conn.root.add(1, 2), RangeError);
  assert.equal(served, 0);
});

Deno.test("interceptors run in order, each around the next, and next() runs once", async () => {
  const order: string[] = [];
  const named = (name: string): Interceptor => async (_call, next) => {
    order.push(`${name} in`);
    const result = await next();
    order.push(`${name} out`);
    return result;
  };
  const greedy: Interceptor = async (_call, next) => {
    await next();
    return await next();
  };
  await using server = serve(Calc, {
    port: 0,
    log: () => {},
    intercept: [named("a"), named("b")],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.add(1, 1), 2);
  assert.deepEqual(order, ["a in", "b in", "b out", "a out"]);
  await using again = await connect<Calc>("127.0.0.1", server.addr.port, {
    intercept: [greedy],
  });
  await assert.rejects(again.root.add(1, 1), /called next\(\) more than once/);
});

Deno.test("an interceptor's opened() hook is told of each connection", async () => {
  const opened: Connection[] = [];
  const watch: Interceptor = Object.assign(
    (_call: InterceptedCall, next: () => Promise<unknown>) => next(),
    { opened: (conn: Connection) => void opened.push(conn) },
  );
  await using server = serve(Calc, {
    port: 0,
    log: () => {},
    intercept: [watch],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.add(1, 1), 2);
  assert.equal(opened.length, 1);
  assert.match(opened[0].peer.implementation, /^netref-deno\//);
});

Deno.test("an opened() hook that throws is logged as intercept.failed, and the connection still serves", async () => {
  const events: LogEvent[] = [];
  const broken: Interceptor = Object.assign(
    (_call: InterceptedCall, next: () => Promise<unknown>) => next(),
    {
      opened: () => {
        throw new Error("hook broke");
      },
    },
  );
  await using server = serve(Calc, {
    port: 0,
    onLog: (event) => events.push(event),
    intercept: [broken],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port);
  assert.equal(await conn.root.add(2, 3), 5);
  const failed = events.filter((e) => e.event === "intercept.failed");
  assert.equal(failed.length, 1);
  assert.equal(failed[0].level, "error");
  assert.match(failed[0].message, /opened\(\) failed for .*: hook broke/);
});

Deno.test("an interceptor sees whether the client presented a token", async () => {
  const tokens: boolean[] = [];
  await using server = serve(Calc, {
    port: 0,
    log: () => {},
    token: "s3cret",
    intercept: [(call, next) => {
      tokens.push(call.peer.tokenPresented);
      return next();
    }],
  });
  await using conn = await connect<Calc>("127.0.0.1", server.addr.port, {
    token: "s3cret",
  });
  assert.equal(await conn.root.add(1, 1), 2);
  assert.deepEqual(tokens, [true]);
});

Deno.test("intercept must be an array of functions", () => {
  assert.throws(
    () => serve(Calc, { port: 0, intercept: [null as never] }),
    /Cannot use intercept\[0\]: expected a function/,
  );
});

const haveOpenssl = needPeer(
  "openssl",
  await hasOpenssl(),
  "apt-get install openssl; .ci/run installs it",
);

Deno.test({
  name:
    "a mutual-TLS server's interceptor sees the client certificate's subject",
  ignore: !haveOpenssl,
  async fn() {
    const certs = await makeCertificates();
    try {
      const subjects: (string | null)[] = [];
      await using server = await serveTls(Calc, {
        port: 0,
        cert: certs.read(certs.serverCert),
        key: certs.read(certs.serverKey),
        ca: certs.read(certs.caCert),
        log: () => {},
        intercept: [(call, next) => {
          subjects.push(call.peer.certificateSubject);
          return next();
        }],
      });
      await using conn = await connectTls<Calc>(
        "localhost",
        server.addr.port,
        {
          caCerts: [certs.read(certs.caCert)],
          cert: certs.read(certs.clientCert),
          key: certs.read(certs.clientKey),
        },
      );
      assert.equal(await conn.root.add(1, 2), 3);
      assert.deepEqual(subjects, ["CN=client"]);
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});

Deno.test("a Python RPyC client's calls pass the server's interceptors", async () => {
  const calls: ReturnType<typeof seen>[] = [];
  await using server = served({
    intercept: [(call, next) => {
      calls.push(seen(call));
      if (call.method === "foo") throw new Error("foo is refused");
      return next();
    }],
  });
  const lines = await pythonLines(
    pythonClient(`print(c.root.add(2, 3))
try:
    c.root.foo()
except Exception as e:
    print(type(e).__name__, 'foo is refused' in str(e))
c.close()`),
    { args: [String(server.port)] },
  );
  assert.deepEqual(lines, ["5", "netref.Error True"]);
  assert.deepEqual(calls.map((c) => [c.direction, c.method, c.args]), [
    ["incoming", "add", [2, 3]],
    ["incoming", "foo", []],
  ]);
});

class User {
  constructor(readonly id: number) {}
  @exposed
  name(): string {
    return `user ${this.id}`;
  }
}

class Users {
  @exposed
  get(id: number): User {
    if (id < 0) throw new RangeError(`no user ${id}`);
    return new User(id);
  }
}

Deno.test("calls through client interceptors are still pipelined, and a failed base reaches the pipelined call", async () => {
  const methods: string[] = [];
  const logs: string[] = [];
  const served: number[] = [];
  await using server = serve(Users, {
    port: 0,
    log: () => {},
    intercept: [(call, next) => {
      served.push(call.path.length);
      return next();
    }],
  });
  await using conn = await connect<Users>("127.0.0.1", server.addr.port, {
    onLog: (event) => logs.push(event.message),
    intercept: [(call, next) => {
      methods.push(`${call.target}:${call.method}`);
      return next();
    }],
  });
  assert.equal(await conn.root.get(7).name(), "user 7");
  assert.deepEqual(methods, ["root:get", "result:name"]);
  await assert.rejects(conn.root.get(-1).name(), /no user -1/);
  assert.deepEqual(logs, []);
  assert.equal(served.length, 4);
});
