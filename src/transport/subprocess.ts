/**
 * A child process's pipes, the parent's side of a netref connection to a
 * child serving on its stdin/stdout (RPyC's `connect_subproc`). The child's
 * side is in `stdio.ts`.
 *
 * @module
 */

import type { ByteStream } from "./types.ts";

/**
 * A child process's stdout and stdin as one stream. The end of the child's
 * stdout (it exited, or closed it) ends the stream: `onEnd` is asked for the
 * error that reads then fail with, so that the reason can name the exit
 * code. Closing the stream closes the child's stdin (its end of input).
 *
 * @param child A child spawned with `stdin: "piped"` and `stdout: "piped"`.
 * @param onEnd Gives the error to report once the child's stdout ends, or
 *   null for a plain end of stream.
 * @returns The stream.
 *
 * @example
 * ```ts ignore
 * import { childProcessStream } from "./stdio.ts";
 * const child = new Deno.Command("deno", {
 *   args: ["run", "server.ts"],
 *   stdin: "piped",
 *   stdout: "piped",
 * }).spawn();
 * const stream = childProcessStream(child, async () => null);
 * ```
 */
export function childProcessStream(
  child: Deno.ChildProcess,
  onEnd: () => Promise<Error | null>,
): ByteStream {
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  let pending: Uint8Array | null = null;
  let closed = false;
  return {
    async read(buffer) {
      let chunk = pending;
      pending = null;
      if (chunk === null) {
        const result = await reader.read();
        if (result.done) {
          if (closed) return null;
          const error = await onEnd();
          if (error !== null) throw error;
          return null;
        }
        chunk = result.value;
      }
      const n = Math.min(chunk.length, buffer.length);
      buffer.set(chunk.subarray(0, n));
      if (n < chunk.length) pending = chunk.subarray(n);
      return n;
    },
    async write(data) {
      // Resolves once the pipe has taken the bytes: the caller may reuse them.
      await writer.write(data);
      return data.length;
    },
    close() {
      if (closed) return;
      closed = true;
      pending = null;
      writer.close().catch(() => {
        // The child is gone: its stdin is closed already.
      });
      reader.cancel().catch(() => {
        // Ended already.
      });
    },
  };
}
