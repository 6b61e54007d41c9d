/**
 * Type-checks every TypeScript snippet of the README and docs/*.md, as a user
 * would paste it: each ```ts block becomes a module in a temporary directory
 * whose deno.json maps `@netref/netref` and its subpaths to this checkout,
 * and one `deno check` runs over all of them. Errors are reported at the
 * Markdown file and line of the snippet.
 *
 * A block that continues an earlier one (the tour's `conn`, the README's
 * `TestService`) gets what it needs from an HTML comment right above it,
 * hidden on the rendered page and checked before the block:
 *
 * ```md
 * <!-- snippet context
 * import { TestService } from "./examples/test_service.ts";
 * -->
 * ```
 *
 * Paths starting with `./` in a context are relative to the repository. A
 * block that cannot be checked at all (a file that imports a neighbour) is
 * marked ```` ```ts ignore <reason> ````; the reason is required.
 *
 * Run with `deno task snippets`; `--json` prints the snippets found instead.
 *
 * @module
 */

/** One fenced TypeScript block of a Markdown file. */
export interface Snippet {
  /** The Markdown file, relative to the repository. */
  file: string;
  /** The 1-based line of the snippet's first code line in that file. */
  line: number;
  /** The code, with the fence's indentation removed. */
  code: string;
  /** Why it is not checked, if it is marked `ignore`. */
  ignored?: string;
  /** The code of its `<!-- snippet context -->` comment, checked before it. */
  context?: string;
  /** The 1-based line of the context's first line. */
  contextLine?: number;
}

const CONTEXT = /^\s*<!-- snippet context\s*$/;

const FENCE = /^(\s*)(`{3,}|~{3,})\s*(\S*)\s*(.*)$/;

/**
 * The TypeScript blocks (```ts or ```typescript) of one Markdown text.
 *
 * @throws {SyntaxError} A block marked `ignore` without a reason, or a fence
 * left open.
 */
export function extractSnippets(file: string, markdown: string): Snippet[] {
  const lines = markdown.split("\n");
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (open === null) continue;
    const [, indent, fence, lang, info] = open;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const close = FENCE.exec(lines[i]);
      if (
        close !== null && close[2].startsWith(fence) && close[3] === "" &&
        close[4] === ""
      ) break;
      body.push(
        lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i],
      );
    }
    if (i === lines.length) {
      throw new SyntaxError(
        `${file}:${start + 1}: a code fence is never closed`,
      );
    }
    if (lang !== "ts" && lang !== "typescript") continue;
    const snippet: Snippet = { file, line: start + 2, code: body.join("\n") };
    // The context comment ends on the line above, or the one above a blank.
    let end = start - 1;
    if (end >= 0 && lines[end].trim() === "") end--;
    if (end >= 0 && lines[end].trim() === "-->") {
      let first = end - 1;
      while (first >= 0 && !lines[first].includes("<!--")) first--;
      if (first >= 0 && CONTEXT.test(lines[first])) {
        snippet.context = lines.slice(first + 1, end).map((l) => l.trim())
          .join("\n");
        snippet.contextLine = first + 2;
      }
    }
    const words = info.split(/\s+/);
    if (words[0] === "ignore") {
      const reason = words.slice(1).join(" ").trim();
      if (reason === "") {
        throw new SyntaxError(
          `${file}:${
            start + 1
          }: \`\`\`ts ignore needs a reason after it, such as \`\`\`ts ignore (a fragment of the service above)`,
        );
      }
      snippet.ignored = reason;
    }
    snippets.push(snippet);
  }
  return snippets;
}

