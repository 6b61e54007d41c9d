/**
 * A {@linkcode Registry} backed by Python RPyC's TCP registry
 * (`rpyc_registry --mode TCP`, `rpyc://host:port`): one brine-encoded
 * request per connection, `("RPYC", command, args)`, answered by one brine
 * value before the registry closes the connection.
 *
 * RPyC's registry keeps less than netref's: service names (upper-cased, so
 * compared without case), and for each the address the registration came
 * from with the port it named. Instance ids and metadata are not kept, and
 * the registered host is the address this process dialled the registry
 * from, not the instance's `hostname`. Entries expire after the registry's
 * pruning timeout (`-t`, 240 s by default) unless registered again, which
 * this backend does every third of the TTL as RPyC servers do every minute.
 *
 * @module
 */

import { errorMessage, RegistryError } from "../errors.ts";
import { dump, load } from "../rpyc/brine.ts";
import { PyTuple } from "../rpyc/py_values.ts";
import type { BrineValue } from "../rpyc/py_values.ts";
import { DEFAULT_REGISTRY_TIMEOUT } from "../defaults.ts";
import { byNameThenId, checkName, checkRegistration } from "./validate.ts";
import type {
  InstanceInit,
  RegisterOptions,
  Registration,
  Registry,
  RegistryEvent,
  ServiceInstance,
  WatchOptions,
} from "./types.ts";

/** The most bytes one answer of RPyC's registry may take. */
const MAX_REPLY_BYTES = 1 << 20;
/** How often {@linkcode RpycTcpRegistry.watch} asks the registry again. */
const WATCH_POLL_MS = 1000;

/** Options of {@linkcode RpycTcpRegistry}. */
export interface RpycTcpRegistryOptions {
  /** Milliseconds each request may take. */
  timeout?: number;
  /** Receives heartbeat trouble and recoveries. */
  log?: (message: string) => void;
}

/**
 * Python RPyC's TCP registry, as a netref {@linkcode Registry}.
 *
 * @example
 * ```ts ignore
 * import { RpycTcpRegistry } from "./rpyc_tcp.ts";
 * await using registry = new RpycTcpRegistry("127.0.0.1", 18811);
 * console.log(await registry.list("TEST"));
 * ```
 */
export class RpycTcpRegistry implements Registry {
  readonly url: string;
  #hostname: string;
  #port: number;
  #timeout: number;
  #log: (message: string) => void;
  #registrations = new Set<RpycRegistration>();
  #closed = new AbortController();

  /**
   * Makes a client of the registry at `hostname:port`; it dials on first use.
   *
   * @param hostname The registry's host.
   * @param port The registry's TCP port.
   * @param options A timeout per request and a log.
   */
  constructor(
    hostname: string,
    port: number,
    options: RpycTcpRegistryOptions = {},
  ) {
    this.#hostname = hostname;
    this.#port = port;
    this.#timeout = options.timeout ?? DEFAULT_REGISTRY_TIMEOUT;
    this.#log = options.log ?? console.error;
    this.url = `rpyc://${
      hostname.includes(":") ? `[${hostname}]` : hostname
    }:${port}`;
  }

