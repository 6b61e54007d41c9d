/**
 * The parameters of an exposed method, for DIR: the names its source text
 * declares, or, where the source does not show them (native and bound
 * functions), its arity. Only names are read from the source: default
 * values, which may hold anything, are never sent.
 *
 * @module
 */

/** What DIR tells of a method's parameters. */
export type ParamInfo =
  | { readonly params: string[] }
  | { readonly arity: number };

// Parsed once per function: a DIR of the same class again costs a lookup.
const parsed = new WeakMap<object, ParamInfo>();

/** The parameters of `fn`: declared names if its source shows them. */
export function describeParams(fn: { readonly length: number }): ParamInfo {
  let info = parsed.get(fn);
  if (info === undefined) {
    const names = parseParamNames(Function.prototype.toString.call(fn));
    info = names === null ? { arity: fn.length } : { params: names };
    parsed.set(fn, info);
  }
  return info;
}

/**
 * The parameter names in a function's source text, `...rest` for a rest
 * parameter, `{a, b}` or `[a, b]` for a destructured one; null if the text
 * shows no parameter list.
 */
export function parseParamNames(source: string): string[] | null {
  if (source.includes("[native code]") || /^class\b/.test(source)) return null;
  const bare = source.match(/^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/);
  if (bare !== null) return [bare[1]];
  const open = findTopLevel(source, 0, "(");
  if (open < 0) return null;
  const close = matchingClose(source, open);
  if (close < 0) return null;
  return splitTopLevel(source.slice(open + 1, close))
    .map(paramName)
    .filter((name) => name !== "");
}

function paramName(text: string): string {
  const declared = stripComments(text).trim();
  const target = declared.slice(0, cutAt(declared, "=")).trim();
  if (target.startsWith("...")) return `...${paramName(target.slice(3))}`;
  if (target.startsWith("{") || target.startsWith("[")) {
    const inner = splitTopLevel(target.slice(1, -1)).map((part) => {
      const element = stripComments(part).trim();
      // `key: pattern` names the property; `key = default` the key.
      const key = element.slice(0, cutAt(element, ":"));
      return paramName(key);
    }).filter((name) => name !== "");
    return target.startsWith("{")
      ? `{${inner.join(", ")}}`
      : `[${inner.join(", ")}]`;
  }
  return target.replace(/\s+/g, " ");
}

/** Index of the first `char` outside brackets, strings and comments in `text`, or its length. */
function cutAt(text: string, char: string): number {
  const at = findTopLevel(text, 0, char);
  return at < 0 ? text.length : at;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  while (true) {
    const comma = findTopLevel(text, start, ",");
    if (comma < 0) break;
    parts.push(text.slice(start, comma));
    start = comma + 1;
  }
  parts.push(text.slice(start));
  return parts;
}

function matchingClose(text: string, open: number): number {
  let depth = 0;
  for (const [i, char] of scan(text, open)) {
    if (char === "(" || char === "[" || char === "{") depth++;
    else if (char === ")" || char === "]" || char === "}") {
      depth--;
      if (depth === 0) return char === ")" ? i : -1;
    }
  }
  return -1;
}

/** Index of `wanted` at bracket depth 0 from `start`, or -1; `=` of `=>`, `==` not counted. */
function findTopLevel(text: string, start: number, wanted: string): number {
  let depth = 0;
  for (const [i, char] of scan(text, start)) {
    if (depth === 0 && char === wanted) {
      if (
        wanted !== "=" ||
        (text[i + 1] !== ">" && text[i + 1] !== "=" &&
          !"=!<>".includes(text[i - 1] ?? ""))
      ) return i;
    }
    if (char === "(" || char === "[" || char === "{") depth++;
    else if (char === ")" || char === "]" || char === "}") depth--;
    if (depth < 0) return -1;
  }
  return -1;
}

function stripComments(text: string): string {
  let out = "";
  for (const [, char] of scan(text, 0)) out += char;
  return out;
}

/**
 * The characters of `text` from `start` that are code: strings, template
 * literals and comments are skipped whole (a string yields its quotes only).
 */
function* scan(text: string, start: number): Generator<[number, string]> {
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (char === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end - 1;
      continue;
    }
    if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
      yield [i, " "]; // A comment separates as a space does.
      continue;
    }
    if (char === '"' || char === "'" || char === "`") {
      yield [i, char];
      let j = i + 1;
      while (j < text.length && text[j] !== char) j += text[j] === "\\" ? 2 : 1;
      if (j < text.length) yield [j, char];
      i = j;
      continue;
    }
    yield [i, char];
  }
}
