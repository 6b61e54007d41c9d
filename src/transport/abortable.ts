/**
 * Giving up on a stream still being opened: the caller gets the signal's
 * reason at once, and the stream, should it open later, is closed.
 *
 * @module
 */

import { closeQuietly } from "./accept_queue.ts";

/**
 * Settles like `opening`, or rejects with `signal.reason` once `signal`
 * aborts first; whatever `opening` yields after that is closed.
 *
 * @param opening A stream being opened.
 * @param signal Aborts the wait, if given.
 * @returns The stream.
 * @throws {unknown} `signal.reason`, if the signal aborted first.
 */
export function abortable<T extends { close(): unknown }>(
  opening: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal === undefined) return opening;
  const late = () => opening.then(closeQuietly, () => {});
  if (signal.aborted) {
    late();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      late();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    opening.then((stream) => {
      signal.removeEventListener("abort", onAbort);
      if (!signal.aborted) resolve(stream);
    }, (error) => {
      signal.removeEventListener("abort", onAbort);
      if (!signal.aborted) reject(error);
    });
  });
}
