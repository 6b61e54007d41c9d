/**
 * A small mutation check: applies each one-line mutation of `list.ts` to a
 * scratch copy of the repository, runs the test files that should notice it,
 * and reports whether they did.
 *
 * Usage: `deno task mutants [--check] [name ...]` (no names: every mutant;
 * `--check`: only check that each one still applies). Ends with
 * the line `mutants: N caught, M not caught`, and exits non-zero when a
 * mutant was not caught or its original text is no longer in the code.
 *
 * @module
 */

import { type Mutant, mutants } from "./list.ts";

/** Longest a mutant's tests may run; a hang counts as caught. */
const TEST_TIMEOUT_MS = 240_000;

/** Directories of the repository not copied to the scratch copy. */
const SKIPPED = new Set([".git", "dist", "node_modules", "bench"]);

const repo = new URL("../", import.meta.url).pathname;

/** Copies the repository (without `SKIPPED`) into `to`. */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (SKIPPED.has(entry.name)) continue;
    const source = `${from}/${entry.name}`;
    const target = `${to}/${entry.name}`;
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) await Deno.copyFile(source, target);
  }
}

/** How often `text` occurs in `haystack`. */
function occurrences(haystack: string, text: string): number {
  let count = 0;
  for (
    let at = haystack.indexOf(text);
    at !== -1;
    at = haystack.indexOf(text, at + 1)
  ) count++;
  return count;
}

/**
 * Checks that each mutant's original text occurs exactly once in its file.
 *
 * @returns One line per mutant that cannot be applied.
 */
async function unapplicable(list: readonly Mutant[]): Promise<string[]> {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const m of list) {
    if (names.has(m.name)) problems.push(`${m.name}: duplicate name`);
    names.add(m.name);
    if (m.original.includes("\n") || m.replacement.includes("\n")) {
      problems.push(`${m.name}: not a one-line mutation`);
    }
    let text: string;
    try {
      text = await Deno.readTextFile(`${repo}${m.file}`);
    } catch {
      problems.push(`${m.name}: file not found: ${m.file}`);
      continue;
    }
    const found = occurrences(text, m.original);
    if (found === 0) {
      problems.push(
        `${m.name}: original text not found in ${m.file}: ${
          JSON.stringify(m.original)
        }`,
      );
    } else if (found > 1) {
      problems.push(
        `${m.name}: original text occurs ${found} times in ${m.file} (must be once): ${
          JSON.stringify(m.original)
        }`,
      );
    }
    for (const test of m.tests) {
      try {
        await Deno.stat(`${repo}${test}`);
      } catch {
        problems.push(`${m.name}: test file not found: ${test}`);
      }
    }
  }
  return problems;
}

/** What one run of test files ended with. */
interface TestRun {
  passed: boolean;
  timedOut: boolean;
  /** The failing tests' names, from the runner's summary. */
  failures: string[];
  output: string;
}

/** Runs `files` with `deno test` in `cwd`. */
async function runTests(
  cwd: string,
  files: readonly string[],
): Promise<TestRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      // Type errors are not what a mutant is for: behaviour must catch it.
      "--no-check",
      "--fail-fast",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--v8-flags=--expose-gc",
      ...files,
    ],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Ended meanwhile.
    }
  }, TEST_TIMEOUT_MS);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const output = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  const failures = [...output.matchAll(/^(.+) \.\.\. FAILED/gm)].map((m) =>
    m[1].trim()
  );
  return { passed: code === 0 && !timedOut, timedOut, failures, output };
}

async function main(argv: string[]): Promise<number> {
  const checkOnly = argv.includes("--check");
  const args = argv.filter((a) => a !== "--check");
  const chosen = args.length === 0
    ? mutants
    : mutants.filter((m) => args.some((a) => m.name.includes(a)));
  if (chosen.length === 0) {
    console.error(`no mutant matches ${args.join(" ")}`);
    return 2;
  }
  const problems = await unapplicable(chosen);
  if (problems.length > 0) {
    console.error(
      "mutants: the list is out of step with the code; fix mutants/list.ts:",
    );
    for (const p of problems) console.error(`  ERROR ${p}`);
    return 2;
  }
  if (checkOnly) {
    console.log(`mutants: all ${chosen.length} apply`);
    return 0;
  }

  const scratch = await Deno.makeTempDir({ prefix: "netref-mutants-" });
  try {
    await copyTree(repo.replace(/\/$/, ""), scratch);
    const files = [...new Set(chosen.flatMap((m) => m.tests))].sort();
    console.log(`baseline: ${files.join(" ")}`);
    const baseline = await runTests(scratch, files);
    if (!baseline.passed) {
      console.error(baseline.output);
      console.error(
        "mutants: the unmutated tests fail; fix them before mutating",
      );
      return 2;
    }
    let caught = 0;
    const missed: Mutant[] = [];
    for (const [i, m] of chosen.entries()) {
      const path = `${scratch}/${m.file}`;
      const original = await Deno.readTextFile(path);
      await Deno.writeTextFile(
        path,
        original.replace(m.original, () => m.replacement),
      );
      const started = performance.now();
      let run: TestRun;
      try {
        run = await runTests(scratch, m.tests);
      } finally {
        await Deno.writeTextFile(path, original);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const head = `[${i + 1}/${chosen.length}] ${m.name} (${m.area})`;
      if (run.passed) {
        missed.push(m);
        console.log(`${head}: NOT CAUGHT in ${seconds} s`);
        console.log(`    breaks: ${m.breaks}`);
        console.log(`    ${m.file}: ${m.original}  ->  ${m.replacement}`);
      } else {
        caught++;
        const by = run.timedOut
          ? "the tests timed out"
          : run.failures.length > 0
          ? run.failures[0]
          : "the test run failed";
        console.log(`${head}: caught in ${seconds} s by ${by}`);
      }
    }
    console.log(`mutants: ${caught} caught, ${missed.length} not caught`);
    return missed.length === 0 ? 0 : 1;
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

Deno.exit(await main(Deno.args));