/** The Markdown files whose snippets are checked: README.md and docs/*.md. */
export function markdownFiles(root: URL): string[] {
  const files = ["README.md"];
  for (const entry of Deno.readDirSync(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

/** A failure of one snippet, at its place in the Markdown. */
export interface SnippetError {
  /** `file:line:column` in the Markdown file. */
  at: string;
  /** The type checker's message. */
  message: string;
}

/** The outcome of checking snippets. */
export interface SnippetReport {
  /** Snippets type-checked. */
  checked: number;
  /** Snippets marked `ignore`. */
  ignored: number;
  /** Failures, each at its Markdown line. */
  errors: SnippetError[];
  /** The checker's whole output, when it failed without an error we could place. */
  output?: string;
}

/**
 * Writes the snippets to a temporary directory and type-checks them at once
 * against the checkout at `root`.
 */
export async function checkSnippets(
  root: URL,
  snippets: readonly Snippet[],
): Promise<SnippetReport> {
  const checked = snippets.filter((s) => s.ignored === undefined);
  const report: SnippetReport = {
    checked: checked.length,
    ignored: snippets.length - checked.length,
    errors: [],
  };
  if (checked.length === 0) return report;
  const dir = await Deno.makeTempDir({ prefix: "netref_snippets_" });
  try {
    const config = JSON.parse(
      await Deno.readTextFile(new URL("deno.json", root)),
    ) as { imports?: Record<string, string>; exports: Record<string, string> };
    const imports: Record<string, string> = {};
    for (const [key, target] of Object.entries(config.imports ?? {})) {
      imports[key] = target.startsWith(".")
        ? new URL(target, root).href
        : target;
    }
    // The package's own name and subpaths, as a user's import map would
    // resolve them; `jsr:` too, as the CLI snippets import it that way.
    for (const [subpath, target] of Object.entries(config.exports)) {
      const name = `@netref/netref${subpath.slice(1)}`;
      imports[name] = new URL(target, root).href;
      imports[`jsr:${name}`] = new URL(target, root).href;
    }
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ imports, lock: false }),
    );
    const byName = new Map<string, Snippet>();
    for (const [index, snippet] of checked.entries()) {
      const name = `${
        snippet.file.replace(/[^A-Za-z0-9]+/g, "_")
      }_${snippet.line}_${index}.ts`;
      byName.set(name, snippet);
      // `export {}` makes each a module: snippets without imports would
      // otherwise share one global scope and clash.
      // The context goes first, with its `./` paths made absolute.
      const context = snippet.context === undefined
        ? ""
        : `${snippet.context.replaceAll('"./', `"${root.href}`)}\n`;
      await Deno.writeTextFile(
        `${dir}/${name}`,
        `${context}${snippet.code}\nexport {};\n`,
      );
    }
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        "--config",
        `${dir}/deno.json`,
        ...[...byName.keys()].map((name) => `${dir}/${name}`),
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (output.success) return report;
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    report.errors = placeErrors(text, dir, byName);
    if (report.errors.length === 0) report.output = text;
    return report;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Splits `deno check`'s output into its errors, each moved from the temporary
 * file to the snippet's line in its Markdown file.
 */
function placeErrors(
  text: string,
  dir: string,
  byName: ReadonlyMap<string, Snippet>,
): SnippetError[] {
  const errors: SnippetError[] = [];
  const at = /^\s*at (file:\/\/\S+):(\d+):(\d+)\s*$/m;
  for (const block of text.split(/\n(?=TS\d+ \[ERROR\])/)) {
    if (!/^TS\d+ \[ERROR\]/.test(block.trimStart())) continue;
    const where = at.exec(block);
    // The last error is followed by deno's summary: not part of it.
    const message = block.replace(at, "")
      .replace(/\nFound \d+ errors?\.[^]*$/, "")
      .replace(/\nerror: Type checking failed[^]*$/, "").trim();
    if (where === null) {
      errors.push({ at: "(no place given)", message });
      continue;
    }
    const path = decodeURIComponent(new URL(where[1]).pathname);
    const slash = path.lastIndexOf("/");
    const snippet = path.slice(0, slash) === dir
      ? byName.get(path.slice(slash + 1))
      : undefined;
    errors.push({
      at: snippet === undefined
        ? `${path}:${where[2]}:${where[3]}`
        : `${snippet.file}:${markdownLine(snippet, Number(where[2]))}:${
          where[3]
        }`,
      message,
    });
  }
  return errors;
}

/** The Markdown line of line `n` of a snippet's checked file. */
function markdownLine(snippet: Snippet, n: number): number {
  const contextLines = snippet.context === undefined
    ? 0
    : snippet.context.split("\n").length;
  return n <= contextLines
    ? snippet.contextLine! + n - 1
    : snippet.line + n - contextLines - 1;
}

async function main(args: string[]): Promise<number> {
  const root = new URL("../", import.meta.url);
  const snippets: Snippet[] = [];
  for (const file of markdownFiles(root)) {
    snippets.push(
      ...extractSnippets(file, await Deno.readTextFile(new URL(file, root))),
    );
  }
  if (args.includes("--json")) {
    console.log(JSON.stringify(snippets, null, 2));
    return 0;
  }
  const report = await checkSnippets(root, snippets);
  for (const error of report.errors) {
    console.error(`${error.at}\n${error.message}\n`);
  }
  if (report.output !== undefined) console.error(report.output);
  const failed = report.errors.length > 0 || report.output !== undefined;
  console.log(
    `snippets: ${report.checked} checked, ${report.ignored} ignored (marked), ${
      failed ? `${report.errors.length} errors` : "all type-check"
    }`,
  );
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
