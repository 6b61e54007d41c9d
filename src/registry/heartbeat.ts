/**
 * Heartbeats to the embedded registry: a registration's lease renewed every
 * third of its TTL, registered afresh when the registry forgot it, and
 * retried quickly while the registry is away.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { withOptions } from "../core/proxy.ts";
import type { Connection } from "../core/types.ts";
import type { NetrefRegistry } from "./embedded.ts";
import type { Registration, RegistryEvent, ServiceInstance } from "./types.ts";

/** The remote shape of `RegistryService`, as this client uses it. */
export interface RegistryApi {
  register(instances: ServiceInstance[], ttl: number): string;
  heartbeat(lease: string): boolean;
  withdraw(lease: string): boolean;
  list(name: string | null): ServiceInstance[];
  watch(
    name: string | null,
    listener: (events: RegistryEvent[]) => void,
  ): { id: number; instances: ServiceInstance[] };
  unwatch(id: number): boolean;
}

/** What a {@linkcode NetrefRegistration} is made with. */
export interface RegistrationContext {
  registry: NetrefRegistry;
  instances: ServiceInstance[];
  ttl: number;
  lease: string;
  log: (message: string) => void;
  timeout: number;
  forget: (registration: NetrefRegistration) => void;
}

/**
 * Entries on the embedded registry, kept alive by heartbeats.
 *
 * @example
 * ```ts ignore
 * import { NetrefRegistration } from "./heartbeat.ts";
 * const registration = new NetrefRegistration({ registry, instances, ttl: 10_000, lease, log: console.error, timeout: 5000, forget: () => {} });
 * await registration.withdraw();
 * ```
 */
export class NetrefRegistration implements Registration {
  readonly instances: readonly ServiceInstance[];
  #registry: NetrefRegistry;
  #ttl: number;
  #lease: string;
  #context: RegistrationContext;
  #healthy = true;
  #retryDelay = 100;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> | null = null;
  #watched: Connection | null = null;
  #withdrawn: Promise<void> | null = null;

  /**
   * Starts the heartbeats of a lease already granted.
   *
   * @param context The registry, the instances, the TTL and lease, a log.
   */
  constructor(context: RegistrationContext) {
    this.#registry = context.registry;
    this.instances = Object.freeze([...context.instances]);
    this.#ttl = context.ttl;
    this.#lease = context.lease;
    this.#context = context;
    this.#schedule(this.#ttl / 3);
  }

  /** Whether the last heartbeat reached the registry. */
  get healthy(): boolean {
    return this.#healthy;
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#run(), delay);
  }

  // Heartbeats every third of the TTL while the registry answers; while it
  // does not, tries again after 100 ms, doubling up to a second (or a third
  // of the TTL, if shorter), so that a restarted registry has its entries
  // back within a second, inside its warm-up.
  #run(): void {
    if (this.#beating !== null || this.#withdrawn !== null) return;
    this.#beating = this.#beat().finally(() => {
      this.#beating = null;
      if (this.#withdrawn !== null) return;
      if (this.#healthy) {
        this.#retryDelay = 100;
        this.#schedule(this.#ttl / 3);
      } else {
        this.#schedule(Math.min(this.#retryDelay, this.#ttl / 3));
        this.#retryDelay = Math.min(this.#retryDelay * 2, 1000);
      }
    });
  }

  async #beat(): Promise<void> {
    const names = [...new Set(this.instances.map((i) => i.name))].join(", ");
    try {
      const conn = await this.#registry.connection();
      if (conn !== this.#watched) {
        this.#watched = conn;
        // A dropped connection means a registry restarting, most likely:
        // start knocking at once rather than at the next heartbeat.
        conn.closed.then(() => {
          if (this.#watched === conn) this.#schedule(0);
        });
      }
      const root = withOptions(conn.root, { timeout: this.#context.timeout });
      if (!await root.heartbeat(this.#lease)) {
        // The registry forgot the lease: it restarted, or we were away
        // longer than the TTL.
        this.#lease = await root.register([...this.instances], this.#ttl);
        this.#context.log(
          `registered ${names} again at ${this.#registry.url}`,
        );
      }
      if (!this.#healthy) {
        this.#context.log(`heartbeats reach ${this.#registry.url} again`);
      }
      this.#healthy = true;
    } catch (error) {
      if (this.#healthy) {
        this.#context.log(
          `heartbeat for ${names} failed, retrying: ${errorMessage(error)}`,
        );
      }
      this.#healthy = false;
    }
  }

  /** Stops the heartbeats and withdraws the lease; never throws. */
  withdraw(): Promise<void> {
    this.#withdrawn ??= (async () => {
      clearTimeout(this.#timer);
      this.#watched = null;
      await this.#beating;
      clearTimeout(this.#timer);
      this.#context.forget(this);
      try {
        const root = await this.#registry.root();
        await withOptions(root, { timeout: this.#context.timeout })
          .withdraw(this.#lease);
      } catch {
        // Unreachable: the entries expire with their TTL.
      }
    })();
    return this.#withdrawn;
  }

  /** Same as {@linkcode NetrefRegistration.withdraw}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.withdraw();
  }
}
