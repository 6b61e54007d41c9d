/**
 * Operations on the peer's objects, as RPyC's `core/netref.py`: what a
 * netref proxy's GET, SET, CALL and DIR become in RPyC requests. A member
 * path is walked one GETATTR at a time (RPyC has no paths), each
 * intermediate reference given back at once; Python's `exposed_` prefix is
 * tried when a plain name fails.
 *
 * @module
 */

import { RemoteError } from "../errors.ts";
import type { MemberInfo } from "../core/proxy.ts";
import type { CallOptions } from "../core/types.ts";
import { Op } from "../protocol/constants.ts";
import { PyKwargs } from "./boxing.ts";
import { type IdPack, PackRef } from "./refs.ts";
import { Handle } from "./constants.ts";
import { EXPOSED_PREFIX } from "./policy.ts";
import type { RpycHost } from "./protocol.ts";

/**
 * The RPyC connections: a call relayed to one of their netrefs keeps its
 * keyword arguments as such ({@linkcode PyKwargs}).
 */
export const pythonHosts: WeakSet<object> = new WeakSet();

/**
 * Performs one netref operation on a peer object.
 *
 * @param target The import id, or 0 for the peer's root.
 * @param payload SET: the value; CALL: the arguments.
 * @throws {RemoteError} What Python raised.
 * @throws {TypeError} If the path walks into a value received by copy.
 */
export async function perform(
  host: RpycHost,
  target: number,
  op: Op,
  path: readonly string[],
  payload: unknown,
  options: CallOptions | undefined,
): Promise<unknown> {
  let base = target === 0
    ? await host.remoteRoot(options)
    : host.packOf(target);
  const walk = op === Op.DIR ? path.length : path.length - 1;
  const held: IdPack[] = [];
  try {
    for (let i = 0; i < walk; i++) {
      const next = await withPrefix(
        path[i],
        (name) =>
          host.call(Handle.GETATTR, [new PackRef(base), name], options, true),
      );
      if (!(next instanceof PackRef)) {
        throw new TypeError(
          `Cannot reach '${path.slice(0, i + 2).join(".")}': '${
            path[i]
          }' arrived by copy, not as a netref`,
        );
      }
      held.push(next.pack);
      base = next.pack;
    }
    const ref = new PackRef(base);
    const last = path[path.length - 1];
    switch (op) {
      case Op.GET:
        if (path.length === 0) return undefined;
        return await withPrefix(
          last,
          (name) => host.call(Handle.GETATTR, [ref, name], options),
        );
      case Op.SET:
        await withPrefix(
          last,
          (name) => host.call(Handle.SETATTR, [ref, name, payload], options),
        );
        return undefined;
      case Op.CALL: {
        const [args, kwargs] = splitKwargs(payload as unknown[]);
        if (path.length === 0) {
          return await host.call(Handle.CALL, [ref, args, kwargs], options);
        }
        return await withPrefix(
          last,
          (name) =>
            host.call(Handle.CALLATTR, [ref, name, args, kwargs], options),
          true,
        );
      }
      default:
        return await listMembers(host, base, options);
    }
  } finally {
    for (const pack of held) host.sendDel(pack, 1);
  }
}

/**
 * Runs `attempt(name)`; if Python answers AttributeError, once more with
 * `exposed_name`. For a call, only when the attribute lookup failed, not the
 * call itself (its traceback then runs through `_handle_call`), so a method
 * never runs twice.
 */
async function withPrefix<T>(
  name: string,
  attempt: (name: string) => Promise<T>,
  isCall = false,
): Promise<T> {
  try {
    return await attempt(name);
  } catch (error) {
    if (
      name.startsWith(EXPOSED_PREFIX) || !(error instanceof RemoteError) ||
      error.remoteName !== "AttributeError" ||
      (isCall && (error.remoteStack ?? "").includes("in _handle_call\n"))
    ) throw error;
    try {
      return await attempt(EXPOSED_PREFIX + name);
    } catch {
      throw error;
    }
  }
}

/** Splits a trailing {@linkcode PyKwargs} off the arguments. */
function splitKwargs(args: unknown[]): [unknown[], unknown[][]] {
  const last = args[args.length - 1];
  if (!(last instanceof PyKwargs)) return [args, []];
  return [args.slice(0, -1), Object.entries(last.values)];
}

/**
 * RPyC's `dir()` of a peer object as netref's {@linkcode MemberInfo}: the
 * members Python exposes with the `exposed_` prefix (without it), or, when
 * none has it, the names not starting with `_`; methods told apart by
 * INSPECT.
 */
async function listMembers(
  host: RpycHost,
  pack: IdPack,
  options: CallOptions | undefined,
): Promise<MemberInfo[]> {
  const names = await host.call(Handle.DIR, [new PackRef(pack)], options);
  if (!Array.isArray(names)) return [];
  let methods = new Set<unknown>();
  try {
    const inspected = await host.call(Handle.INSPECT, [pack.tuple], options);
    if (Array.isArray(inspected)) {
      methods = new Set(inspected.map((m) => Array.isArray(m) ? m[0] : null));
    }
  } catch {
    // Without INSPECT every member is reported as a field.
  }
  const strings = names.filter((n): n is string => typeof n === "string");
  const prefixed = strings.filter((n) => n.startsWith(EXPOSED_PREFIX));
  const shown = prefixed.length > 0
    ? prefixed
    : strings.filter((n) => !n.startsWith("_"));
  const seen = new Set<string>();
  const members: MemberInfo[] = [];
  for (const name of shown) {
    const bare = prefixed.length > 0 ? name.slice(EXPOSED_PREFIX.length) : name;
    if (bare === "" || seen.has(bare)) continue;
    seen.add(bare);
    members.push({ name: bare, kind: methods.has(name) ? "method" : "field" });
  }
  return members.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
