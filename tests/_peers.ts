/**
 * Real peers the tests need (openssl, chromium, etcd, Python RPyC): outside
 * CI a missing one skips its tests with a printed reason; with `CI=true` it is
 * a failure, so that CI cannot be green without running them.
 *
 * @module
 */

/** Whether the tests run in CI (`CI=true`), where every real peer must exist. */
export const inCI = Deno.env.get("CI") === "true";

/**
 * Decides whether the tests needing a real peer run.
 *
 * @param peer What is needed, such as "openssl".
 * @param present Whether it was found.
 * @param install How to install it.
 * @returns `present`. When it is missing, outside CI a line saying which tests
 *   are skipped is printed; in CI a test named after the peer is registered
 *   that fails with `install`.
 */
export function needPeer(
  peer: string,
  present: boolean,
  install: string,
): boolean {
  if (present) return true;
  if (inCI) {
    Deno.test(`${peer} is installed (required when CI=true)`, () => {
      throw new Error(
        `${peer} is missing, and CI=true forbids skipping its tests: ${install}`,
      );
    });
  } else {
    console.log(
      `skipping the tests that need ${peer}: it is missing (${install})`,
    );
  }
  return false;
}

/** Whether `command args...` runs and exits with 0. */
export async function runs(command: string, args: string[]): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}
