/**
 * One registration in etcd: a lease kept alive by the `etcd3` client, the
 * instances' keys attached to it, and a new lease when it is lost.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import type { Etcd3, Lease } from "etcd3";
import type { EtcdRegistry } from "./etcd.ts";
import type { Registration, ServiceInstance } from "./types.ts";
import { instanceKey } from "./validate.ts";

/**
 * Instances under one etcd lease. A lost lease (etcd unreachable for
 * longer than the TTL, or the lease expired) is replaced by a new one and
 * the keys are put again, until withdrawn.
 *
 * @example
 * ```ts ignore
 * import { EtcdRegistration } from "./etcd_lease.ts";
 * const registration = new EtcdRegistration({ registry, client, instances, ttlSeconds: 10, log: console.error });
 * await registration.start();
 * ```
 */
export class EtcdRegistration implements Registration {
  readonly instances: readonly ServiceInstance[];
  /** Resolves once withdrawn. */
  readonly withdrawn: Promise<void>;
  #registry: EtcdRegistry;
  #client: Etcd3;
  #ttlSeconds: number;
  #log: (message: string) => void;
  #lease: Lease | null = null;
  #healthy = true;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #regranting: Promise<void> | null = null;
  #withdrawing: Promise<void> | null = null;
  #resolveWithdrawn!: () => void;

  /**
   * Prepares the registration; `start()` registers.
   *
   * @param init The registry (for keys), the etcd client, the instances,
   *   the TTL in seconds, and the log.
   */
  constructor(init: {
    registry: EtcdRegistry;
    client: Etcd3;
    instances: ServiceInstance[];
    ttlSeconds: number;
    log: (message: string) => void;
  }) {
    this.#registry = init.registry;
    this.#client = init.client;
    this.instances = Object.freeze([...init.instances]);
    this.#ttlSeconds = init.ttlSeconds;
    this.#log = init.log;
    this.withdrawn = new Promise((resolve) => this.#resolveWithdrawn = resolve);
  }

  /** Whether the lease's last keep-alive (or grant) reached etcd. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Grants the first lease and puts the keys; throws a `RegistryError`. */
  async start(): Promise<void> {
    try {
      await this.#registry.request("register", () => this.#grant());
    } catch (error) {
      await this.#lease?.revoke().catch(() => {});
      this.#lease = null;
      throw error;
    }
  }

  async #grant(): Promise<void> {
    const lease = this.#client.lease(this.#ttlSeconds);
    this.#lease = lease;
    lease.on("keepaliveFailed", () => this.#healthy = false);
    lease.on("keepaliveSucceeded", () => this.#healthy = true);
    await Promise.all(
      this.instances.map((instance) =>
        lease.put(this.#registry.key(instance.name, instance.id))
          .value(JSON.stringify(instance)).exec()
      ),
    );
    // Only now: a failed grant or put is the caller's to retry, not a loss.
    lease.on("lost", (error) => this.#lost(lease, error));
    this.#healthy = true;
  }

  #lost(lease: Lease, error: unknown): void {
    if (lease !== this.#lease || this.#withdrawing !== null) return;
    this.#healthy = false;
    this.#lease = null;
    this.#log(
      `etcd lease for ${this.#names()} lost (${
        errorMessage(error)
      }); registering again`,
    );
    this.#regrant(Math.min(500, this.#ttlSeconds * 250));
  }

  #regrant(delay: number): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#regranting = this.#grant().then(
        () => this.#log(`registered ${this.#names()} again in etcd`),
        () => {
          const lease = this.#lease;
          this.#lease = null;
          lease?.release();
          if (this.#withdrawing === null) {
            this.#regrant(Math.min(delay * 2, this.#ttlSeconds * 1000));
          }
        },
      ).finally(() => this.#regranting = null);
    }, delay);
  }

  #names(): string {
    return [...new Set(this.instances.map((i) => instanceKey(i)))].join(", ");
  }

  /** Revokes the lease, which deletes its keys; never throws. */
  withdraw(): Promise<void> {
    this.#withdrawing ??= (async () => {
      clearTimeout(this.#retry);
      await this.#regranting;
      const lease = this.#lease;
      this.#lease = null;
      // Revoking deletes the keys at once; if etcd is unreachable they
      // expire with the lease.
      await lease?.revoke().catch(() => lease.release());
      this.#resolveWithdrawn();
    })();
    return this.#withdrawing;
  }

  /** Same as {@linkcode EtcdRegistration.withdraw}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.withdraw();
  }
}
