/**
 * Binding a Python caller's keyword arguments to an exposed method: to the
 * positions its `@exposed({ params })` names, the rest into the trailing
 * options object `@exposed({ options: true })` declares. A keyword with no
 * place is refused with a TypeError naming the method and the keyword; it
 * never lands silently in another parameter.
 *
 * @module
 */

import type { MemberAccess } from "../core/exposure.ts";

/**
 * The arguments to call method `method` (`Class.name`, for messages) with:
 * `args` positional, then `kwargs`, Python's `((name, value), ...)`, bound
 * as `access` declares.
 *
 * @throws {TypeError} If a keyword has no declared place, or is given twice.
 */
export function bindKeywords(
  method: string,
  access: MemberAccess,
  args: readonly unknown[],
  kwargs: readonly unknown[],
): unknown[] {
  const params = access.params;
  const bound: unknown[] = [...args];
  let options: Record<string, unknown> | undefined;
  for (const pair of kwargs) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string"
    ) {
      throw new TypeError(
        "Cannot call: keyword arguments must be (name, value) pairs",
      );
    }
    const [name, value] = pair as [string, unknown];
    const at = params === undefined ? -1 : params.indexOf(name);
    if (at >= 0) {
      if (at < args.length || at in bound) {
        throw new TypeError(
          `${method}() got multiple values for argument '${name}'`,
        );
      }
      bound[at] = value;
    } else if (access.options === true) {
      options ??= {};
      Object.defineProperty(options, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      throw new TypeError(unexpected(method, name, params));
    }
  }
  if (options !== undefined) {
    const at = params?.length ?? args.length;
    if (args.length > at) {
      throw new TypeError(
        `${method}() takes ${at} positional arguments before its options, but ${args.length} were given`,
      );
    }
    bound[at] = options;
  }
  // Parameters left out between bound ones are undefined, as if omitted.
  for (let i = 0; i < bound.length; i++) {
    if (!(i in bound)) bound[i] = undefined;
  }
  return bound;
}

function unexpected(
  method: string,
  name: string,
  params: readonly string[] | undefined,
): string {
  if (params === undefined) {
    return `${method}() got an unexpected keyword argument '${name}': it declares no parameter names; declare them with @exposed({ params: [...] }), or take an options object with @exposed({ options: true })`;
  }
  return `${method}() got an unexpected keyword argument '${name}': it declares ${
    params.length === 0 ? "no parameters" : `only ${params.join(", ")}`
  }`;
}
