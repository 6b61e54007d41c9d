/**
 * The etcd backend (`etcd://host:port,host:port/prefix`), for services that
 * span many machines: each registration is an etcd lease kept alive by the
 * `etcd3` client's keep-alive stream, so a dead server's keys vanish with
 * its lease; `watch()` follows etcd's watch stream from the revision of its
 * snapshot. Keys are `<prefix>/services/<name>/<id>`, values the instance
 * as JSON.
 *
 * @module
 */

import { DEFAULT_REGISTRY_TIMEOUT } from "../defaults.ts";
import { errorMessage, RegistryError } from "../errors.ts";
import {
  Etcd3,
  type IKeyValue,
  type IOptions,
  isRecoverableError,
} from "etcd3";
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
} from "./validate.ts";
import { apply, EventQueue, reconcile } from "./watch_queue.ts";

/** Options of the etcd backend. */
export interface EtcdRegistryOptions {
  /** Client URLs of the etcd cluster's members, such as `http://10.0.0.1:2379`. */
  hosts: string[];
  /**
   * The deployment's key prefix: every key lives under it.
   *
   * @default {"/netref"}
   */
  prefix?: string;
  /** etcd user and password, if the cluster has authentication on. */
  auth?: { username: string; password: string };
  /**
   * Milliseconds each etcd request may take.
   *
   * @default {5000}
   */
  timeout?: number;
  /**
   * Receives lease losses and re-registrations.
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

type FaultHandling = NonNullable<IOptions["faultHandling"]>;
type Backoff = NonNullable<FaultHandling["watchBackoff"]>;
type HostPolicy = ReturnType<NonNullable<FaultHandling["host"]>>;

// etcd3's default watch backoff grows to 30 s; a registry's watchers should
// notice a restarted etcd within a second.
const WATCH_BACKOFF: Backoff = {
  duration: 500,
  next() {
    return WATCH_BACKOFF;
  },
};

const NEVER = new AbortController().signal;

/**
 * A circuit breaker per cluster member: after 3 failures in a row, the
 * member is skipped for a second. etcd3's default skips it for 5 s, which
 * keeps a restarted single-member etcd out of reach for that long. etcd3
 * calls only `execute()`, and tells an open circuit by `isBrokenCircuitError`.
 */
function hostBreaker(): HostPolicy {
  let failures = 0;
  let openUntil = 0;
  const policy = {
    async execute<T>(
      fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T,
      signal?: AbortSignal,
    ): Promise<T> {
      if (Date.now() < openUntil) {
        throw Object.assign(
          new Error("Execution prevented because the circuit breaker is open"),
          { isBrokenCircuitError: true },
        );
      }
      try {
        const result = await fn({ signal: signal ?? NEVER });
        failures = 0;
        return result;
      } catch (error) {
        if (
          error instanceof Error && isRecoverableError(error) && ++failures >= 3
        ) {
          failures = 0;
          openUntil = Date.now() + 1000;
        }
        throw error;
      }
    },
  };
  return policy as unknown as HostPolicy;
}

/**
 * What an etcd client's failure means, in a plain sentence; its own text
 * (gRPC status codes, the circuit breaker) stays in the error's `cause`.
 *
 * @param error What the etcd client threw.
 * @param timeout The registry's timeout, in milliseconds.
 * @returns The sentence.
 */
function etcdReason(error: unknown, timeout: number): string {
  const name = error instanceof Error ? error.name : "";
  const message = errorMessage(error);
  if (
    (error as { isBrokenCircuitError?: unknown })?.isBrokenCircuitError ||
    /circuit breaker is open/.test(message)
  ) {
    return "no etcd member could be reached (the last 3 tries failed; the next is in a second); is etcd running there?";
  }
  if (/DeadlineExceeded|DEADLINE_EXCEEDED/.test(name + message)) {
    return `etcd did not answer within ${timeout} ms`;
  }
  if (
    /ConnectFailed|Unavailable|UNAVAILABLE|ECONNREFUSED/.test(name + message)
  ) {
    return "etcd cannot be reached; is it running there?";
  }
  if (/PermissionDenied|Authentication|auth/i.test(name)) {
    return `etcd refused the credentials or the permission: ${message}`;
  }
  return message;
}

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
  #client: Etcd3;
  #prefix: string;
  #timeout: number;
  #log: (message: string) => void;
  #registrations = new Set<EtcdRegistration>();
  #watches = new Set<EventQueue<RegistryEvent>>();
  #closed = false;

