/**
 * The exposure policy as RPyC peers meet it: every member name a Python
 * peer asks for goes through netref's `checkMember` (only `@exposed`
 * members; never `constructor`, `__proto__`, `prototype`), dunder names are
 * refused, Python's `exposed_` prefix is understood (`exposed_foo` finds
 * `foo`), and the names of RPyC's classic mode get a refusal that says so.
 *
 * @module
 */

import { AccessError } from "../errors.ts";
import { checkMember, describe, type MemberUse } from "../core/exposure.ts";

/** RPyC's prefix for the members a Python service exposes. */
export const EXPOSED_PREFIX = "exposed_";

/** Python's special names, `__name__`: never reachable remotely. */
export const DUNDER: RegExp = /^__.*__$/;

/** Members through which RPyC's classic mode runs code or imports modules. */
const CLASSIC_NAMES = new Set([
  "eval",
  "execute",
  "exec",
  "namespace",
  "getmodule",
  "getconn",
  "modules",
  "builtin",
  "builtins",
  "teleport",
]);

/**
 * The member name `name` stands for on `object`, after the exposure check:
 * `name` itself, or without its `exposed_` prefix.
 *
 * @throws {AccessError} (AttributeError in Python) If it is not reachable.
 */
export function resolveMember(
  object: unknown,
  name: unknown,
  use: MemberUse,
): string {
  if (typeof name !== "string") {
    throw new TypeError(`Cannot ${use} a member: its name must be a str`);
  }
  if (
    (typeof object !== "object" && typeof object !== "function") ||
    object === null
  ) {
    throw new AccessError(
      `Cannot ${use} '${name}' of ${pyType(object)}: it has no remote members`,
    );
  }
  if (DUNDER.test(name)) {
    throw new AccessError(
      `Cannot access '${name}' of ${
        describe(object)
      }: dunder names are never reachable remotely`,
    );
  }
  try {
    checkMember(object, name, use);
    return name;
  } catch (error) {
    const bare = name.startsWith(EXPOSED_PREFIX)
      ? name.slice(EXPOSED_PREFIX.length)
      : name;
    if (bare !== name && bare !== "" && !DUNDER.test(bare)) {
      try {
        checkMember(object, bare, use);
        return bare;
      } catch {
        // Report the name as asked for.
      }
    }
    if (CLASSIC_NAMES.has(bare)) {
      throw new AccessError(
        `Cannot access '${name}' of ${
          describe(object)
        }: RPyC classic mode (remote eval, exec and module access) is not supported by netref`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * How a value that is no object is named in messages.
 *
 * @returns Such as `None`, `a str`, `a number`.
 */
export function pyType(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "string") return "a str";
  if (typeof value === "number" || typeof value === "bigint") return "a number";
  return `a ${typeof value}`;
}
