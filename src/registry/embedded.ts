/**
 * The client of the embedded registry (`netref://host:port`): a `Registry`
 * that speaks to a `RegistryService` over one netref connection, dialled
 * again whenever it drops. Holds no server code.
 *
 * @module
 */

import { delay } from "../timing.ts";
import { DEFAULT_REGISTRY_TIMEOUT } from "../defaults.ts";
import { errorMessage, RegistryError } from "../errors.ts";
import type { Connection, Remote } from "../core/types.ts";
import { withOptions } from "../core/proxy.ts";
import { connect } from "../client/connect.ts";
import {
  type InstanceInit,
  type RegisterOptions,
  type Registration,
  type Registry,
  REGISTRY_SERVICE_NAME,
  type RegistryEvent,
  type ServiceInstance,
  type WatchOptions,
} from "./types.ts";
import { checkName, checkRegistration } from "./validate.ts";
import { NetrefRegistration, type RegistryApi } from "./heartbeat.ts";
import { apply, EventQueue, reconcile } from "./watch_queue.ts";

/** Options of the embedded registry's client. */
export interface NetrefRegistryOptions {
  /** The registry's shared secret, if it requires one. */
  token?: string;
  /**
   * Milliseconds to wait for the registry: dialling, and each request.
   *
   * @default {5000}
   */
  timeout?: number;
  /**
   * Receives heartbeat trouble and recoveries.
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

/**
 * The embedded registry's client. Make it with `openRegistry("netref://...")`.
 *
 * @example
 * ```ts ignore
 * import { NetrefRegistry } from "./embedded.ts";
 * await using registry = new NetrefRegistry("127.0.0.1", 18810);
 * console.log(await registry.list());
 * ```
 */
export class NetrefRegistry implements Registry {
  readonly url: string;
  #hostname: string;
  #port: number;
  #timeout: number;
  #token: string | undefined;
  #log: (message: string) => void;
  #current: Connection<RegistryApi> | null = null;
  #dialing: Promise<Connection<RegistryApi>> | null = null;
  #registrations = new Set<NetrefRegistration>();
  #watches = new Map<EventQueue<RegistryEvent>, Promise<void>>();
  #closed = false;

