/**
 * Service discovery's shared vocabulary: the `Registry` interface that both
 * backends implement (the embedded netref registry and etcd), the records
 * they hold, their errors, and the checks every backend applies to them.
 *
 * @module
 */

/** The service name the embedded registry announces in the handshake. */
export const REGISTRY_SERVICE_NAME = "netref-registry";

/** One running instance of a service, as a registry lists it. */
export interface ServiceInstance {
  /** The service name clients look up, such as `"test"`. */
  readonly name: string;
  /** Unique among the instances of `name`; `"hostname:port"` unless given. */
  readonly id: string;
  /** The host clients dial. */
  readonly hostname: string;
  /** The port clients dial. */
  readonly port: number;
  /** Free-form labels (version, zone, ...), strings only. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What a server announces: a {@linkcode ServiceInstance} whose `id` and `metadata` may be left out. */
export interface InstanceInit {
  /** The service name. */
  name: string;
  /** The host clients dial. */
  hostname: string;
  /** The port clients dial. */
  port: number;
  /**
   * Unique among the instances of `name`.
   *
   * @default {"hostname:port"}
   */
  id?: string;
  /**
   * Free-form labels, strings only.
   *
   * @default {{}}
   */
  metadata?: Record<string, string>;
}

/** Options of {@linkcode Registry.register}. */
export interface RegisterOptions {
  /**
   * Milliseconds the entries live without a heartbeat; heartbeats go out
   * every third of it. etcd counts in whole seconds and raises a TTL below
   * its minimum (2 s with etcd's default election timeout).
   *
   * @default {10000}
   */
  ttl?: number;
  /**
   * Receives one line when heartbeats start failing and one when they
   * recover (and re-registrations).
   *
   * @default {console.error}
   */
  log?: (message: string) => void;
}

/**
 * Entries kept alive by heartbeats until withdrawn. When the registry is
 * unreachable the heartbeats keep trying; once it answers again the entries
 * are registered afresh if it forgot them (a restarted embedded registry, an
 * expired etcd lease).
 */
export interface Registration extends AsyncDisposable {
  /** The registered instances. */
  readonly instances: readonly ServiceInstance[];
  /** Whether the last heartbeat (or registration) reached the registry. */
  readonly healthy: boolean;
  /**
   * Stops the heartbeats and removes the entries at once. Never throws: if
   * the registry is unreachable, the entries expire with their TTL.
   * Calling it again does nothing.
   */
  withdraw(): Promise<void>;
}

/** A change to the registry's contents, as {@linkcode Registry.watch} yields it. */
export interface RegistryEvent {
  /**
   * `added`: the instance appeared or was registered again (possibly
   * changed); `removed`: it was withdrawn or expired.
   */
  readonly type: "added" | "removed";
  /** The instance. */
  readonly instance: ServiceInstance;
}

/** Options of {@linkcode Registry.watch}. */
export interface WatchOptions {
  /**
   * Only this service's instances.
   *
   * @default {undefined} (every service)
   */
  name?: string;
  /** Ends the watch: the iteration then finishes without error. */
  signal?: AbortSignal;
}

/**
 * A service registry: servers register instances that expire unless
 * heartbeats keep them alive; clients list and watch them. Implemented by
 * the embedded netref registry (`netref://host:port`) and by etcd
 * (`etcd://host:port/prefix`); `openRegistry(url)` picks one.
 */
export interface Registry extends AsyncDisposable {
  /** The URL it was opened with, without credentials. */
  readonly url: string;
  /**
   * Registers instances under one time-to-live and keeps them alive.
   *
   * @param instances The instances to register (one or more).
   * @param options The TTL and a log for heartbeat trouble.
   * @returns The registration; withdraw it to remove the entries.
   * @throws {TypeError} On an instance of the wrong shape.
   * @throws {RangeError} On a TTL or a name out of range.
   * @throws {RegistryError} If the registry cannot be reached or refuses.
   */
  register(
    instances: readonly InstanceInit[],
    options?: RegisterOptions,
  ): Promise<Registration>;
  /**
   * Lists the registered instances, ordered by name then id.
   *
   * @param name Only this service's instances; every service if left out.
   * @returns The instances.
   * @throws {RegistryError} If the registry cannot be reached.
   */
  list(name?: string): Promise<ServiceInstance[]>;
  /**
   * Watches the registry: first an `added` event for every current instance,
   * then every change. Across registry restarts and reconnections the watch
   * resumes and reports what changed meanwhile.
   *
   * @param options A service name to watch, and a signal that ends the watch.
   * @returns The events; breaking out of the loop ends the watch.
   */
  watch(options?: WatchOptions): AsyncIterableIterator<RegistryEvent>;
  /**
   * Withdraws every registration made through this object, ends its
   * watches, and closes its connections.
   */
  close(): Promise<void>;
}
