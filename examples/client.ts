/**
 * The classic client, plus a callback and a remote object. Start the server
 * first (`deno task start`), then run `deno task client`.
 *
 * @module
 */

import { AccessError, connect } from "../client.ts";
import type { TestService } from "./test_service.ts";

// An optional first argument names another port.
await using conn = await connect<TestService>(
  "localhost",
  Number(Deno.args[0] ?? 18811),
);
const root = conn.root;

console.log(await root.foo()); // "foo"
console.log(await root.bar()); // "bar"
console.log(await root.version); // "1.0"

// A callback: the server calls this function back during the request.
const seen: number[] = [];
const count = await root.each([1, 2, 3], (item) => seen.push(item * 10));
console.log(`callback ran ${count} times:`, seen);

// A remote object: the counter lives on the server.
using counter = await root.makeCounter();
await counter.increment();
await counter.increment(5);
console.log("counter:", await counter.count);

// Pipelining: one round trip for a call made on a call's pending result.
console.log("pipelined:", await root.makeCounter().increment(41));

try {
  await root.secret(); // not @exposed: the server refuses it
} catch (error) {
  console.log(
    error instanceof AccessError ? `refused: ${error.message}` : error,
  );
}
