/**
 * The registry's contents as a table, for `netref list`.
 *
 * @module
 */

import type { ServiceInstance } from "./types.ts";

/**
 * Formats instances as an aligned table with a header: service, instance
 * id, address, metadata (`key=value`, comma-separated). An empty list gives
 * a single line saying so.
 *
 * @param instances The instances, as `Registry.list()` returns them.
 * @returns The table, lines joined by `\n`, without a trailing newline.
 *
 * @example
 * ```ts
 * import { formatInstances } from "./format.ts";
 * const table = formatInstances([
 *   { name: "test", id: "10.0.0.1:18811", hostname: "10.0.0.1", port: 18811, metadata: {} },
 * ]);
 * console.assert(table.split("\n")[1].startsWith("test"));
 * ```
 */
export function formatInstances(
  instances: readonly ServiceInstance[],
): string {
  if (instances.length === 0) return "no services registered";
  const rows = [
    ["SERVICE", "ID", "ADDRESS", "METADATA"],
    ...instances.map((i) => [
      i.name,
      i.id,
      i.hostname.includes(":")
        ? `[${i.hostname}]:${i.port}`
        : `${i.hostname}:${i.port}`,
      Object.entries(i.metadata).map(([k, v]) => `${k}=${v}`).join(","),
    ]),
  ];
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((row) => row[c].length))
  );
  return rows.map((row) =>
    row.map((cell, c) => c === row.length - 1 ? cell : cell.padEnd(widths[c]))
      .join("  ").trimEnd()
  ).join("\n");
}
