/**
 * The checks every registry applies to what it is given (possibly from the
 * network), and the order and keys of instances.
 *
 * @module
 */

import { DEFAULT_TTL } from "../defaults.ts";
import type {
  InstanceInit,
  RegisterOptions,
  ServiceInstance,
} from "./types.ts";

/** Longest service name or instance id, in characters. */
const MAX_NAME_LENGTH = 256;
/** Most metadata entries on one instance. */
const MAX_METADATA_ENTRIES = 32;
/** Longest metadata key or value, in characters. */
const MAX_METADATA_LENGTH = 1024;

/**
 * Checks a service name or instance id: 1 to 256 characters, no `/`, no
 * whitespace or control characters (names become etcd key segments).
 *
 * @param value The name.
 * @param what `"service name"` or `"instance id"`, for the message.
 * @returns The name.
 * @throws {TypeError} If it is not a string, or has a forbidden character.
 * @throws {RangeError} If it is empty or too long.
 *
 * @example
 * ```ts
 * import { checkName } from "./validate.ts";
 * console.assert(checkName("test", "service name") === "test");
 * ```
 */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot use ${what}: expected a string`);
  }
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new RangeError(
      `Cannot use ${what} of length ${value.length}: expected 1 to ${MAX_NAME_LENGTH}`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\s/\x00-\x1f\x7f]/.test(value)) {
    throw new TypeError(
      `Cannot use ${what} ${
        JSON.stringify(value)
      }: it contains '/', whitespace or a control character`,
    );
  }
  return value;
}

/**
 * Checks a time-to-live in milliseconds: 100 ms to one day.
 *
 * @param ttl The TTL.
 * @returns The TTL.
 * @throws {RangeError} If it is not a number in range.
 *
 * @example
 * ```ts
 * import { checkTtl } from "./validate.ts";
 * console.assert(checkTtl(2000) === 2000);
 * ```
 */
export function checkTtl(ttl: unknown): number {
  if (
    typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 100 ||
    ttl > 86_400_000
  ) {
    throw new RangeError(
      `Cannot use ttl ${String(ttl)}: expected 100 to 86400000 milliseconds`,
    );
  }
  return ttl;
}

/**
 * Checks an announced instance and fills in its defaults.
 *
 * @param init What a server announces (possibly from the network).
 * @returns The complete, frozen instance.
 * @throws {TypeError} On a wrong shape.
 * @throws {RangeError} On a port, name or metadata out of range.
 *
 * @example
 * ```ts
 * import { checkInstance } from "./validate.ts";
 * const instance = checkInstance({ name: "test", hostname: "127.0.0.1", port: 18811 });
 * console.assert(instance.id === "127.0.0.1:18811");
 * ```
 */
export function checkInstance(init: unknown): ServiceInstance {
  if (typeof init !== "object" || init === null || Array.isArray(init)) {
    throw new TypeError("Cannot register instance: expected an object");
  }
  const { name, hostname, port, id, metadata } = init as Record<
    string,
    unknown
  >;
  checkName(name, "service name");
  if (
    typeof hostname !== "string" || hostname === "" || hostname.length > 253 ||
    /\s/.test(hostname)
  ) {
    throw new TypeError(
      `Cannot register instance of '${name}': hostname must be a non-empty host name or address`,
    );
  }
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
    port > 65535
  ) {
    throw new RangeError(
      `Cannot register instance of '${name}' on port ${
        String(port)
      }: expected 1 to 65535`,
    );
  }
  const address = hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
  const checkedId = id === undefined ? address : checkName(id, "instance id");
  return Object.freeze({
    name: name as string,
    id: checkedId,
    hostname,
    port,
    metadata: checkMetadata(metadata, name as string),
  });
}

function checkMetadata(
  metadata: unknown,
  name: string,
): Readonly<Record<string, string>> {
  if (metadata === undefined || metadata === null) return Object.freeze({});
  if (typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new TypeError(
      `Cannot register instance of '${name}': metadata must be an object of strings`,
    );
  }
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw new RangeError(
      `Cannot register instance of '${name}': ${entries.length} metadata entries exceed the limit of ${MAX_METADATA_ENTRIES}`,
    );
  }
  const copy: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot register instance of '${name}': metadata '${key}' must be a string`,
      );
    }
    if (
      key.length > MAX_METADATA_LENGTH || value.length > MAX_METADATA_LENGTH
    ) {
      throw new RangeError(
        `Cannot register instance of '${name}': metadata '${
          key.slice(0, 40)
        }' exceeds ${MAX_METADATA_LENGTH} characters`,
      );
    }
    copy[key] = value;
  }
  return Object.freeze(copy);
}

/**
 * The key of an instance in a registry: `name/id`.
 *
 * @param instance The instance.
 * @returns Its key.
 *
 * @example
 * ```ts
 * import { instanceKey } from "./validate.ts";
 * console.assert(instanceKey({ name: "a", id: "h:1" }) === "a/h:1");
 * ```
 */
export function instanceKey(
  instance: Pick<ServiceInstance, "name" | "id">,
): string {
  return `${instance.name}/${instance.id}`;
}

/**
 * Orders instances by name, then id: the order `list()` returns.
 *
 * @param a One instance.
 * @param b Another.
 * @returns Negative, zero or positive, as `Array.prototype.sort` wants.
 *
 * @example
 * ```ts
 * import { byNameThenId, checkInstance } from "./validate.ts";
 * const list = [
 *   checkInstance({ name: "b", hostname: "h", port: 1 }),
 *   checkInstance({ name: "a", hostname: "h", port: 2 }),
 * ].sort(byNameThenId);
 * console.assert(list[0].name === "a");
 * ```
 */
export function byNameThenId(a: ServiceInstance, b: ServiceInstance): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Checks the arguments of `Registry.register`, as every backend takes them.
 *
 * @param instances What to register: a non-empty array.
 * @param options The time-to-live, if given.
 * @returns The checked instances and the time-to-live in milliseconds.
 * @throws {TypeError} If `instances` is not a non-empty array, or one is malformed.
 * @throws {RangeError} If the time-to-live is out of range.
 *
 * @example
 * ```ts
 * import { checkRegistration } from "./validate.ts";
 * const { ttl } = checkRegistration([{ name: "calc", hostname: "127.0.0.1", port: 18811 }], {});
 * console.assert(ttl > 0);
 * ```
 */
export function checkRegistration(
  instances: readonly InstanceInit[],
  options: RegisterOptions,
): { checked: ServiceInstance[]; ttl: number } {
  if (!Array.isArray(instances) || instances.length === 0) {
    throw new TypeError(
      "Cannot register: expected a non-empty array of instances",
    );
  }
  return {
    checked: instances.map(checkInstance),
    ttl: checkTtl(options.ttl ?? DEFAULT_TTL),
  };
}
