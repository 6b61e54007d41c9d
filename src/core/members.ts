/**
 * What DIR answers: the members of an object a peer may see, and their
 * kinds.
 *
 * @module
 */

import { exposedMembers, isPlainData } from "./exposure.ts";
import { describeParams } from "./params.ts";
import type { MemberInfo } from "./proxy.ts";

/** The members a peer may see of `object`, for DIR. */
export function listMembers(object: unknown): MemberInfo[] {
  if (
    (typeof object !== "object" && typeof object !== "function") ||
    object === null
  ) return [];
  if (typeof object === "function") return [];
  const members: MemberInfo[] = [];
  if (isPlainData(object)) {
    for (const name of Object.keys(object)) {
      const value = (object as Record<string, unknown>)[name];
      members.push(
        typeof value === "function"
          ? { name, kind: "method", ...describeParams(value) }
          : { name, kind: "getter" },
      );
    }
  } else {
    for (const [name, access] of exposedMembers(object)) {
      if (access.method && access.params !== undefined) {
        // Declared names are the ones keywords bind to: shown as declared.
        const params = access.options
          ? [...access.params, "**options"]
          : [...access.params];
        members.push({ name, kind: "method", params });
        continue;
      }
      if (access.method) {
        const method = (object as Record<string, unknown>)[name];
        members.push(
          typeof method === "function"
            ? { name, kind: "method", ...describeParams(method) }
            : { name, kind: "method" },
        );
        continue;
      }
      members.push({
        name,
        kind: access.read && access.write
          ? "field"
          : access.read
          ? "getter"
          : "setter",
      });
    }
  }
  return members.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