  /**
   * Makes the client; it dials on first use.
   *
   * @param hostname The registry's host.
   * @param port The registry's port.
   * @param options Token, timeout and log.
   * @throws {RangeError} On a timeout out of range.
   */
  constructor(
    hostname: string,
    port: number,
    options: NetrefRegistryOptions = {},
  ) {
    this.#hostname = hostname;
    this.#port = port;
    this.url = `netref://${
      hostname.includes(":") ? `[${hostname}]` : hostname
    }:${port}`;
    this.#timeout = options.timeout ?? DEFAULT_REGISTRY_TIMEOUT;
    if (!(this.#timeout > 0)) {
      throw new RangeError(
        `Cannot use timeout ${this.#timeout}: expected a number > 0`,
      );
    }
    this.#token = options.token;
    this.#log = options.log ?? console.error;
  }

  /**
   * The registry's root, dialling it if no connection is open.
   *
   * @returns The remote `RegistryService`.
   * @throws {RegistryError} If it cannot be reached, or is not a registry.
   */
  async root(): Promise<Remote<RegistryApi>> {
    return (await this.connection()).root;
  }

  /**
   * The open connection to the registry, dialling it if there is none.
   *
   * @returns The connection.
   * @throws {RegistryError} If it cannot be reached, or is not a registry.
   */
  async connection(): Promise<Connection<RegistryApi>> {
    if (this.#closed) {
      throw new RegistryError(`Cannot use registry ${this.url}: it is closed`);
    }
    if (this.#current !== null && !this.#current.isClosed) return this.#current;
    this.#dialing ??= this.#dial().finally(() => this.#dialing = null);
    return await this.#dialing;
  }

  async #dial(): Promise<Connection<RegistryApi>> {
    let conn: Connection<RegistryApi>;
    try {
      conn = await connect<RegistryApi>(this.#hostname, this.#port, {
        token: this.#token,
        timeout: this.#timeout,
        handshakeTimeout: this.#timeout,
        log: this.#log,
        connectTimeout: this.#timeout,
      });
    } catch (error) {
      throw new RegistryError(
        `Cannot reach registry ${this.url}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    if (conn.peer.service !== REGISTRY_SERVICE_NAME) {
      await conn.close();
      throw new RegistryError(
        `Cannot use ${this.url} as a registry: it serves '${conn.peer.service}', not '${REGISTRY_SERVICE_NAME}'`,
      );
    }
    if (this.#closed) {
      await conn.close();
      throw new RegistryError(`Cannot use registry ${this.url}: it is closed`);
    }
    this.#current = conn;
    conn.closed.then(() => {
      if (this.#current === conn) this.#current = null;
    });
    return conn;
  }

  /**
   * Runs one request, turning every failure into a `RegistryError`.
   *
   * @param what The request, for messages.
   * @param request The request, given the registry's root.
   * @returns What the request returned.
   * @throws {RegistryError} If the registry is unreachable or refused.
   */
  async request<R>(
    what: string,
    request: (root: Remote<RegistryApi>) => PromiseLike<R>,
  ): Promise<R> {
    const root = await this.root();
    try {
      return await request(root);
    } catch (error) {
      throw new RegistryError(
        `Cannot ${what} at registry ${this.url}: ${errorMessage(error)}`,
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
    const lease = await this.request(
      "register",
      (root) => root.register(checked, ttl),
    );
    const registration = new NetrefRegistration({
      registry: this,
      instances: checked,
      ttl,
      lease,
      log: options.log ?? this.#log,
      timeout: Math.min(this.#timeout, ttl),
      forget: (r) => this.#registrations.delete(r),
    });
    this.#registrations.add(registration);
    return registration;
  }

  /** {@inheritDoc Registry.list} */
  async list(name?: string): Promise<ServiceInstance[]> {
    const only = name === undefined ? null : checkName(name, "service name");
    return await this.request("list", (root) => root.list(only));
  }

  /** {@inheritDoc Registry.watch} */
  watch(options: WatchOptions = {}): AsyncIterableIterator<RegistryEvent> {
    const name = options.name === undefined
      ? null
      : checkName(options.name, "service name");
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => stop = resolve);
    const queue = new EventQueue<RegistryEvent>(stop, options.signal);
    this.#watches.set(queue, this.#watchLoop(name, queue, stopped));
    return queue;
  }

  // Subscribes, and after every drop of the connection subscribes again
  // and reports the difference between the fresh snapshot and what the
  // watcher knew.
  async #watchLoop(
    name: string | null,
    queue: EventQueue<RegistryEvent>,
    stopped: Promise<void>,
  ): Promise<void> {
    const known = new Map<string, ServiceInstance>();
    let backoff = 100;
    while (!queue.ended) {
      let conn: Connection<RegistryApi> | null = null;
      let id: number | null = null;
      try {
        conn = await this.connection();
        let early: RegistryEvent[] | null = [];
        const listener = (events: RegistryEvent[]) => {
          if (early !== null) early.push(...events);
          else for (const e of events) if (apply(known, e)) queue.push(e);
        };
        const watching = Promise.resolve(conn.root.watch(name, listener));
        // A registry warming up answers late: do not hold up the stop.
        const start = await Promise.race([watching, stopped.then(() => null)]);
        if (start === null) {
          const root = conn.root;
          watching.then(
            (late) => withOptions(root, { timeout: 1000 }).unwatch(late.id),
          ).then(() => {}, () => {});
          continue;
        }
        id = start.id;
        for (const e of reconcile(known, start.instances)) queue.push(e);
        // Events sent before the answer was read follow the snapshot.
        for (const e of early) if (apply(known, e)) queue.push(e);
        early = null;
        backoff = 100;
        await Promise.race([conn.closed, stopped]);
      } catch {
        // Unreachable for now: try again after the backoff.
      }
      if (queue.ended) {
        if (conn !== null && id !== null && !conn.isClosed) {
          await withOptions(conn.root, { timeout: 1000 }).unwatch(id)
            .then(() => {}, () => {});
        }
        break;
      }
      await delay(backoff, stopped);
      backoff = Math.min(backoff * 2, 2000);
    }
    this.#watches.delete(queue);
  }

  /** {@inheritDoc Registry.close} */
  async close(): Promise<void> {
    if (this.#closed) return;
    const watches = [...this.#watches];
    for (const [queue] of watches) queue.end();
    await Promise.all(watches.map(([, loop]) => loop));
    await Promise.all([...this.#registrations].map((r) => r.withdraw()));
    this.#closed = true;
    await this.#dialing?.catch(() => {});
    await this.#current?.close();
    this.#current = null;
  }

  /** Same as {@linkcode NetrefRegistry.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
