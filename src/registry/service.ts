/**
 * The embedded registry's server side: `RegistryService`, a netref service
 * holding service instances that expire unless heartbeats keep them alive
 * (`serveRegistry()` serves it).
 *
 * Entries live in memory only: a restarted registry starts empty. Servers
 * notice the dropped connection and register again as soon as it answers;
 * meanwhile it holds back answers to `list` and `watch` for a warm-up, so
 * that clients keep using the instances they knew rather than hear "none".
 *
 * @module
 */

import {
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_WATCHERS,
  DEFAULT_WARMUP,
} from "../defaults.ts";
import { currentCall } from "../core/context.ts";
import { exposed, service } from "../core/exposure.ts";
import type { Connection } from "../core/types.ts";
import {
  REGISTRY_SERVICE_NAME,
  type RegistryEvent,
  type ServiceInstance,
} from "./types.ts";
import {
  byNameThenId,
  checkInstance,
  checkName,
  checkTtl,
  instanceKey,
} from "./validate.ts";
import { Watchers } from "./watchers.ts";

/** Most instances one `register` call may carry. */
const MAX_BATCH = 256;

/** Options of {@linkcode RegistryService}. */
export interface RegistryServiceOptions {
  /**
   * Most instances held at once; registrations beyond it are refused with
   * a `RangeError`.
   *
   * @default {10000}
   */
  maxEntries?: number;
  /**
   * Most watches open at once, over all connections.
   *
   * @default {1000}
   */
  maxWatchers?: number;
  /**
   * Milliseconds after start during which `list` and `watch` wait before
   * answering, so that servers have registered again after a restart.
   * Servers that lost their connection retry within a second; servers that
   * did not notice the restart return with their next heartbeat (a third of
   * their TTL): raise it above that for long TTLs.
   *
   * @default {2000}
   */
  warmup?: number;
  /**
   * Receives one line for each watcher dropped.
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

/** What a client's watch receives: a snapshot taken as the watch started. */
export interface WatchStart {
  /** Names the watch for `unwatch`. */
  id: number;
  /** Every instance the watch covers, at the moment it started. */
  instances: ServiceInstance[];
}

interface Lease {
  ttl: number;
  expiresAt: number;
  keys: Set<string>;
}

function positiveInteger(
  value: number | undefined,
  fallback: number,
  what: string,
) {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot use ${what} ${n}: expected an integer >= 1`);
  }
  return n;
}

/**
 * The embedded registry, served over netref. Servers `register` instances
 * under a lease with a TTL and `heartbeat` it; a lease not renewed within
 * its TTL expires with its entries. Clients `list` and `watch`. One object
 * serves every connection (`serve(new RegistryService())`).
 *
 * @example Serving it by hand (`serveRegistry()` does this)
 * ```ts
 * import { serve } from "@netref/netref";
 * import { RegistryService } from "@netref/netref/registry";
 * const registry = new RegistryService();
 * const server = serve(registry, { port: 18810 });
 * server.finished.then(() => registry.close());
 * ```
 */
@service(REGISTRY_SERVICE_NAME)
export class RegistryService {
  #entries = new Map<string, { instance: ServiceInstance; lease: string }>();
  #leases = new Map<string, Lease>();
  #watchers: Watchers;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #maxEntries: number;
  #maxWatchers: number;
  #closed = false;
  #warm: Promise<void> | null = null;
  #warmTimer: ReturnType<typeof setTimeout> | undefined;
  #endWarmup: () => void = () => {};

  /**
   * Makes an empty registry.
   *
   * @param options Limits and a log.
   * @throws {RangeError} On a limit that is not a positive integer.
   */
  constructor(options: RegistryServiceOptions = {}) {
    this.#maxEntries = positiveInteger(
      options.maxEntries,
      DEFAULT_MAX_ENTRIES,
      "maxEntries",
    );
    this.#maxWatchers = positiveInteger(
      options.maxWatchers,
      DEFAULT_MAX_WATCHERS,
      "maxWatchers",
    );
    this.#watchers = new Watchers(options.log ?? console.error);
    const warmup = options.warmup ?? DEFAULT_WARMUP;
    if (!(typeof warmup === "number" && warmup >= 0)) {
      throw new RangeError(
        `Cannot use warmup ${warmup}: expected a number of milliseconds >= 0`,
      );
    }
    if (warmup > 0) {
      this.#warm = new Promise((resolve) => this.#endWarmup = resolve);
      this.#warmTimer = setTimeout(() => {
        this.#warm = null;
        this.#endWarmup();
      }, warmup);
    }
  }

  /**
   * Registers instances under a new lease of `ttl` milliseconds. An
   * instance already registered (same name and id) moves to the new lease.
   *
   * @param instances One to 256 instances.
   * @param ttl Milliseconds before the lease expires without a heartbeat.
   * @returns The lease id, for `heartbeat` and `withdraw`.
   * @throws {TypeError} On an instance of the wrong shape.
   * @throws {RangeError} On a TTL out of range or a full registry.
   */
  @exposed
  register(instances: unknown, ttl: unknown): string {
    this.#checkOpen();
    if (!Array.isArray(instances) || instances.length === 0) {
      throw new TypeError(
        "Cannot register: expected a non-empty array of instances",
      );
    }
    if (instances.length > MAX_BATCH) {
      throw new RangeError(
        `Cannot register ${instances.length} instances at once: the limit is ${MAX_BATCH}`,
      );
    }
    const checked = instances.map(checkInstance);
    const lifetime = checkTtl(ttl);
    const added = checked.filter((i) => !this.#entries.has(instanceKey(i)));
    if (
      this.#entries.size + added.length > this.#maxEntries ||
      this.#leases.size >= this.#maxEntries
    ) {
      throw new RangeError(
        `Cannot register ${checked.length} instances: the registry holds ${this.#entries.size} of at most ${this.#maxEntries}`,
      );
    }
    const id = crypto.randomUUID();
    const lease: Lease = {
      ttl: lifetime,
      expiresAt: performance.now() + lifetime,
      keys: new Set(),
    };
    this.#leases.set(id, lease);
    const events: RegistryEvent[] = [];
    for (const instance of checked) {
      const key = instanceKey(instance);
      const previous = this.#entries.get(key);
      if (previous !== undefined) {
        this.#leases.get(previous.lease)?.keys.delete(key);
      }
      lease.keys.add(key);
      this.#entries.set(key, { instance, lease: id });
      events.push({ type: "added", instance });
    }
    this.#schedule(lease.expiresAt);
    this.#watchers.notify(events);
    return id;
  }

  /**
   * Renews a lease for another TTL.
   *
   * @param lease A lease id from `register`.
   * @returns False if the lease is unknown (expired, withdrawn, or the
   *   registry restarted): the caller registers again.
   */
  @exposed
  heartbeat(lease: unknown): boolean {
    if (typeof lease !== "string") return false;
    const held = this.#leases.get(lease);
    if (held === undefined) return false;
    held.expiresAt = performance.now() + held.ttl;
    return true;
  }

  /**
   * Removes a lease and its entries now.
   *
   * @param lease A lease id from `register`.
   * @returns Whether the lease existed.
   */
  @exposed
  withdraw(lease: unknown): boolean {
    if (typeof lease !== "string" || !this.#leases.has(lease)) return false;
    this.#expire(lease);
    return true;
  }

  /**
   * Lists the instances, ordered by name then id (after the warm-up).
   *
   * @param name Only this service's instances (`null` or left out: all).
   * @returns Copies of the instances.
   * @throws {TypeError} On a malformed name.
   */
  @exposed
  async list(name?: unknown): Promise<ServiceInstance[]> {
    const only = name === undefined || name === null
      ? null
      : checkName(name, "service name");
    await this.#warm;
    return this.#snapshot(only);
  }

  #snapshot(only: string | null): ServiceInstance[] {
    const found: ServiceInstance[] = [];
    for (const { instance } of this.#entries.values()) {
      if (only === null || instance.name === only) found.push(instance);
    }
    return found.sort(byNameThenId);
  }

  /**
   * Starts a watch: `listener` receives batches of events until `unwatch`
   * or until the caller's connection closes.
   *
   * @param name Only this service (`null`: every service).
   * @param listener Receives arrays of events; called again only once the
   *   previous call has settled, with everything that happened meanwhile.
   * @returns The watch id and the snapshot it starts from (after the
   *   warm-up).
   * @throws {TypeError} If `listener` is not a function.
   * @throws {RangeError} If the registry has its maximum of watches.
   */
  @exposed
  async watch(name: unknown, listener: unknown): Promise<WatchStart> {
    let connection: Connection | null = null;
    try {
      connection = currentCall().connection;
    } catch {
      // Called in-process, not over a connection.
    }
    this.#checkOpen();
    const only = name === null || name === undefined
      ? null
      : checkName(name, "service name");
    if (typeof listener !== "function") {
      throw new TypeError("Cannot watch: listener must be a function");
    }
    await this.#warm;
    this.#checkOpen();
    if (this.#watchers.size >= this.#maxWatchers) {
      throw new RangeError(
        `Cannot watch: the registry has its maximum of ${this.#maxWatchers} watches`,
      );
    }
    const id = this.#watchers.add(
      only,
      listener as (events: RegistryEvent[]) => unknown,
      connection,
    );
    return { id, instances: this.#snapshot(only) };
  }

  /**
   * Ends a watch.
   *
   * @param id A watch id from `watch`.
   * @returns Whether the watch existed.
   */
  @exposed
  unwatch(id: unknown): boolean {
    if (typeof id !== "number") return false;
    return this.#watchers.drop(id);
  }

  /**
   * Ends the watches of a connection that closed.
   *
   * @param conn The closed connection.
   */
  onDisconnect(conn: Connection): void {
    this.#watchers.dropConnection(conn);
  }

  /** The number of instances held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stops the expiry timer and ends every watch; the registry then refuses registrations. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#warmTimer);
    this.#warm = null;
    this.#endWarmup();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watchers.clear();
    this.#entries.clear();
    this.#leases.clear();
  }

  /** Same as {@linkcode RegistryService.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("Cannot use the registry: it is closed");
  }

  #expire(id: string): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    this.#leases.delete(id);
    const events: RegistryEvent[] = [];
    for (const key of lease.keys) {
      const entry = this.#entries.get(key);
      if (entry?.lease !== id) continue; // Taken over by a newer lease.
      this.#entries.delete(key);
      events.push({ type: "removed", instance: entry.instance });
    }
    this.#watchers.notify(events);
  }

  // One timer, armed for the earliest expiry. Heartbeats only push expiries
  // later, so they never re-arm it: when it fires early, the sweep finds
  // nothing due and re-arms it for the new earliest.
  #schedule(at: number): void {
    if (this.#closed || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => this.#sweep(),
      Math.max(0, at - performance.now()),
    );
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [id, lease] of [...this.#leases]) {
      if (lease.expiresAt <= now) this.#expire(id);
      else next = Math.min(next, lease.expiresAt);
    }
    if (next !== Infinity) this.#schedule(next);
  }
}
