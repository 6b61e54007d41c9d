/**
 * `netref inspect`: the exposed members of a remote object and their kinds
 * (RPyC's remote `dir()`).
 *
 * @module
 */

import { dir, type MemberInfo } from "../core/proxy.ts";
import type { Connection } from "../core/types.ts";
import type { InspectCommand } from "./args.ts";
import { type ClientOutput, withConnection } from "./call.ts";
import { describeTarget } from "./settings.ts";
import { follow, formatMemberPath, type MemberPath } from "./path.ts";

/**
 * Runs `netref inspect`: lists the exposed members of the object at the
 * path, with their kinds and the parameters of methods.
 *
 * @param command The parsed command line.
 * @param output Where the listing and errors go.
 * @returns 0, or the exit code of the failure's class (failure.ts).
 *
 * @example
 * ```ts ignore
 * import { runInspect } from "./inspect.ts";
 * import { parseCommandLine, type InspectCommand } from "./args.ts";
 * const command = parseCommandLine(["inspect", "localhost"]) as InspectCommand;
 * await runInspect(command, { out: console.log, log: console.error });
 * ```
 */
export function runInspect(
  command: InspectCommand,
  output: ClientOutput,
): Promise<number> {
  return withConnection(
    command.client,
    output,
    async (conn) => {
      const members = await dir(follow(conn.root, command.path));
      output.out(
        command.json ? JSON.stringify(members) : formatMembers(
          members,
          command.path,
          conn,
          describeTarget(command.client),
        ),
      );
    },
  );
}

function formatMembers(
  members: readonly MemberInfo[],
  path: MemberPath,
  conn: Connection,
  target: string,
): string {
  const service = conn.peer.service === undefined
    ? ""
    : `service "${conn.peer.service}", `;
  const header = `${
    formatMemberPath(path)
  } (${service}${conn.peer.implementation} at ${target})`;
  if (members.length === 0) return `${header}\n  (no exposed members)`;
  const width = Math.max(...members.map((m) => m.name.length)) + 2;
  return [
    header,
    ...members.map((m) =>
      `  ${m.name.padEnd(width)}${m.kind}${formatParams(m)}`
    ),
  ].join("\n");
}

/** A method's parameters as inspect shows them: `(a, b)`, or `(2 parameters)`. */
function formatParams(member: MemberInfo): string {
  if (member.params !== undefined) return ` (${member.params.join(", ")})`;
  if (member.arity !== undefined) {
    return ` (${member.arity} parameter${member.arity === 1 ? "" : "s"})`;
  }
  return "";
}
