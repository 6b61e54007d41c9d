/**
 * The etcd backend (`etcd://host:port,host:port/prefix`), for services that
 * span many machines, over etcd's own JSON gateway (no client library):
 * each registration is an etcd lease kept alive every third of its TTL, so
 * a dead server's keys vanish with its lease; `watch()` follows etcd's watch
 * stream from the revision of its snapshot. Keys are
 * `<prefix>/services/<name>/<id>`, values the instance as JSON.
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
import { EtcdRegistration } from "./etcd_lease.ts";
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

/** Options of the etcd backend (`openRegistry` fills them from the URL). */
export interface EtcdRegistryOptions {
  /** Client URLs of the members, such as `http://10.0.0.1:2379`. */
  hosts: string[];
  /** The deployment's key prefix (`/netref`): every key lives under it. */
  prefix?: string;
  /** etcd user and password, if the cluster has authentication on. */
  auth?: { username: string; password: string };
  /** Milliseconds each etcd request may take (5000). */
  timeout?: number;
  /** Receives lease losses, re-registrations, watch interruptions. */
  log?: (message: string) => void;
}

// The body of a request over every key under `prefix`, which ends in "/":
// they sort before the same text ending in "0", the byte after "/".
const under = (prefix: string): Json => ({
  key: toBase64(prefix),
  range_end: toBase64(`${prefix.slice(0, -1)}0`),
});

/**
 * The etcd backend. Make it with `openRegistry("etcd://...")`.
 *
 * @example
 * ```ts ignore
 * import { EtcdRegistry } from "./etcd.ts";
 * await using registry = new EtcdRegistry({ hosts: ["http://127.0.0.1:2379"], prefix: "/prod" });
 * console.log(await registry.list("test"));
 * ```
 */
export class EtcdRegistry implements Registry {
  readonly url: string;
  #client: EtcdClient;
  #prefix: string;
  #log: (message: string) => void;
  #registrations = new Set<EtcdRegistration>();
  #watches = new Map<EventQueue<RegistryEvent>, Promise<void>>();

  /**
   * Makes the client; it connects on first use.
   *
   * @param options The cluster, the deployment's prefix, credentials.
   * @throws {TypeError} Without hosts, or with a malformed prefix.
   */
  constructor(options: EtcdRegistryOptions) {
    const { hosts, auth, log = console.error } = options;
    if (!Array.isArray(hosts) || hosts.length === 0) {
      throw new TypeError("Cannot use etcd: expected at least one host");
    }
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
    this.#client = new EtcdClient({ hosts, auth, timeout, url: this.url });
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
      this.#log(`ignoring etcd key ${key}: ${errorMessage(error)}`);
      return null;
    }
  }

  #snapshot(what: string, name?: string) {
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
    const registration = new EtcdRegistration({
      client: this.#client,
      key: (instance) => this.#prefix + instanceKey(instance),
      instances: checked,
      ttlSeconds: Math.max(1, Math.ceil(ttl / 1000)),
      log: options.log ?? this.#log,
    });
    await registration.start();
    this.#registrations.add(registration);
    registration.withdrawn.then(() => this.#registrations.delete(registration));
    return registration;
  }

  /** {@inheritDoc Registry.list} */
  async list(name?: string): Promise<ServiceInstance[]> {
    return (await this.#snapshot("list", name)).instances.sort(byNameThenId);
  }

  /** {@inheritDoc Registry.watch} */
  watch(options: WatchOptions = {}): AsyncIterableIterator<RegistryEvent> {
    if (options.name !== undefined) checkName(options.name, "service name");
    const stop = new AbortController();
    const queue = new EventQueue<RegistryEvent>(
      () => stop.abort(),
      options.signal,
    );
    this.#watches.set(
      queue,
      this.#follow(options.name, queue, stop.signal)
        .finally(() => this.#watches.delete(queue)),
    );
    return queue;
  }

  // A snapshot, then etcd's watch from the revision after it; when the
  // stream ends (etcd restarted, a member failed, the revision was
  // compacted), a new snapshot reconciled against what the watcher knew.
  async #follow(
    name: string | undefined,
    queue: EventQueue<RegistryEvent>,
    signal: AbortSignal,
  ): Promise<void> {
    const known = new Map<string, ServiceInstance>();
    const stopped = new Promise((resolve) => {
      signal.addEventListener("abort", resolve, { once: true });
    });
    for (let failing = false; !signal.aborted; await delay(500, stopped)) {
      try {
        const snapshot = await this.#snapshot("watch", name);
        for (const event of reconcile(known, snapshot.instances)) {
          queue.push(event);
        }
        const start_revision = String(snapshot.revision + 1n);
        const answers = await this.#client.stream("watch", "/v3/watch", {
          create_request: { ...under(snapshot.prefix), start_revision },
        }, signal);
        for await (const answer of answers) {
          const { canceled, cancel_reason, events } = answer;
          // Compacted past our revision, or refused: read afresh.
          if (canceled === true) {
            throw new Error(`etcd ended it: ${cancel_reason ?? "compacted"}`);
          }
          failing = false;
          for (
            const { type, kv } of list(events).map((e) => object(e, "event"))
          ) {
            const instance = type !== "DELETE" ? this.#parse(kv) : known.get(
              fromBase64(object(kv, "its kv").key, "its key")
                .slice(this.#prefix.length),
            );
            if (!instance) continue;
            const event: RegistryEvent = {
              type: type === "DELETE" ? "removed" : "added",
              instance,
            };
            if (apply(known, event)) queue.push(event);
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
    this.#client.close();
  }

  /** Same as {@linkcode EtcdRegistry.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
