/**
 * What `netref serve --service MODULE[#EXPORT]` serves: loading the user's
 * module, picking the export, and, for several services, the root object
 * that holds them by name.
 *
 * @module
 */

import { exposed, serviceName } from "../core/exposure.ts";
import type { Connection } from "../core/types.ts";
import type { ServiceHooks, ServiceSource } from "../server/server.ts";
import { exposedMembers, isPlainData } from "../core/exposure.ts";

/** A service to serve, with the name clients reach it by. */
export interface NamedService {
  /** Its `@service` name (or class name). */
  readonly name: string;
  /** A class (one instance per connection) or a shared object. */
  readonly source: ServiceSource;
  /** Where it came from, for messages: `./calc.ts#Calculator`. */
  readonly origin: string;
}

/** A `--service` that cannot be loaded: printed with exit code 1. */
export class ServiceLoadError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServiceLoadError";
  }
}

/**
 * Names a service source loaded some other way (such as the example, or the
 * services of a compiled server).
 *
 * @param source A service class or object.
 * @returns The source with its name.
 *
 * @example
 * ```ts
 * import { named } from "./services.ts";
 * class Calculator {}
 * console.assert(named(Calculator).name === "Calculator");
 * ```
 */
export function named(source: ServiceSource): NamedService {
  const name = serviceName(source);
  return {
    name,
    source,
    origin: typeof source === "function" ? source.name || name : name,
  };
}

/**
 * Loads the service a `--service` flag names. `MODULE` is a file path
 * (relative to `cwd`) or a URL; `#EXPORT` names the export (`#default` the
 * default export). Without `#`, the default export is served, or else the
 * module's only class marked `@service`.
 *
 * @param spec `MODULE[#EXPORT]`, such as `./calc.ts#Calculator`.
 * @param cwd The directory relative paths start from.
 * @returns The service.
 * @throws {ServiceLoadError} If the module cannot be imported or has no
 *   such export, or the export is not a class or object.
 *
 * @example
 * ```ts ignore
 * import { loadService } from "./services.ts";
 * const calc = await loadService("./calc.ts#Calculator", Deno.cwd());
 * ```
 */
export async function loadService(
  spec: string,
  cwd: string,
): Promise<NamedService> {
  const hash = spec.lastIndexOf("#");
  const module = hash < 0 ? spec : spec.slice(0, hash);
  const exportName = hash < 0 ? undefined : spec.slice(hash + 1);
  if (module === "" || exportName === "") {
    throw new ServiceLoadError(
      `Cannot load --service '${spec}': expected MODULE[#EXPORT], such as ./calc.ts#Calculator`,
    );
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(moduleUrl(module, cwd));
  } catch (error) {
    throw new ServiceLoadError(
      `Cannot load --service '${spec}': ${
        error instanceof Error ? error.message.split("\n")[0] : String(error)
      }`,
      { cause: error },
    );
  }
  const [name, source] = pick(spec, module, exportName, namespace);
  if (!isServiceSource(source)) {
    throw new ServiceLoadError(
      `Cannot serve --service '${spec}': its export '${name}' is ${
        describeValue(source)
      }, not a service class or object`,
    );
  }
  const origin = `${module}#${name}`;
  return { name: serviceName(source), source, origin };
}

function pick(
  spec: string,
  module: string,
  exportName: string | undefined,
  namespace: Record<string, unknown>,
): [string, unknown] {
  const exports = Object.keys(namespace);
  if (exportName !== undefined) {
    if (!Object.hasOwn(namespace, exportName)) {
      throw new ServiceLoadError(
        `Cannot serve --service '${spec}': ${module} has no export '${exportName}' (it exports: ${
          exports.join(", ") || "nothing"
        })`,
      );
    }
    return [exportName, namespace[exportName]];
  }
  if (Object.hasOwn(namespace, "default")) {
    return ["default", namespace.default];
  }
  const services = exports.filter((name) => isServiceClass(namespace[name]));
  if (services.length === 1) return [services[0], namespace[services[0]]];
  throw new ServiceLoadError(
    services.length === 0
      ? `Cannot serve --service '${spec}': ${module} has no default export and no class marked @service; name the export, as in ${module}#${
        exports[0] ?? "MyService"
      }`
      : `Cannot serve --service '${spec}': ${module} has several classes marked @service (${
        services.join(", ")
      }); name one, as in ${module}#${services[0]}`,
  );
}

/**
 * The URL to import `module` from: URLs (`file:`, `https:`, `jsr:`, ...) as
 * they are, paths relative to `cwd`.
 */
function moduleUrl(module: string, cwd: string): string {
  // Two letters or more before the colon: `C:\x.ts` is a Windows path.
  if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(module)) return module;
  const path = module.replaceAll("\\", "/");
  const base = new URL("file:///");
  // The pathname setter escapes spaces, `?` and `#`, but not `%`.
  base.pathname = (path.startsWith("/") || /^[A-Za-z]:\//.test(path))
    ? path.replaceAll("%", "%25")
    : `${cwd.replaceAll("\\", "/")}/${path}`.replaceAll("%", "%25");
  return base.href;
}

