/**
 * Member paths as typed on the command line: `foo`, `settings.theme`,
 * `makeCounter().count`. A `()` after a name calls it with no arguments on
 * the way; the calls are pipelined, so a whole path costs one round trip.
 *
 * @module
 */

/** One step of a path: a member name, and whether to call it on the way. */
export interface PathStep {
  readonly name: string;
  readonly call: boolean;
}

/** A member path from the root object; empty for the root itself. */
export type MemberPath = readonly PathStep[];

/**
 * Parses a member path.
 *
 * @param text Such as `settings.theme` or `makeCounter().count`.
 * @param allowEmpty Whether `""` (the root itself) is allowed.
 * @returns The steps.
 * @throws {TypeError} If a step is empty or malformed.
 *
 * @example
 * ```ts
 * import { parseMemberPath } from "./path.ts";
 * const path = parseMemberPath("makeCounter().count", false);
 * console.assert(path.length === 2 && path[0].call && !path[1].call);
 * ```
 */
export function parseMemberPath(text: string, allowEmpty: boolean): MemberPath {
  if (text === "" || text === "root") {
    if (allowEmpty) return [];
    throw new TypeError("Cannot use an empty path: name a member, such as foo");
  }
  const steps = text.replace(/^root\./, "").split(".").map((part) => {
    const match = part.match(/^([^()\s]+)(\(\))?$/);
    if (match === null) {
      throw new TypeError(
        `Cannot parse path '${text}': expected names separated by dots, each optionally followed by (), such as makeCounter().count`,
      );
    }
    return { name: match[1], call: match[2] !== undefined };
  });
  return steps;
}

/**
 * Formats a path as {@linkcode parseMemberPath} reads it, from `root`.
 *
 * @param path The steps.
 * @returns Such as `root.makeCounter().count`.
 *
 * @example
 * ```ts
 * import { formatMemberPath } from "./path.ts";
 * console.assert(formatMemberPath([{ name: "foo", call: true }]) === "root.foo()");
 * ```
 */
export function formatMemberPath(path: MemberPath): string {
  return ["root", ...path.map((s) => s.call ? `${s.name}()` : s.name)].join(
    ".",
  );
}

/** A remote object or member reached through netref proxies. */
type Reachable = Record<string, (...args: unknown[]) => unknown>;

/**
 * Follows `path` from a netref, calling the steps marked `()`: no request is
 * sent until the result is awaited (or used further), and then the calls on
 * the way are pipelined.
 *
 * @param root A netref, usually `conn.root`.
 * @param path The steps to follow.
 * @returns The proxy for the member (or call result) at the end of the path.
 *
 * @example
 * ```ts ignore
 * import { follow, parseMemberPath } from "./path.ts";
 * const count = await follow(conn.root, parseMemberPath("makeCounter().count", false));
 * ```
 */
export function follow(root: unknown, path: MemberPath): unknown {
  let target = root;
  for (const step of path) {
    const owner = target as Reachable;
    target = step.call ? owner[step.name]() : owner[step.name];
  }
  return target;
}
