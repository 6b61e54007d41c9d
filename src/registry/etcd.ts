/**
 * The etcd backend (`etcd://host:port,host:port/prefix`) over etcd's JSON
 * gateway: each registration is a lease kept alive every third of its TTL,
 * so a dead server's keys `<prefix>/services/<name>/<id>` (the instance as
 * JSON) vanish with it; `watch()` follows etcd's watch from a snapshot.
 *
 * @module
 */

import { DEFAULT_REGISTRY_TIMEOUT } from "../defaults.ts";
import { errorMessage } from "../errors.ts";
import { delay } from "../timing.ts";
import {
  EtcdClient,
  fromBase64,
  int64,
  type Json,
  list,
  object,
  toBase64,
} from "./etcd_http.ts";
import type {
  InstanceInit,
  RegisterOptions,
  Registration,
  Registry,
  RegistryEvent,
  ServiceInstance,
  WatchOptions,
} from "./types.ts";
import {
  byNameThenId,
  checkInstance,
  checkName,
  checkRegistration,
  instanceKey,
} from "./validate.ts";
import { apply, EventQueue, reconcile } from "./watch_queue.ts";

/**
 * Options of the etcd backend, filled from the URL by `openRegistry`: the
 * members' client URLs (`http://10.0.0.1:2379`), the key prefix (`/netref`),
 * user and password, the timeout of each request (5000 ms), and the log
 * (`console.error`).
 */
export interface EtcdRegistryOptions {
  hosts: string[];
  prefix?: string;
  auth?: { username: string; password: string };
  timeout?: number;
  log?: (message: string) => void;
}

// The body of a request over every key under `prefix`, which ends in "/":
// they sort before the same text ending in "0", the byte after "/".
const under = (prefix: string): Json => ({
  key: toBase64(prefix),
  range_end: toBase64(`${prefix.slice(0, -1)}0`),
});

type Queue = EventQueue<RegistryEvent>;
const GRANT = "/v3/lease/grant";
const KEEPALIVE = "/v3/lease/keepalive";
const leaseId = (answer: Json) => int64(answer.ID, "its lease ID");
// Whether a keep-alive found the lease: etcd answers TTL 0 (left out) if not.
const alive = (answer: Json) => Number(int64(answer.TTL ?? "0", "TTL")) > 0;

/** The etcd backend. Make it with `openRegistry("etcd://...")`. */
export class EtcdRegistry implements Registry {
  readonly url: string;
  #client: EtcdClient;
  #prefix: string;
  #log: (message: string) => void;
  #registrations = new Set<Registration>();
  #watches = new Map<Queue, Promise<unknown>>();

