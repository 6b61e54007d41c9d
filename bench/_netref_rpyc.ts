/**
 * netref's `connectRpyc()` in the benchmark: a Deno client calling the
 * Python RPyC `ThreadedServer` of `_rpyc_server.py`, whose service has
 * `foo`, `echo` and `call_back` as netref's `BenchService` has `foo`, `echo`
 * and `callBack`. Compared with Python's own client against the same server.
 *
 * @module
 */

import { release } from "../mod.ts";
import { connectRpyc } from "../rpyc.ts";
import type { BenchClient, BenchSystem } from "./_system.ts";

/** The Python service as this client calls it. */
interface PythonBenchService {
  foo(): string;
  echo(data: Uint8Array): Uint8Array;
  call_back(fn: (x: number) => number): number;
  make(): object;
}

function identity(x: number): number {
  return x;
}

async function connectPython(port: number): Promise<BenchClient> {
  // The bench's server is RPyC 5.3: say so, and skip the RPyC 6 attempt.
  const conn = await connectRpyc<PythonBenchService>("127.0.0.1", port, {
    version: 5,
  });
  const root = conn.root;
  return {
    // One CALLATTR per call, as Python's client calling its `root.foo` netref.
    foo: () => root.foo(),
    echo: (data) => root.echo(data),
    callback: () => root.call_back(identity),
    churnOne: async () => {
      release(await root.make());
    },
    imports: () => conn.stats.imports,
    close: () => conn.close(),
  };
}

/**
 * `connectRpyc()` as a {@linkcode BenchSystem}: its client only, since its
 * server is Python's (`_rpyc_server.py`).
 *
 * @example
 * ```ts ignore
 * import { netrefClientRpyc } from "./_netref_rpyc.ts";
 * const client = await netrefClientRpyc.connect(18861);
 * ```
 */
export const netrefClientRpyc: BenchSystem = {
  serve: () =>
    Promise.reject(
      new TypeError(
        "Cannot serve netrefClientRpyc from Deno: its server is Python RPyC's ThreadedServer (bench/_rpyc_server.py)",
      ),
    ),
  connect: connectPython,
};
