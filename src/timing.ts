/**
 * Waiting against the clock, in one place: every timer started here is
 * cleared as soon as the wait is decided, so that no timer outlives its
 * use and keeps a process (or a test's leak check) waiting.
 *
 * @module
 */

/**
 * Settles as `promise` does, or, if it has not settled within `ms`
 * milliseconds, with what `onTimeout` returns (a throw rejects). A
 * non-finite `ms` waits without limit.
 *
 * @param promise What to wait for.
 * @param ms The most to wait, in milliseconds.
 * @param onTimeout The outcome when time runs out; by default undefined.
 * @returns The first outcome.
 */
export function withTimeout<T, U = undefined>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => U = () => undefined as U,
): Promise<T | U> {
  if (!Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves after `ms` milliseconds, or as soon as `stop` settles.
 *
 * @param ms How long to wait, in milliseconds.
 * @param stop Cuts the wait short when it settles (either way).
 * @returns Resolves when the wait is over.
 */
export function delay(ms: number, stop?: Promise<unknown>): Promise<void> {
  if (stop === undefined) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  return withTimeout(stop.then(() => {}, () => {}), ms);
}