  /** Makes the client, which connects on first use; throws a `TypeError`. */
  constructor(options: EtcdRegistryOptions) {
    const { hosts, auth, log = console.error } = options;
    if (!(hosts?.length > 0)) throw new TypeError("Cannot use etcd: no host");
    const prefix = (options.prefix ?? "/netref").replace(/\/+$/, "");
    // deno-lint-ignore no-control-regex
    if (/[\s\x00-\x1f]/.test(prefix)) {
      throw new TypeError(
        `Cannot use etcd prefix ${JSON.stringify(prefix)}: it has whitespace`,
      );
    }
    this.#prefix = `${prefix}/services/`;
    this.#log = log;
    const members = hosts.map((h) => h.replace(/^https?:\/\//, ""));
    this.url = `etcd://${members.join(",")}${prefix}`;
    const timeout = options.timeout ?? DEFAULT_REGISTRY_TIMEOUT;
    this.#client = new EtcdClient(hosts, auth, timeout, this.url);
  }

  // The instance a key holds, or null (logged) if it is not one of ours.
  #parse(kv: unknown): ServiceInstance | null {
    let key = "?";
    try {
      key = fromBase64(object(kv, "its kv").key, "its key");
      const value = fromBase64((kv as Json).value, "its value");
      const instance = checkInstance(JSON.parse(value));
      if (this.#prefix + instanceKey(instance) === key) return instance;
      throw new TypeError(`it holds ${instanceKey(instance)}`);
    } catch (error) {
      this.#log(
        `ignoring etcd key ${key.slice(0, 200)}: ${errorMessage(error)}`,
      );
      return null;
    }
  }

  #snapshot(name?: string, what = "watch") {
    const prefix = name === undefined
      ? this.#prefix
      : `${this.#prefix}${checkName(name, "service name")}/`;
    return this.#client.call(what, "/v3/kv/range", under(prefix), (answer) => {
      const header = object(answer.header, "its header");
      return {
        prefix,
        revision: BigInt(int64(header.revision, "its revision")),
        instances: list(answer.kvs).map((kv) => this.#parse(kv))
          .filter((i) => i !== null),
      };
    });
  }

  /** {@inheritDoc Registry.register} */
  async register(
    instances: readonly InstanceInit[],
    options: RegisterOptions = {},
  ): Promise<Registration> {
    const { checked, ttl } = checkRegistration(instances, options);
    const client = this.#client;
    const log = options.log ?? this.#log;
    const seconds = Math.max(1, Math.ceil(ttl / 1000));
    const names = [...new Set(checked.map(instanceKey))].join(", ");
    const revoke = (ID: string) =>
      client.call("withdraw", "/v3/lease/revoke", { ID }).catch(() => {});
    const grant = async (what: string) => {
      const TTL = String(seconds);
      const lease = await client.call(what, GRANT, { TTL }, leaseId);
      const put = (instance: ServiceInstance) =>
        client.call(what, "/v3/kv/put", {
          key: toBase64(this.#prefix + instanceKey(instance)),
          value: toBase64(JSON.stringify(instance)),
          lease,
        });
      await Promise.all(checked.map(put)).catch(async (error) => {
        await revoke(lease); // A failed put is the caller's to retry.
        throw error;
      });
      return lease;
    };
    let lease: string | null = await grant("register");
    let healthy = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let beating: Promise<void> | undefined;
    let withdrawing: Promise<void> | undefined;
    // A keep-alive every third of the TTL; a lease etcd no longer knows
    // (it expired while etcd was away, or was revoked) is granted afresh
    // with its keys; while etcd does not answer, retries every half second.
    const schedule = (ms: number) =>
      timer = setTimeout(() => beating = beat(), ms);
    const beat = async () => {
      let next = seconds * 1000 / 3;
      try {
        if (lease === null) {
          lease = await grant("register again");
          log(`registered ${names} again in etcd`);
        } else if (
          !await client.call("keep alive", KEEPALIVE, { ID: lease }, alive)
        ) {
          lease = null;
          next = 0;
          log(`etcd lease for ${names} lost (expired); registering again`);
        }
        if (!healthy) log(`keep-alives for ${names} reach etcd again`);
        healthy = true;
      } catch (error) {
        if (healthy) {
          log(`keep-alive for ${names} failed: ${errorMessage(error)}`);
        }
        healthy = false;
        next = Math.min(next, 500);
      }
      if (withdrawing === undefined) schedule(next);
    };
    schedule(seconds * 1000 / 3);
    const registration: Registration = {
      instances: Object.freeze(checked),
      get healthy() {
        return healthy;
      },
      // Revoking deletes the keys at once; if etcd does not answer, they
      // expire with the lease.
      withdraw: () =>
        withdrawing ??= (async () => {
          clearTimeout(timer);
          await beating;
          clearTimeout(timer);
          if (lease !== null) await revoke(lease);
          this.#registrations.delete(registration);
        })(),
      [Symbol.asyncDispose]: () => registration.withdraw(),
    };
    this.#registrations.add(registration);
    return registration;
  }

  /** {@inheritDoc Registry.list} */
  async list(name?: string): Promise<ServiceInstance[]> {
    return (await this.#snapshot(name, "list")).instances.sort(byNameThenId);
  }

  /** {@inheritDoc Registry.watch} */
  watch(options: WatchOptions = {}): AsyncIterableIterator<RegistryEvent> {
    const { name, signal } = options;
    if (name !== undefined) checkName(name, "service name");
    const stop = new AbortController();
    const queue = new EventQueue<RegistryEvent>(() => stop.abort(), signal);
    const done = () => this.#watches.delete(queue);
    this.#watches.set(queue, this.#follow(queue, stop.signal, name).then(done));
    return queue;
  }

  // A snapshot, then etcd's watch from the revision after it; when the
  // stream ends (etcd restarted, a member failed, the revision was
  // compacted), a new snapshot reconciled against what the watcher knew.
  async #follow(queue: Queue, signal: AbortSignal, name?: string) {
    const known = new Map<string, ServiceInstance>();
    const stopped = new Promise((resolve) => {
      signal.addEventListener("abort", resolve, { once: true });
    });
    for (let failing = false; !signal.aborted; await delay(500, stopped)) {
      try {
        const { prefix, revision, instances } = await this.#snapshot(name);
        reconcile(known, instances).forEach((event) => queue.push(event));
        const create_request = {
          ...under(prefix),
          start_revision: String(revision + 1n),
        };
        const answers = await this.#client.request(
          "watch",
          "/v3/watch",
          {
            create_request,
          },
          signal,
          (answers) => answers,
        );
        for await (const { canceled, cancel_reason, events } of answers) {
          if (canceled === true) {
            const why = String(cancel_reason ?? "compacted").slice(0, 200);
            throw new Error(`etcd ended it: ${why}`);
          }
          failing = false;
          for (const { type, kv } of list(events).map((e) => object(e, "e"))) {
            const instance = type !== "DELETE" ? this.#parse(kv) : known.get(
              fromBase64(object(kv, "its kv").key, "its key")
                .slice(this.#prefix.length),
            );
            const event: RegistryEvent | null = instance
              ? { type: type === "DELETE" ? "removed" : "added", instance }
              : null;
            if (event && apply(known, event)) queue.push(event);
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!failing) {
          this.#log(`etcd watch interrupted, resuming: ${errorMessage(error)}`);
        }
        failing = true;
      }
    }
  }

  /** {@inheritDoc Registry.close} */
  async close(): Promise<void> {
    const following = [...this.#watches.values()];
    for (const queue of this.#watches.keys()) queue.end();
    await Promise.all([...this.#registrations].map((r) => r.withdraw()));
    await Promise.all(following);
    this.#client.closed = true;
  }

  /** Same as {@linkcode EtcdRegistry.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