  /**
   * Makes the client; it connects on first use.
   *
   * @param options The cluster, the deployment's prefix, credentials.
   * @throws {TypeError} Without hosts, or with a malformed prefix.
   */
  constructor(options: EtcdRegistryOptions) {
    if (!Array.isArray(options.hosts) || options.hosts.length === 0) {
      throw new TypeError("Cannot use etcd: expected at least one host");
    }
    const prefix = (options.prefix ?? "/netref").replace(/\/+$/, "");
    // deno-lint-ignore no-control-regex
    if (/[\s\x00-\x1f]/.test(prefix)) {
      throw new TypeError(
        `Cannot use etcd prefix ${
          JSON.stringify(prefix)
        }: it contains whitespace`,
      );
    }
    this.#prefix = `${prefix}/services/`;
    this.#timeout = options.timeout ?? DEFAULT_REGISTRY_TIMEOUT;
    this.#log = options.log ?? console.error;
    this.url = `etcd://${
      options.hosts.map((h) => h.replace(/^https?:\/\//, "")).join(",")
    }${prefix}`;
    const timeout = this.#timeout;
    this.#client = new Etcd3({
      hosts: options.hosts,
      auth: options.auth,
      dialTimeout: timeout,
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + timeout },
      faultHandling: { host: hostBreaker, watchBackoff: WATCH_BACKOFF },
    });
  }

  /**
   * The key of an instance, or the prefix of a service's keys.
   *
   * @param name The service name; all services if left out.
   * @param id The instance id; all of the service's if left out.
   * @returns The key or prefix.
   */
  key(name?: string, id?: string): string {
    if (name === undefined) return this.#prefix;
    return id === undefined
      ? `${this.#prefix}${name}/`
      : `${this.#prefix}${name}/${id}`;
  }

  /**
   * Reads an instance from a key and value, or null (logged) if it is not
   * one of ours.
   *
   * @param kv The key and value.
   * @returns The instance, or null.
   */
  parse(kv: IKeyValue): ServiceInstance | null {
    try {
      return checkInstance(JSON.parse(kv.value.toString()));
    } catch (error) {
      this.#log(
        `ignoring etcd key ${kv.key.toString()}: ${errorMessage(error)}`,
      );
      return null;
    }
  }

  /**
   * Runs one etcd request, turning its failure into a `RegistryError`.
   *
   * @param what The request, for messages.
   * @param request The request.
   * @returns What it returned.
   * @throws {RegistryError} If etcd is unreachable or refused.
   */
  async request<R>(what: string, request: () => Promise<R>): Promise<R> {
    if (this.#closed) {
      throw new RegistryError(`Cannot use registry ${this.url}: it is closed`);
    }
    try {
      return await request();
    } catch (error) {
      throw new RegistryError(
        `Cannot ${what} at registry ${this.url}: ${
          etcdReason(error, this.#timeout)
        }`,
        { cause: error },
      );
    }
  }

  /** {@inheritDoc Registry.register} */
  async register(
    instances: readonly InstanceInit[],
    options: RegisterOptions = {},
  ): Promise<Registration> {
    const { checked, ttl } = checkRegistration(instances, options);
    const registration = new EtcdRegistration({
      registry: this,
      client: this.#client,
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
    const prefix = this.key(
      name === undefined ? undefined : checkName(name, "service name"),
    );
    const response = await this.request(
      "list",
      () => this.#client.getAll().prefix(prefix).exec(),
    );
    return response.kvs.map((kv) => this.parse(kv))
      .filter((i): i is ServiceInstance => i !== null)
      .sort(byNameThenId);
  }

  /** {@inheritDoc Registry.watch} */
  watch(options: WatchOptions = {}): AsyncIterableIterator<RegistryEvent> {
    const prefix = this.key(
      options.name === undefined
        ? undefined
        : checkName(options.name, "service name"),
    );
    const known = new Map<string, ServiceInstance>();
    let watcher: { cancel(): Promise<void> } | null = null;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const queue = new EventQueue<RegistryEvent>(() => {
      stopped = true;
      clearTimeout(retry);
      this.#watches.delete(queue);
      watcher?.cancel().catch(() => {});
    }, options.signal);
    this.#watches.add(queue);
    const start = async () => {
      try {
        const snapshot = await this.#client.getAll().prefix(prefix).exec();
        if (stopped) return;
        const instances = snapshot.kvs.map((kv) => this.parse(kv))
          .filter((i): i is ServiceInstance => i !== null);
        for (const e of reconcile(known, instances)) queue.push(e);
        const next = BigInt(snapshot.header.revision) + 1n;
        const created = await this.#client.watch().prefix(prefix)
          .startRevision(String(next)).create();
        if (stopped) return void created.cancel().catch(() => {});
        watcher = created;
        created.on("put", (kv) => {
          const instance = this.parse(kv);
          const event: RegistryEvent | null = instance === null
            ? null
            : { type: "added", instance };
          if (event !== null && apply(known, event)) queue.push(event);
        });
        created.on("delete", (kv) => {
          const instance = known.get(
            kv.key.toString().slice(this.#prefix.length),
          );
          const event: RegistryEvent | null = instance === undefined
            ? null
            : { type: "removed", instance };
          if (event !== null && apply(known, event)) queue.push(event);
        });
        // etcd3 resumes a dropped stream by itself; an error means the
        // watch was cancelled (a compacted revision): start afresh.
        created.on("error", () => {
          if (watcher !== created) return;
          watcher = null;
          created.cancel().catch(() => {});
          if (!stopped) retry = setTimeout(start, 500);
        });
      } catch {
        if (!stopped) retry = setTimeout(start, 500);
      }
    };
    start();
    return queue;
  }

  /** {@inheritDoc Registry.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const queue of [...this.#watches]) queue.end();
    await Promise.all([...this.#registrations].map((r) => r.withdraw()));
    this.#closed = true;
    this.#client.close();
  }

  /** Same as {@linkcode EtcdRegistry.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
