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
 * @param name A system with a side in Deno: for `rpycClientNetref` only
 *   its server runs here, for `netrefClientRpyc` only its client.
 * @returns The system.
 * @throws {TypeError} For `rpyc`, whose server and client are Python's.
 *
 * @example
 * ```ts ignore
 * import { loadSystem } from "./_systems.ts";
 * const netref = await loadSystem("netref");
 * ```
 */
export async function loadSystem(name: System): Promise<BenchSystem> {
  switch (name) {
    case "rpyc":
      throw new TypeError(
        "Cannot load rpyc in Deno: its server and client are Python's (bench/_rpyc_server.py, bench/_rpyc_client.py)",
      );
    case "netref":
      return (await import("./_netref.ts")).netref;
    case "rpycClientNetref":
      // netref's own server: serve() answers RPyC on the same port.
      return (await import("./_netref.ts")).netref;
    case "netrefClientRpyc":
      return (await import("./_netref_rpyc.ts")).netrefClientRpyc;
    case "echo":
      return (await import("./_echo.ts")).echoSystem;
    case "minimal":
      return (await import("./_minimal.ts")).minimalRpc;
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
