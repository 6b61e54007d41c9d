/**
 * The client side of discovery: `discover()` lists a service's instances,
 * `connectByService()` connects to one of them, trying the next on failure.
 *
 * Each client remembers, per registry and service, the last list the
 * registry gave: while the registry is unreachable (restarting, say) it
 * keeps using that list, so calls go on to the instances it knew.
 *
 * @module
 */

import { connect, type ConnectOptions } from "../client/connect.ts";
import type { Connection } from "../core/types.ts";
import { DEFAULT_FAILURE_PENALTY, DEFAULT_REGISTRY_WAIT } from "../defaults.ts";
import { RegistryError, ServiceUnavailableError } from "../errors.ts";
import { withTimeout } from "../timing.ts";
import type { Registry, ServiceInstance } from "./types.ts";
import { checkName, instanceKey } from "./validate.ts";

/**
 * How `connectByService()` orders a service's instances:
 * `"round-robin"` takes them in turn (per client, registry and service),
 * `"random"` in a random order. Either way, instances that failed a
 * connection recently come last, and the next one is tried after a failure.
 */
export type SelectionPolicy = "round-robin" | "random";

/** Options of {@linkcode discover}. */
export interface DiscoverOptions {
  /**
   * Milliseconds to wait for the registry before answering from the last
   * list it gave, when there is one (the registry's answer, when it comes,
   * still refreshes that list).
   *
   * @default {1000}
   */
  registryWait?: number;
}

/** Options of {@linkcode connectByService}. */
export interface ConnectByServiceOptions
  extends ConnectOptions, DiscoverOptions {
  /**
   * Which instance to try first.
   *
   * @default {"round-robin"}
   */
  policy?: SelectionPolicy;
  /**
   * Milliseconds one instance may take to connect (dial and handshake)
   * before the next one is tried.
   *
   * @default {3000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds for which an instance that failed to connect is tried
   * only after every other one.
   *
   * @default {10000}
   */
  failurePenalty?: number;
  /**
   * What the instances speak: `"netref"`, or `"rpyc"` for Python RPyC
   * servers (such as those found in an `rpyc://` registry), reached with
   * `connectRpyc()` (a `token` is then not used).
   *
   * @default {"netref"}
   */
  protocol?: "netref" | "rpyc";
  /**
   * With `protocol: "rpyc"`, the instances' RPyC major version, as
   * `connectRpyc()`'s `version`: `5` reaches an RPyC 5 server without the
   * refused RPyC 6 attempt it would log as an error.
   *
   * @default {undefined} (RPyC 6, else 5)
   */
  rpycVersion?: 5 | 6;
}

interface ClientState {
  lists: Map<string, ServiceInstance[]>;
  asking: Map<string, Promise<ServiceInstance[]>>;
  turns: Map<string, number>;
  failures: Map<string, number>;
}

const states = new WeakMap<Registry, ClientState>();

function stateOf(registry: Registry): ClientState {
  let state = states.get(registry);
  if (state === undefined) {
    state = {
      lists: new Map(),
      asking: new Map(),
      turns: new Map(),
      failures: new Map(),
    };
    states.set(registry, state);
  }
  return state;
}

/**
 * Lists the instances of a service. If the registry cannot be reached, or
 * is slow to answer, the last list it gave for this service is returned.
 *
 * @param registry The registry, from `openRegistry()`.
 * @param name The service name.
 * @param options How long to wait for the registry when a list is cached.
 * @returns The instances, ordered by id (possibly none).
 * @throws {RegistryError} If the registry cannot be reached and no list
 *   was seen before.
 * @throws {TypeError} On a malformed name.
 *
 * @example
 * ```ts
 * import { discover, openRegistry } from "@netref/netref/registry";
 * await using registry = await openRegistry("netref://127.0.0.1:18810");
 * for (const i of await discover(registry, "test")) console.log(i.hostname, i.port);
 * ```
 */
export async function discover(
  registry: Registry,
  name: string,
  options: DiscoverOptions = {},
): Promise<ServiceInstance[]> {
  checkName(name, "service name");
  const state = stateOf(registry);
  // One question per service at a time, however many callers wait.
  let asked = state.asking.get(name);
  if (asked === undefined) {
    asked = registry.list(name).then((instances) => {
      state.lists.set(name, instances);
      return instances;
    }).finally(() => state.asking.delete(name));
    state.asking.set(name, asked);
  }
  const cached = state.lists.get(name);
  if (cached === undefined) return [...await asked];
  asked.catch(() => {}); // Answered from the cache below if it fails.
  try {
    return [
      ...await withTimeout(
        asked,
        options.registryWait ?? DEFAULT_REGISTRY_WAIT,
        () => state.lists.get(name) ?? cached,
      ),
    ];
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    return [...(state.lists.get(name) ?? cached)];
  }
}

