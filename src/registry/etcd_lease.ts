/**
 * One registration in etcd: a lease, the instances' keys attached to it,
 * a keep-alive every third of its TTL, and a new lease when it is lost.
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { type EtcdClient, int64, toBase64 } from "./etcd_http.ts";
import type { Registration, ServiceInstance } from "./types.ts";
import { instanceKey } from "./validate.ts";

interface LeaseInit {
  client: EtcdClient;
  key: (instance: ServiceInstance) => string;
  ttlSeconds: number;
  log: (message: string) => void;
}

/**
 * Instances under one etcd lease. A lost lease (etcd unreachable for
 * longer than the TTL, or the lease revoked) is replaced by a new one and
 * the keys are put again, until withdrawn.
 *
 * @example
 * ```ts ignore
 * import { EtcdRegistration } from "./etcd_lease.ts";
 * const registration = new EtcdRegistration({ client, key, instances, ttlSeconds: 10, log: console.error });
 * await registration.start();
 * ```
 */
export class EtcdRegistration implements Registration {
  readonly instances: readonly ServiceInstance[];
  /** Resolves once withdrawn. */
  readonly withdrawn: Promise<void>;
  #init: LeaseInit;
  #names: string;
  #lease: string | null = null;
  #healthy = true;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> | null = null;
  #withdrawing: Promise<void> | null = null;
  #resolveWithdrawn!: () => void;

  /**
   * Prepares the registration; `start()` registers.
   *
   * @param init The client, each instance's key, the instances, the TTL
   *   in seconds, and the log.
   */
  constructor(
    init: LeaseInit & { instances: ServiceInstance[] },
  ) {
    this.#init = init;
    this.instances = Object.freeze([...init.instances]);
    this.#names = [...new Set(init.instances.map(instanceKey))].join(", ");
    this.withdrawn = new Promise((resolve) => this.#resolveWithdrawn = resolve);
  }

  /** Whether the lease's last keep-alive (or grant) reached etcd. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Grants the first lease and puts the keys; throws a `RegistryError`. */
  async start(): Promise<void> {
    this.#lease = await this.#grant("register");
    this.#schedule(this.#init.ttlSeconds * 1000 / 3);
  }

  async #grant(what: string): Promise<string> {
    const { client, key, ttlSeconds } = this.#init;
    const lease = await client.call(
      what,
      "/v3/lease/grant",
      { TTL: String(ttlSeconds) },
      (answer) => int64(answer.ID, "its lease ID"),
    );
    const put = (instance: ServiceInstance) =>
      client.call(what, "/v3/kv/put", {
        key: toBase64(key(instance)),
        value: toBase64(JSON.stringify(instance)),
        lease,
      });
    await Promise.all(this.instances.map(put)).catch(async (error) => {
      await this.#revoke(lease);
      throw error;
    });
    return lease;
  }

  #schedule(delay: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#beating = this.#beat().finally(() => this.#beating = null);
    }, delay);
  }

  // A keep-alive every third of the TTL; a lease etcd no longer knows is
  // granted afresh at once; while etcd does not answer, tries again every
  // half second (or third of the TTL, if shorter).
  async #beat(): Promise<void> {
    const { client, ttlSeconds, log } = this.#init;
    let delay = ttlSeconds * 1000 / 3;
    try {
      if (this.#lease === null) {
        this.#lease = await this.#grant("register again");
        log(`registered ${this.#names} again in etcd`);
      } else if (
        !await client.call(
          "keep alive",
          "/v3/lease/keepalive",
          { ID: this.#lease },
          (answer) => Number(int64(answer.TTL ?? "0", "its TTL")) > 0,
        )
      ) {
        this.#lease = null;
        delay = 0;
        log(`etcd lease for ${this.#names} lost (expired); registering again`);
      }
      if (!this.#healthy) log(`keep-alives for ${this.#names} reach etcd`);
      this.#healthy = true;
    } catch (error) {
      if (this.#healthy) {
        log(`keep-alive for ${this.#names} failed: ${errorMessage(error)}`);
      }
      this.#healthy = false;
      delay = Math.min(delay, 500);
    }
    if (this.#withdrawing === null) this.#schedule(delay);
  }

  // Revoking deletes the keys at once; if etcd does not answer, they
  // expire with the lease.
  #revoke(lease: string): Promise<unknown> {
    return this.#init.client.call("withdraw", "/v3/lease/revoke", { ID: lease })
      .catch(() => {});
  }

  /** Revokes the lease, which deletes its keys; never throws. */
  withdraw(): Promise<void> {
    this.#withdrawing ??= (async () => {
      clearTimeout(this.#timer);
      await this.#beating;
      clearTimeout(this.#timer);
      if (this.#lease !== null) await this.#revoke(this.#lease);
      this.#resolveWithdrawn();
    })();
    return this.#withdrawing;
  }

  /** Same as {@linkcode EtcdRegistration.withdraw}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.withdraw();
  }
}
