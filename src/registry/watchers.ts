/**
 * The embedded registry's watches: each client's listener receives batches
 * of events, one call at a time, and is dropped when its connection closes
 * or it falls too far behind.
 *
 * @module
 */

import { isNetref, release } from "../core/proxy.ts";
import type { Connection } from "../core/types.ts";
import type { RegistryEvent } from "./types.ts";

/** Events a watcher may fall behind by before it is disconnected. */
const MAX_PENDING_EVENTS = 10_000;

interface Watcher {
  name: string | null;
  listener: (events: RegistryEvent[]) => unknown;
  connection: Connection | null;
  pending: RegistryEvent[];
  sending: boolean;
}

/**
 * The open watches of one registry.
 *
 * @example
 * ```ts
 * import { Watchers } from "./watchers.ts";
 * const watchers = new Watchers(() => {});
 * const seen: unknown[] = [];
 * watchers.add(null, (events) => seen.push(...events), null);
 * watchers.notify([{ type: "removed", instance: { name: "a", id: "h:1", hostname: "h", port: 1, metadata: {} } }]);
 * console.assert(seen.length === 1);
 * watchers.clear();
 * ```
 */
export class Watchers {
  #watchers = new Map<number, Watcher>();
  #nextId = 1;
  #log: (message: string) => void;

  /**
   * Makes an empty set of watches.
   *
   * @param log Receives one line for each watcher dropped.
   */
  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  /** The number of open watches. */
  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Opens a watch.
   *
   * @param name Only this service's events (`null`: all).
   * @param listener Receives arrays of events, one call at a time.
   * @param connection The connection it came over, if any.
   * @returns The watch id.
   */
  add(
    name: string | null,
    listener: (events: RegistryEvent[]) => unknown,
    connection: Connection | null,
  ): number {
    const id = this.#nextId++;
    this.#watchers.set(id, {
      name,
      listener,
      connection,
      pending: [],
      sending: false,
    });
    return id;
  }

  /**
   * Ends a watch, releasing its listener.
   *
   * @param id The watch id.
   * @returns Whether it existed.
   */
  drop(id: number): boolean {
    const watcher = this.#watchers.get(id);
    if (watcher === undefined) return false;
    this.#watchers.delete(id);
    watcher.pending = [];
    if (isNetref(watcher.listener) && watcher.connection?.isClosed !== true) {
      release(watcher.listener);
    }
    return true;
  }

  /**
   * Ends the watches that came over a connection.
   *
   * @param connection The connection.
   */
  dropConnection(connection: Connection): void {
    for (const [id, watcher] of this.#watchers) {
      if (watcher.connection === connection) this.drop(id);
    }
  }

  /** Ends every watch. */
  clear(): void {
    for (const id of [...this.#watchers.keys()]) this.drop(id);
  }

  /**
   * Hands events to the watches they concern.
   *
   * @param events The events, in order.
   */
  notify(events: RegistryEvent[]): void {
    if (events.length === 0) return;
    for (const [id, watcher] of this.#watchers) {
      const matching = watcher.name === null
        ? events
        : events.filter((e) => e.instance.name === watcher.name);
      if (matching.length === 0) continue;
      watcher.pending.push(...matching);
      if (watcher.pending.length > MAX_PENDING_EVENTS) {
        this.#log(
          `dropping watch ${id}: ${watcher.pending.length} events behind, over the limit of ${MAX_PENDING_EVENTS}`,
        );
        // Its client reconnects and resumes from a fresh snapshot.
        const connection = watcher.connection;
        this.drop(id);
        connection?.close().catch(() => {});
        continue;
      }
      if (!watcher.sending) this.#flush(id, watcher);
    }
  }

  async #flush(id: number, watcher: Watcher): Promise<void> {
    watcher.sending = true;
    try {
      while (watcher.pending.length > 0 && this.#watchers.get(id) === watcher) {
        const batch = watcher.pending;
        watcher.pending = [];
        await watcher.listener(batch);
      }
    } catch (error) {
      if (this.#watchers.get(id) === watcher) {
        this.#log(`dropping watch ${id}: its listener failed: ${error}`);
        this.drop(id);
      }
    } finally {
      watcher.sending = false;
    }
  }
}
