/**
 * The benchmark's servers, one system per process. Listens on 127.0.0.1, on
 * a port the system picks, prints `{"port": N}` as its first stdout line,
 * then answers {@linkcode ServerCommand} lines on stdin until stdin closes
 * (so it never outlives `run.ts`).
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --v8-flags=--expose-gc bench/_servers.ts netref
 * deno run --allow-net=127.0.0.1 bench/_servers.ts echo   # raw length-prefixed echo
 * ```
 *
 * Run with `--v8-flags=--expose-gc` so that memory is measured after a full
 * collection.
 *
 * @module
 */

import process from "node:process";
import {
  isSystem,
  type MemoryReport,
  PYTHON_SERVERS,
  serveCommands,
} from "./_common.ts";
import { loadSystem } from "./_systems.ts";

/** Longest wait for the next command before giving up on the parent. */
const IDLE_MS = 3_600_000;

function memory(server: {
  exports(): number | null;
  connections(): number | null;
}, collect = true): MemoryReport {
  const gc = collect ? (globalThis as { gc?: () => void }).gc : undefined;
  // Twice: objects freed by finalizers of the first pass go in the second.
  gc?.();
  gc?.();
  const usage = Deno.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    external: usage.external,
    collected: gc !== undefined,
    exports: server.exports(),
    connections: server.connections(),
  };
}

if (import.meta.main) {
  const name = Deno.args[0];
  if (!isSystem(name) || PYTHON_SERVERS.includes(name)) {
    console.error(
      `usage: _servers.ts netref|rpycClientNetref|echo|minimal|capnweb|birpc|grpc|otelNoop|otel (got ${
        String(name)
      })`,
    );
    Deno.exit(2);
  }
  const server = await (await loadSystem(name)).serve();
  console.log(JSON.stringify({ port: server.port }));
  await serveCommands((command) => {
    if (command.op === "memory") return Promise.resolve(memory(server));
    if (command.op === "cpu") {
      const { user, system } = process.cpuUsage();
      return Promise.resolve({ cpuMs: (user + system) / 1000 });
    }
    throw new TypeError(
      `Cannot run ${
        JSON.stringify(command)
      }: expected {"op": "memory" | "cpu"}`,
    );
  }, IDLE_MS);
  // Connections the clients did not close must not keep the process alive.
  Deno.exit(0);
}
