/**
 * Two checkouts of netref side by side in one process: each serves the
 * bench's service over the in-memory transport (no sockets, no syscalls) to
 * a client of its own, and the two run 100 calls in flight in alternating
 * rounds. What it shows is the JavaScript cost of a call, both sides
 * together, of one tree against the other's at nearly the same moment.
 *
 * ```sh
 * deno run -A --config bench/deno.json bench/ab_memory.ts TREE_A TREE_B [ROUNDS] [CALLS]
 * deno run -A --config bench/deno.json bench/ab_memory.ts /tmp/before . 8 300000
 * ```
 *
 * Prints each round's calls/s and the ratio of the medians (B over A). The
 * tree that runs first in a round was about 5% faster when both were the
 * same checkout, so run it both ways round.
 *
 * @module
 */

import { median } from "./_phases.ts";

/** `root.foo()` of one checkout's bench service over its memory transport. */
interface Side {
  call: () => Promise<unknown>;
  close: () => Promise<void>;
}

async function side(tree: string): Promise<Side> {
  const root = new URL(
    tree.endsWith("/") ? tree : tree + "/",
    `file://${Deno.cwd()}/`,
  );
  const { BenchService } = await import(new URL("bench/_netref.ts", root).href);
  const { serveMemory } = await import(
    new URL("src/server/transports.ts", root).href
  );
  const server = serveMemory(BenchService);
  const conn = await server.connect();
  const remote = conn.root as { foo(): Promise<string> };
  return {
    call: () => remote.foo(),
    close: async () => {
      await conn.close();
      await server.shutdown();
    },
  };
}

/**
 * Makes `calls` calls, 100 in flight, and returns calls per second. A count,
 * not a timer: the memory transport settles in microtasks, so a timer would
 * not fire until the round ended.
 */
async function round(
  call: () => Promise<unknown>,
  calls: number,
): Promise<number> {
  let made = 0;
  const start = performance.now();
  async function lane(): Promise<void> {
    while (made < calls) {
      made++;
      await call();
    }
  }
  await Promise.all(Array.from({ length: 100 }, lane));
  return calls / (performance.now() - start) * 1000;
}

if (import.meta.main) {
  const [treeA, treeB, roundsArg = "8", callsArg = "300000"] = Deno.args;
  if (treeA === undefined || treeB === undefined) {
    console.error("usage: ab_memory.ts TREE_A TREE_B [ROUNDS] [CALLS]");
    Deno.exit(2);
  }
  const rounds = Number(roundsArg);
  const calls = Number(callsArg);
  const a = await side(treeA);
  const b = await side(treeB);
  await round(a.call, calls / 2);
  await round(b.call, calls / 2);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < rounds; i++) {
    ra.push(await round(a.call, calls));
    rb.push(await round(b.call, calls));
  }
  const show = (x: number[]) => x.map((v) => Math.round(v)).join(" ");
  console.log(`A ${treeA}: ${show(ra)}`);
  console.log(`B ${treeB}: ${show(rb)}`);
  console.log(
    `median A ${Math.round(median(ra))}, B ${Math.round(median(rb))}: B ÷ A ${
      (median(rb) / median(ra)).toFixed(3)
    }`,
  );
  await a.close();
  await b.close();
}
