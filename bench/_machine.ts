/**
 * What the benchmark reports about the machine, and whether it can pin
 * processes to CPUs. Needs --allow-run: /proc is read through `cat`.
 *
 * @module
 */

/**
 * Whether `taskset` (util-linux) can be run.
 *
 * @returns True if `taskset --version` succeeds.
 *
 * @example
 * ```ts ignore
 * import { hasTaskset } from "./_machine.ts";
 * console.log(await hasTaskset());
 * ```
 */
export async function hasTaskset(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * A /proc file's text, or "" if unreadable. Read by `cat`: Deno asks for
 * --allow-all to read /proc, and the task grants --allow-run.
 */
async function readProc(path: string): Promise<string> {
  try {
    const { success, stdout } = await new Deno.Command("cat", {
      args: [path],
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout) : "";
  } catch {
    return "";
  }
}

/**
 * The CPUs this process may run on; children inherit them.
 *
 * @returns CPU numbers, in order, or an empty array if unknown.
 *
 * @example
 * ```ts ignore
 * import { allowedCpus } from "./_machine.ts";
 * console.log(await allowedCpus()); // [0, 1]
 * ```
 */
export async function allowedCpus(): Promise<number[]> {
  const status = await readProc("/proc/self/status");
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
  if (list === undefined) return [];
  const cpus: number[] = [];
  for (const part of list.split(",")) {
    const [first, last = first] = part.split("-").map(Number);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus.filter(Number.isInteger);
}

/**
 * The CPU model, from /proc/cpuinfo.
 *
 * @returns Its "model name", or "unknown".
 *
 * @example
 * ```ts ignore
 * import { cpuModel } from "./_machine.ts";
 * console.log(await cpuModel());
 * ```
 */
export async function cpuModel(): Promise<string> {
  const info = await readProc("/proc/cpuinfo");
  return /^model name\s*:\s*(.+)$/m.exec(info)?.[1].trim() ?? "unknown";
}

/**
 * The load averages over 1, 5 and 15 minutes: how busy the machine was.
 *
 * @returns "1m 5m 15m", or "unknown".
 *
 * @example
 * ```ts ignore
 * import { loadAverage } from "./_machine.ts";
 * console.log(await loadAverage()); // "0.35 0.24 0.38"
 * ```
 */
export async function loadAverage(): Promise<string> {
  const text = await readProc("/proc/loadavg");
  return text.split(" ").slice(0, 3).join(" ") || "unknown";
}