  /**
   * Sends one request and returns the registry's answer.
   *
   * @param command `REGISTER`, `UNREGISTER`, `QUERY` or `LIST`.
   * @param args The command's arguments.
   * @returns The decoded answer.
   * @throws {RegistryError} If the registry cannot be reached, does not
   *   answer within the timeout, or answers something that is not brine.
   */
  async request(command: string, args: BrineValue[]): Promise<BrineValue> {
    const request = dump(PyTuple.of("RPYC", command, new PyTuple(args)));
    let conn: Deno.TcpConn | undefined;
    let decided = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RegistryError(
              `Registry ${this.url} did not answer ${command} within ${this.#timeout} ms: check that it runs in TCP mode (rpyc_registry --mode TCP)`,
            ),
          ),
        this.#timeout,
      );
    });
    const dialled = Deno.connect({
      hostname: this.#hostname,
      port: this.#port,
    });
    // Closed if it connects only after the timeout.
    dialled.then((c) => {
      if (decided) c.close();
    }, () => {});
    try {
      conn = await Promise.race([dialled, timedOut]);
      // RPyC's registry reads the request with one recv(): one write.
      await Promise.race([conn.write(request), timedOut]);
      const reply = await Promise.race([readAll(conn, this.url), timedOut]);
      return load(reply);
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError(
        `Cannot ${command} at registry ${this.url}: ${errorMessage(error)}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
      try {
        conn?.close();
      } catch {
        // Already closed by the registry.
      }
      decided = true;
    }
  }

  /**
   * Registers the instances: one `REGISTER` per port, naming every service
   * on it, repeated every third of the TTL.
   */
  async register(
    instances: readonly InstanceInit[],
    options: RegisterOptions = {},
  ): Promise<Registration> {
    const { checked, ttl } = checkRegistration(instances, options);
    const registration = new RpycRegistration(
      this,
      checked,
      ttl,
      options.log ?? this.#log,
      (r) => this.#registrations.delete(r),
    );
    await registration.registerAll();
    this.#registrations.add(registration);
    registration.start();
    return registration;
  }

  /**
   * Lists the instances of `name` (by `QUERY`), or of every service (by
   * `LIST` then `QUERY`, which needs the registry started with `--listing`).
   * Names come back upper-cased, as RPyC keeps them; ids are `host:port`.
   */
  async list(name?: string): Promise<ServiceInstance[]> {
    let names: string[];
    if (name === undefined) {
      const listed = await this.request("LIST", [PyTuple.of(null)]);
      if (!(listed instanceof PyTuple)) {
        throw new RegistryError(
          `Cannot list every service at registry ${this.url}: it does not allow listing (start it with rpyc_registry --listing true), or name a service`,
        );
      }
      names = listed.items.filter((n): n is string => typeof n === "string");
    } else {
      names = [checkName(name, "service name")];
    }
    const found: ServiceInstance[] = [];
    for (const service of names) {
      const upper = service.toUpperCase();
      const reply = await this.request("QUERY", [upper]);
      if (!(reply instanceof PyTuple)) {
        throw new RegistryError(
          `Registry ${this.url} answered QUERY ${upper} with something not a tuple of (host, port)`,
        );
      }
      for (const entry of reply.items) found.push(toInstance(upper, entry));
    }
    return found.sort(byNameThenId);
  }

  /**
   * Watches by asking the registry again every second (RPyC's registry
   * pushes nothing) and reporting the differences.
   */
  async *watch(options: WatchOptions = {}): AsyncIterableIterator<
    RegistryEvent
  > {
    const signal = AbortSignal.any([
      this.#closed.signal,
      ...(options.signal ? [options.signal] : []),
    ]);
    let known = new Map<string, ServiceInstance>();
    while (!signal.aborted) {
      let current: ServiceInstance[] | null = null;
      try {
        current = await this.list(options.name);
      } catch (error) {
        this.#log(
          `watching ${this.url} failed, retrying: ${errorMessage(error)}`,
        );
      }
      if (current !== null) {
        const next = new Map(current.map((i) => [`${i.name}\0${i.id}`, i]));
        for (const [key, instance] of known) {
          if (!next.has(key)) yield { type: "removed", instance };
        }
        for (const [key, instance] of next) {
          if (!known.has(key)) yield { type: "added", instance };
        }
        known = next;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, WATCH_POLL_MS);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done);
      });
    }
  }

  /** Withdraws every registration made through this object. */
  async close(): Promise<void> {
    this.#closed.abort();
    await Promise.all([...this.#registrations].map((r) => r.withdraw()));
  }

  /** Same as {@linkcode RpycTcpRegistry.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function toInstance(name: string, entry: BrineValue): ServiceInstance {
  const [hostname, port] = entry instanceof PyTuple ? entry.items : [];
  if (typeof hostname !== "string" || typeof port !== "number") {
    throw new RegistryError(
      `RPyC registry answered QUERY ${name} with an entry that is not (host, port)`,
    );
  }
  return Object.freeze({
    name,
    id: hostname.includes(":")
      ? `[${hostname}]:${port}`
      : `${hostname}:${port}`,
    hostname,
    port,
    metadata: Object.freeze({}),
  });
}

async function readAll(conn: Deno.TcpConn, url: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    total += n;
    if (total > MAX_REPLY_BYTES) {
      throw new RegistryError(
        `Registry ${url} answered with more than ${MAX_REPLY_BYTES} bytes`,
      );
    }
    chunks.push(buffer.slice(0, n));
  }
  if (total === 0) {
    throw new RegistryError(
      `Registry ${url} closed the connection without answering: it ignores requests it cannot parse`,
    );
  }
  const reply = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    reply.set(chunk, offset);
    offset += chunk.length;
  }
  return reply;
}

/** Entries on an RPyC registry, registered again every third of the TTL. */
class RpycRegistration implements Registration {
  readonly instances: readonly ServiceInstance[];
  #registry: RpycTcpRegistry;
  #ttl: number;
  #log: (message: string) => void;
  #forget: (r: RpycRegistration) => void;
  #healthy = true;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> | null = null;
  #withdrawn: Promise<void> | null = null;

  constructor(
    registry: RpycTcpRegistry,
    instances: ServiceInstance[],
    ttl: number,
    log: (message: string) => void,
    forget: (r: RpycRegistration) => void,
  ) {
    this.#registry = registry;
    this.instances = Object.freeze([...instances]);
    this.#ttl = ttl;
    this.#log = log;
    this.#forget = forget;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  #ports(): Map<number, string[]> {
    const ports = new Map<number, string[]>();
    for (const { name, port } of this.instances) {
      const names = ports.get(port) ?? [];
      if (!names.includes(name)) names.push(name);
      ports.set(port, names);
    }
    return ports;
  }

  /** Sends one `REGISTER` per port; throws a {@linkcode RegistryError}. */
  async registerAll(): Promise<void> {
    for (const [port, names] of this.#ports()) {
      const reply = await this.#registry.request("REGISTER", [
        new PyTuple(names),
        port,
      ]);
      if (reply !== "OK") {
        throw new RegistryError(
          `Registry ${this.#registry.url} refused to register ${
            names.join(", ")
          } on port ${port}`,
        );
      }
    }
  }

  start(): void {
    this.#timer = setTimeout(() => this.#beat(), this.#ttl / 3);
  }

  #beat(): void {
    if (this.#withdrawn !== null) return;
    this.#beating = this.registerAll().then(() => {
      if (!this.#healthy) {
        this.#log(`registrations reach ${this.#registry.url} again`);
      }
      this.#healthy = true;
    }, (error) => {
      if (this.#healthy) {
        this.#log(`registering again failed, retrying: ${errorMessage(error)}`);
      }
      this.#healthy = false;
    }).finally(() => {
      this.#beating = null;
      if (this.#withdrawn !== null) return;
      this.#timer = setTimeout(
        () => this.#beat(),
        this.#healthy ? this.#ttl / 3 : Math.min(1000, this.#ttl / 3),
      );
    });
  }

  /** Stops re-registering and sends `UNREGISTER` per port; never throws. */
  withdraw(): Promise<void> {
    this.#withdrawn ??= (async () => {
      clearTimeout(this.#timer);
      await this.#beating;
      clearTimeout(this.#timer);
      this.#forget(this);
      for (const port of this.#ports().keys()) {
        try {
          await this.#registry.request("UNREGISTER", [port]);
        } catch {
          // Unreachable: the entries expire with the pruning timeout.
        }
      }
    })();
    return this.#withdrawn;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.withdraw();
  }
}