/**
 * A warning if no member of `service` is `@exposed`: such a service serves
 * nothing. Most often its module marks members with the decorators of
 * another copy or version of netref than the CLI's, which this copy cannot
 * see.
 *
 * @param service A loaded service.
 * @returns The warning, or null.
 *
 * @example
 * ```ts
 * import { exposureWarning, named } from "./services.ts";
 * class Empty {}
 * console.assert(exposureWarning(named(Empty)) !== null);
 * ```
 */
export function exposureWarning(service: NamedService): string | null {
  const { source } = service;
  const instance = typeof source === "function"
    ? Object.create(source.prototype)
    : source;
  if (isPlainData(instance) || exposedMembers(instance).size > 0) return null;
  return `warning: ${service.origin} exposes nothing: none of its members is @exposed as this netref sees it. If its module does mark members @exposed, it imports another copy or version of netref than this CLI: import the same one.`;
}

const PROBE_NAME = "\0netref-probe";

/**
 * Whether `value` is a class marked `@service`. A subclass inherits the
 * `@service` name; without one, `serviceName` falls back to the subclass's
 * own (here unique) name.
 */
function isServiceClass(value: unknown): boolean {
  if (typeof value !== "function" || value.prototype === undefined) {
    return false;
  }
  const probe = class extends (value as new () => object) {};
  Object.defineProperty(probe, "name", { value: PROBE_NAME });
  return serviceName(probe) !== PROBE_NAME;
}

function isServiceSource(value: unknown): value is ServiceSource {
  return (typeof value === "function" && value.prototype !== undefined) ||
    (typeof value === "object" && value !== null);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function without a prototype";
  return `a ${typeof value}`;
}

// Each directory's services, by name: kept off the object so that nothing
// but the exposed getters can reach them.
const directories = new WeakMap<object, Map<string, object & ServiceHooks>>();

const UNREACHABLE_NAMES = new Set([
  "__proto__",
  "constructor",
  "prototype",
  "then",
]);

/**
 * What to serve for `services`: the service itself if there is one, or else
 * a root whose exposed members are the services by name, so that
 * `root.calc.add(1, 2)` reaches the `calc` service. Each connection gets its
 * own instance of every class, as with one service, and the services' hooks
 * run for every connection.
 *
 * @param services At least one service, with distinct names.
 * @returns The service source to serve.
 * @throws {ServiceLoadError} If there are none, two share a name, or a name
 *   cannot be a member.
 *
 * @example
 * ```ts
 * import { named, serviceRoot } from "./services.ts";
 * class A {}
 * class B {}
 * const Root = serviceRoot([named(A), named(B)]) as new () => object;
 * console.assert(typeof Root === "function");
 * ```
 */
export function serviceRoot(services: readonly NamedService[]): ServiceSource {
  if (services.length === 0) throw new ServiceLoadError("No service to serve");
  if (services.length === 1) return services[0].source;
  const seen = new Map<string, NamedService>();
  for (const service of services) {
    const other = seen.get(service.name);
    if (other !== undefined) {
      throw new ServiceLoadError(
        `Cannot serve ${other.origin} and ${service.origin} together: both are named '${service.name}'; give one another @service name`,
      );
    }
    if (UNREACHABLE_NAMES.has(service.name)) {
      throw new ServiceLoadError(
        `Cannot serve ${service.origin} next to other services: its name '${service.name}' cannot be a member; give it another @service name`,
      );
    }
    seen.set(service.name, service);
  }

  class Services implements ServiceHooks {
    constructor() {
      const instances = new Map<string, object & ServiceHooks>();
      for (const { name, source } of services) {
        instances.set(
          name,
          typeof source === "function"
            ? new (source as new () => object)()
            : source,
        );
      }
      directories.set(this, instances);
    }

    async onConnect(conn: Connection): Promise<void> {
      for (const service of directories.get(this)!.values()) {
        if (typeof service.onConnect === "function") {
          await service.onConnect(conn);
        }
      }
    }

    onDisconnect(conn: Connection): void {
      let failure: unknown = null;
      for (const service of directories.get(this)!.values()) {
        try {
          if (typeof service.onDisconnect === "function") {
            service.onDisconnect(conn);
          }
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== null) throw failure;
    }
  }

  // Decorators need a class body per member name, so each service adds a
  // subclass with one exposed getter; exposure merges along the chain.
  let root: new () => Services = Services;
  for (const { name } of services) {
    const parent = root;
    root = class extends parent {
      @exposed
      get [name](): object {
        return directories.get(this)!.get(name)!;
      }
    };
  }
  Object.defineProperty(root, "name", {
    value: services.map((s) => s.name).join(","),
  });
  return root;
}
