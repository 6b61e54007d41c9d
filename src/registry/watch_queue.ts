/**
 * The machinery both backends' `watch()` share: a queue that turns pushed
 * events into an async iterator, and the reconciliation of a fresh snapshot
 * against what a watcher last knew (after a reconnection or a registry
 * restart).
 *
 * @module
 */

import type { RegistryEvent, ServiceInstance } from "./types.ts";
import { byNameThenId, instanceKey } from "./validate.ts";

/**
 * Events pushed by a backend, read by a `for await` loop. Ending the loop
 * (or the signal) runs `onEnd` once, which stops the backend's watch.
 *
 * @example
 * ```ts
 * import { EventQueue } from "./watch_queue.ts";
 * const queue = new EventQueue<number>(() => {});
 * queue.push(1);
 * queue.end();
 * const seen = [];
 * for await (const n of queue) seen.push(n);
 * console.assert(seen.length === 1);
 * ```
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  #buffer: T[] = [];
  #waiter: ((result: IteratorResult<T>) => void) | null = null;
  #ended = false;
  #onEnd: (() => void) | null;
  #signal: AbortSignal | undefined;
  #abort = () => this.end();

  /**
   * Makes a queue.
   *
   * @param onEnd Stops the source; called once, when the queue ends.
   * @param signal Ends the queue when aborted.
   */
  constructor(onEnd: () => void, signal?: AbortSignal) {
    this.#onEnd = onEnd;
    this.#signal = signal;
    if (signal?.aborted) queueMicrotask(() => this.end());
    else signal?.addEventListener("abort", this.#abort, { once: true });
  }

  /** Whether the queue has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Adds an event; ignored once the queue has ended.
   *
   * @param event The event.
   */
  push(event: T): void {
    if (this.#ended) return;
    if (this.#waiter !== null) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter({ value: event, done: false });
    } else {
      this.#buffer.push(event);
    }
  }

  /** Ends the queue: the reader sees the buffered events, then the end. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener("abort", this.#abort);
    const onEnd = this.#onEnd;
    this.#onEnd = null;
    onEnd?.();
    if (this.#waiter !== null) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter({ value: undefined, done: true });
    }
  }

  /**
   * The next event.
   *
   * @returns The event, or done once the queue has ended and drained.
   */
  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) {
      return Promise.resolve({ value: this.#buffer.shift()!, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /**
   * Ends the queue early (what `break` in a `for await` calls).
   *
   * @returns Done.
   */
  return(): Promise<IteratorResult<T>> {
    this.#buffer.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /**
   * The queue itself.
   *
   * @returns This queue.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/**
 * Brings `known` up to date with a full `snapshot`, and returns the events
 * that tell a watcher the difference: `removed` for instances that are
 * gone, `added` for new or changed ones.
 *
 * @param known What the watcher knew, by key; updated in place.
 * @param snapshot Every current instance the watcher cares about.
 * @returns The events, removals first.
 *
 * @example
 * ```ts
 * import { reconcile } from "./watch_queue.ts";
 * import { checkInstance } from "./validate.ts";
 * const known = new Map();
 * const events = reconcile(known, [checkInstance({ name: "a", hostname: "h", port: 1 })]);
 * console.assert(events[0].type === "added" && known.size === 1);
 * ```
 */
export function reconcile(
  known: Map<string, ServiceInstance>,
  snapshot: readonly ServiceInstance[],
): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  const fresh = new Map(snapshot.map((i) => [instanceKey(i), i]));
  for (const [key, instance] of known) {
    if (!fresh.has(key)) {
      known.delete(key);
      events.push({ type: "removed", instance });
    }
  }
  for (const instance of [...fresh.values()].sort(byNameThenId)) {
    const key = instanceKey(instance);
    const before = known.get(key);
    if (before === undefined || !sameInstance(before, instance)) {
      known.set(key, instance);
      events.push({ type: "added", instance });
    }
  }
  return events;
}

/**
 * Applies one event to `known`, reporting whether it changed anything (a
 * repeated `added` of an unchanged instance does not).
 *
 * @param known What the watcher knows, by key; updated in place.
 * @param event The event.
 * @returns Whether the watcher should see it.
 *
 * @example
 * ```ts
 * import { apply } from "./watch_queue.ts";
 * import { checkInstance } from "./validate.ts";
 * const instance = checkInstance({ name: "a", hostname: "h", port: 1 });
 * const known = new Map();
 * console.assert(apply(known, { type: "added", instance }));
 * console.assert(!apply(known, { type: "added", instance }));
 * ```
 */
export function apply(
  known: Map<string, ServiceInstance>,
  event: RegistryEvent,
): boolean {
  const key = instanceKey(event.instance);
  if (event.type === "removed") return known.delete(key);
  const before = known.get(key);
  if (before !== undefined && sameInstance(before, event.instance)) {
    return false;
  }
  known.set(key, event.instance);
  return true;
}

function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  if (a.hostname !== b.hostname || a.port !== b.port) return false;
  const ka = Object.keys(a.metadata);
  const kb = Object.keys(b.metadata);
  return ka.length === kb.length &&
    ka.every((k) => a.metadata[k] === b.metadata[k]);
}