function order(
  instances: ServiceInstance[],
  state: ClientState,
  name: string,
  options: ConnectByServiceOptions,
): ServiceInstance[] {
  let ordered: ServiceInstance[];
  if ((options.policy ?? "round-robin") === "random") {
    ordered = [...instances];
    for (let i = ordered.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [ordered[i], ordered[j]] = [ordered[j], ordered[i]];
    }
  } else {
    const turn = state.turns.get(name) ?? 0;
    state.turns.set(name, turn + 1);
    const start = turn % instances.length;
    ordered = [...instances.slice(start), ...instances.slice(0, start)];
  }
  const penalty = options.failurePenalty ?? DEFAULT_FAILURE_PENALTY;
  const now = Date.now();
  for (const [key, at] of state.failures) {
    if (now - at >= penalty) state.failures.delete(key);
  }
  const failedLately = (i: ServiceInstance) =>
    now - (state.failures.get(instanceKey(i)) ?? -Infinity) < penalty;
  return [
    ...ordered.filter((i) => !failedLately(i)),
    ...ordered.filter(failedLately),
  ];
}

/**
 * Connects to one instance of a service, chosen by the selection policy
 * (round robin unless told otherwise, see {@linkcode SelectionPolicy}); if
 * connecting fails (refused, timed out, handshake refused), tries the next
 * instance, until one answers. An instance that failed is tried last for
 * `failurePenalty` ms, so a killed server costs each client one attempt
 * while the registry still lists it.
 *
 * @typeParam T The type of the service, for a typed `root`.
 * @param registry The registry, from `openRegistry()`.
 * @param name The service name.
 * @param options Policy, timeouts, and `connect()`'s options.
 * @returns The connection to the chosen instance.
 * @throws {ServiceUnavailableError} If no instance is registered, or every
 *   one failed (its `cause` is an `AggregateError` of the failures).
 * @throws {RegistryError} If the registry cannot be reached and no list
 *   of the service was seen before.
 * @throws {TypeError} On a malformed name or option.
 * @throws {RangeError} On an option out of range.
 *
 * @example
 * ```ts
 * import { connectByService, openRegistry } from "@netref/netref/registry";
 * import type { TestService } from "../../examples/test_service.ts";
 * await using registry = await openRegistry("netref://127.0.0.1:18810");
 * await using conn = await connectByService<TestService>(registry, "test");
 * console.log(await conn.root.foo());
 * ```
 */
export async function connectByService<T = unknown>(
  registry: Registry,
  name: string,
  options: ConnectByServiceOptions = {},
): Promise<Connection<T>> {
  const {
    policy = "round-robin",
    connectTimeout = 3000,
    registryWait,
    failurePenalty: _,
    protocol = "netref",
    rpycVersion,
    ...connectOptions
  } = options;
  if (policy !== "round-robin" && policy !== "random") {
    throw new TypeError(
      `Cannot use policy ${
        JSON.stringify(policy)
      }: expected "round-robin" or "random"`,
    );
  }
  if (!(typeof connectTimeout === "number" && connectTimeout > 0)) {
    throw new RangeError(
      `Cannot use connectTimeout ${connectTimeout}: expected a number > 0`,
    );
  }
  if (protocol !== "netref" && protocol !== "rpyc") {
    throw new TypeError(
      `Cannot use protocol ${
        JSON.stringify(protocol)
      }: expected "netref" or "rpyc"`,
    );
  }
  // Loaded only when used: most clients never speak RPyC.
  const dial = protocol === "rpyc"
    ? await rpycDialler(rpycVersion)
    : (hostname: string, port: number, options: ConnectOptions) =>
      connect<T>(hostname, port, options);
  const instances = await discover(registry, name, { registryWait });
  if (instances.length === 0) {
    throw new ServiceUnavailableError(
      `Cannot connect to service '${name}': no instance is registered at ${registry.url}`,
    );
  }
  const state = stateOf(registry);
  const failures: Error[] = [];
  for (const instance of order(instances, state, name, options)) {
    const key = instanceKey(instance);
    try {
      const conn = await dial(instance.hostname, instance.port, {
        ...connectOptions,
        connectTimeout,
      });
      state.failures.delete(key);
      return conn as Connection<T>;
    } catch (error) {
      // Bad options fail the same way everywhere: no point going on.
      if (error instanceof TypeError || error instanceof RangeError) {
        throw error;
      }
      state.failures.set(key, Date.now());
      failures.push(
        new Error(
          `${instance.id}: ${error instanceof Error ? error.message : error}`,
          { cause: error },
        ),
      );
    }
  }
  throw new ServiceUnavailableError(
    `Cannot connect to service '${name}': all ${failures.length} instances failed (${
      failures.map((f) => f.message).join("; ")
    })`,
    { cause: new AggregateError(failures) },
  );
}

async function rpycDialler(version: 5 | 6 | undefined): Promise<
  (hostname: string, port: number, options: ConnectOptions) => Promise<
    Connection<unknown>
  >
> {
  const { connectRpyc } = await import("../rpyc/client.ts");
  return (
    hostname,
    port,
    { token: _, idleTimeout: __, service, ...options },
  ) =>
    connectRpyc(hostname, port, {
      ...options,
      service: service ?? undefined,
      version,
    });
}
