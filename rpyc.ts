/**
 * Python RPyC from netref: connect to a Python RPyC server as a client
 * (`connectRpyc`), pass Python keyword arguments (`kwargs`), and answer
 * Python RPyC clients on a netref server (`rpycProtocol`; `serve` from
 * `@netref/netref` does so by default).
 *
 * ```ts
 * import { connectRpyc, kwargs } from "@netref/netref/rpyc";
 *
 * interface PythonService {
 *   sorted(items: string[], options: unknown): string[];
 * }
 * async function sortedNames(port: number): Promise<string[]> {
 *   await using conn = await connectRpyc<PythonService>("127.0.0.1", port);
 *   return await conn.root.sorted(["b", "a"], kwargs({ reverse: true }));
 * }
 * console.assert(typeof sortedNames === "function");
 * ```
 *
 * @module
 */

export type { RpycConnectOptions, RpycTlsOptions } from "./src/rpyc/client.ts";
export {
  connectRpyc,
  connectRpycUnix,
  copy,
  type CopyOptions,
  iterate,
  type IterateOptions,
  kwargs,
  MAX_COPIED_ITEMS,
  PyKwargs,
} from "./src/rpyc/client.ts";
export { rpycProtocol } from "./src/rpyc/server.ts";
