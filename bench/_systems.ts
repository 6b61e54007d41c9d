/**
 * The systems measured in Deno, each loaded only by the process that runs
 * it, so that no process pays for another library's code.
 *
 * @module
 */

import type { System } from "./_common.ts";
import type { BenchSystem } from "./_system.ts";

/**
 * Loads one system's server and client.
 *
 * @param name A system other than `rpyc` (which runs in Python).
 * @returns The system.
 *
 * @example
 * ```ts ignore
 * import { loadSystem } from "./_systems.ts";
 * const netref = await loadSystem("netref");
 * ```
 */
export async function loadSystem(
  name: Exclude<System, "rpyc">,
): Promise<BenchSystem> {
  switch (name) {
    case "netref":
      return (await import("./_netref.ts")).netref;
    case "echo":
      return (await import("./_echo.ts")).echoSystem;
    case "capnweb":
      return (await import("./_capnweb.ts")).capnweb;
    case "birpc":
      return (await import("./_birpc.ts")).birpc;
    case "grpc":
      return (await import("./_grpc.ts")).grpcSystem;
    case "otelNoop":
      return (await import("./_netref_otel.ts")).otelNoop;
    case "otel":
      return (await import("./_netref_otel.ts")).otelSdk();
  }
}
