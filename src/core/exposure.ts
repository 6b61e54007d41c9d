/**
 * The `@service` and `@exposed` decorators and the exposure policy: which
 * members of which objects a peer may reach. Every remote access passes
 * through {@linkcode checkMember}.
 *
 * @module
 */

import { AccessError } from "../errors.ts";

// Decorator metadata lives on `Class[Symbol.metadata]`; Deno compiles
// standard decorators and provides the symbol.
const metadataKey: symbol = (Symbol as { metadata?: symbol }).metadata ??
  Symbol.for("Symbol.metadata");
// Registered symbols, so that every copy and version of netref loaded in one
// process (a service module importing another specifier than the server's)
// reads the others' decorators. Their values are part of that contract: a
// Map of member name to MemberAccess, and a string.
const EXPOSED = Symbol.for("netref.exposed");
const SERVICE_NAME = Symbol.for("netref.serviceName");

/**
 * Throws a TypeError naming `experimentalDecorators` when a decorator was
 * called the legacy way, `(target, key, descriptor)`, instead of with a
 * standard decorator context.
 */
function requireStandardContext<C>(
  decorator: string,
  context: C | undefined,
): asserts context is C {
  if (
    typeof context === "object" && context !== null && "kind" in context &&
    "metadata" in context
  ) {
    return;
  }
  throw new TypeError(
    `Cannot use ${decorator}: it was called as a legacy decorator. netref's decorators are standard (TC39) decorators; remove "experimentalDecorators": true from compilerOptions in deno.json or tsconfig.json`,
  );
}

/** How a member may be used remotely. */
export interface MemberAccess {
  /** Readable: fields, getters, accessors and methods. */
  readonly read: boolean;
  /** Writable: fields, setters and accessors. */
  readonly write: boolean;
  /** Declared as a method. */
  readonly method: boolean;
  /**
   * The parameter names a method declared with `@exposed({ params })`, to
   * which a caller's keyword arguments bind.
   */
  readonly params?: readonly string[];
  /**
   * Whether a method declared a trailing options object with
   * `@exposed({ options: true })`, which receives the keyword arguments
   * `params` does not name.
   */
  readonly options?: boolean;
}

/**
 * What `@exposed(...)` declares of a method: the names of its parameters,
 * so that keyword arguments (Python's `greet(name="bob")`) bind to their
 * positions, and whether it takes a trailing options object.
 */
export interface ExposedOptions {
  /** The method's parameter names, in order. */
  readonly params?: readonly string[];
  /**
   * True if the method takes a trailing options object (after `params`, or
   * after the positional arguments if none are declared) that receives the
   * keyword arguments `params` does not name.
   */
  readonly options?: boolean;
}

type MemberContext =
  | ClassMethodDecoratorContext
  | ClassGetterDecoratorContext
  | ClassSetterDecoratorContext
  | ClassFieldDecoratorContext
  | ClassAccessorDecoratorContext;

type Metadata = Record<symbol, unknown>;

const NEVER_REACHABLE = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Marks a method, getter, setter, field or accessor as reachable by peers.
 * Members without it are never reachable remotely. Plain `@exposed` takes
 * no keyword arguments; `@exposed({ params, options })` declares a method's
 * parameter names and trailing options object for them.
 *
 * @param _value The decorated member (unused).
 * @param context The standard decorator context.
 * @throws {TypeError} On a private, static or symbol-named member.
 *
 * @example
 * ```ts
 * import { exposed } from "./exposure.ts";
 * class Counter {
 *   @exposed count = 0;
 *   @exposed increment() { return ++this.count; }
 * }
 * ```
 */
export function exposed(
  _value: unknown,
  context:
    | ClassMethodDecoratorContext
    | ClassGetterDecoratorContext
    | ClassSetterDecoratorContext
    | ClassFieldDecoratorContext
    | ClassAccessorDecoratorContext,
): void;
/**
 * Marks a method as reachable by peers and declares its parameter names, to
 * which keyword arguments bind (Python's `greet(name="bob", greeting="hi")`
 * calls `greet("bob", "hi")`), and whether it takes a trailing options
 * object receiving the other keywords.
 *
 * @param declared The parameter names and the options object.
 * @returns A method decorator.
 * @throws {TypeError} If the names are not distinct non-empty strings.
 *
 * @example
 * ```ts
 * import { exposed } from "./exposure.ts";
 * class Greeter {
 *   @exposed({ params: ["name", "greeting"] })
 *   greet(name: string, greeting = "hello") { return `${greeting} ${name}`; }
 *   @exposed({ params: ["text"], options: true })
 *   shout(text: string, options?: { times?: number }) {
 *     return text.repeat(options?.times ?? 1);
 *   }
 * }
 * ```
 */
export function exposed(
  declared: {
    /** The method's parameter names, in order. */
    readonly params?: readonly string[];
    /** True if the method takes a trailing options object. */
    readonly options?: boolean;
  },
): (value: unknown, context: ClassMethodDecoratorContext) => void;
export function exposed(
  valueOrDeclared: unknown,
  context?: MemberContext,
): void | ((value: unknown, context: ClassMethodDecoratorContext) => void) {
  if (
    context === undefined && typeof valueOrDeclared === "object" &&
    valueOrDeclared !== null
  ) {
    const declared = checkDeclared(valueOrDeclared as ExposedOptions);
    return (_value, context) => {
      requireStandardContext("@exposed(...)", context);
      if (context.kind !== "method") {
        throw new TypeError(
          `Cannot expose ${
            String(context.name)
          } with @exposed({ params, options }): only methods take parameters; use plain @exposed`,
        );
      }
      expose(context, declared);
    };
  }
  requireStandardContext("@exposed", context);
  expose(context, undefined);
}

function checkDeclared(declared: ExposedOptions): ExposedOptions {
  const { params, options } = declared;
  if (params !== undefined) {
    if (
      !Array.isArray(params) ||
      params.some((name) => typeof name !== "string" || name === "") ||
      new Set(params).size !== params.length
    ) {
      throw new TypeError(
        "Cannot use @exposed({ params }): params must be distinct non-empty strings",
      );
    }
  }
  if (options !== undefined && typeof options !== "boolean") {
    throw new TypeError(
      "Cannot use @exposed({ options }): options must be true or false",
    );
  }
  return {
    params: params === undefined ? undefined : Object.freeze([...params]),
    options: options === true,
  };
}

function expose(
  context: MemberContext,
  declared: ExposedOptions | undefined,
): void {
  if (context.private || context.static || typeof context.name !== "string") {
    throw new TypeError(
      `Cannot expose ${
        String(context.name)
      }: only public, non-static members with string names can be @exposed`,
    );
  }
  if (NEVER_REACHABLE.has(context.name)) {
    throw new TypeError(
      `Cannot expose '${context.name}': it is never reachable remotely`,
    );
  }
  const metadata = context.metadata as Metadata;
  let members = Object.hasOwn(metadata, EXPOSED)
    ? metadata[EXPOSED] as Map<string, MemberAccess>
    : undefined;
  if (members === undefined) {
    members = new Map();
    metadata[EXPOSED] = members;
  }
  const before = members.get(context.name) ??
    { read: false, write: false, method: false };
  const kind = context.kind;
  const access: MemberAccess = {
    read: before.read || kind !== "setter",
    write: before.write || kind === "setter" || kind === "field" ||
      kind === "accessor",
    method: before.method || kind === "method",
  };
  members.set(
    context.name,
    declared === undefined ? access : {
      ...access,
      ...(declared.params !== undefined ? { params: declared.params } : {}),
      ...(declared.options ? { options: true } : {}),
    },
  );
}

/**
 * Names a service class (RPyC's service name). Use as `@service` or
 * `@service("name")`; without a name, the class name is used.
 *
 * @param name The service name; defaults to the class name.
 * @returns A class decorator.
 * @throws {TypeError} If the name is empty.
 *
 * @example
 * ```ts
 * import { exposed, service } from "./exposure.ts";
 * @service("test")
 * class TestService {
 *   @exposed foo() { return "foo"; }
 * }
 * ```
 */
export function service(
  name?: string,
): (
  value: abstract new (...args: never[]) => unknown,
  context: ClassDecoratorContext,
) => void;
/**
 * Bare form of {@linkcode service}: `@service` names the service after the
 * class.
 *
 * @param value The decorated class.
 * @param context The decorator context.
 *
 * @example
 * ```ts
 * import { service } from "./exposure.ts";
 * @service
 * class Calculator {}
 * ```
 */
export function service(
  value: abstract new (...args: never[]) => unknown,
  context: ClassDecoratorContext,
): void;
export function service(
  nameOrClass?: string | (abstract new (...args: never[]) => unknown),
  context?: ClassDecoratorContext,
):
  | ((
    value: abstract new (...args: never[]) => unknown,
    context: ClassDecoratorContext,
  ) => void)
  | void {
  if (typeof nameOrClass === "function") {
    requireStandardContext("@service", context);
    (context.metadata as Metadata)[SERVICE_NAME] = context.name;
    return;
  }
  if (
    nameOrClass !== undefined &&
    (typeof nameOrClass !== "string" || nameOrClass === "")
  ) {
    throw new TypeError(
      "Cannot name service: @service takes a non-empty string",
    );
  }
  return (_value, context) => {
    requireStandardContext("@service(name)", context);
    (context.metadata as Metadata)[SERVICE_NAME] = nameOrClass ?? context.name;
  };
}

/**
 * The service name of a class or instance: the name given to `@service`, or
 * the class name.
 *
 * @param target A service class or an instance of one.
 * @returns The name.
 *
 * @example
 * ```ts
 * import { service, serviceName } from "./exposure.ts";
 * @service("calc") class Calculator {}
 * console.assert(serviceName(Calculator) === "calc");
 * ```
 */
export function serviceName(target: object): string {
  const ctor = typeof target === "function"
    ? target
    : Object.getPrototypeOf(target)?.constructor;
  const metadata = ctor?.[metadataKey] as Metadata | undefined;
  const name = metadata?.[SERVICE_NAME];
  if (typeof name === "string") return name;
  return typeof ctor?.name === "string" && ctor.name !== ""
    ? ctor.name
    : "Service";
}

const NONE: ReadonlyMap<string, MemberAccess> = new Map();
const byPrototype = new WeakMap<object, ReadonlyMap<string, MemberAccess>>();

/**
 * The exposed members of a class instance, looked up once per class and
 * cached. Subclasses inherit their parents' exposed members.
 *
 * @param object A class instance.
 * @returns Member names and how each may be used.
 *
 * @example
 * ```ts
 * import { exposed, exposedMembers } from "./exposure.ts";
 * class A { @exposed foo() {} bar() {} }
 * console.assert([...exposedMembers(new A()).keys()].join() === "foo");
 * ```
 */
export function exposedMembers(
  object: object,
): ReadonlyMap<string, MemberAccess> {
  const proto = Object.getPrototypeOf(object);
  if (proto === null) return NONE;
  let members = byPrototype.get(proto);
  if (members === undefined) {
    members = collectMembers(proto);
    byPrototype.set(proto, members);
  }
  return members;
}

function collectMembers(proto: object): ReadonlyMap<string, MemberAccess> {
  const chain: Map<string, MemberAccess>[] = [];
  for (
    let p: object | null = proto;
    p !== null && p !== Object.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    const ctor = Object.hasOwn(p, "constructor")
      ? (p as { constructor: unknown }).constructor
      : undefined;
    if (typeof ctor !== "function" || !Object.hasOwn(ctor, metadataKey)) {
      continue;
    }
    const metadata =
      (ctor as unknown as Record<symbol, Metadata | null>)[metadataKey];
    if (metadata && Object.hasOwn(metadata, EXPOSED)) {
      chain.push(metadata[EXPOSED] as Map<string, MemberAccess>);
    }
  }
  if (chain.length === 0) return NONE;
  if (chain.length === 1) return chain[0];
  const merged = new Map<string, MemberAccess>();
  for (let i = chain.length - 1; i >= 0; i--) {
    for (const [name, access] of chain[i]) merged.set(name, access);
  }
  return merged;
}

/**
 * Whether `value` is plain data: an array, or an object whose prototype is
 * `Object.prototype` or null. Plain data travels by value.
 *
 * @param value Any value.
 * @returns True for arrays and plain objects.
 *
 * @example
 * ```ts
 * import { isPlainData } from "./exposure.ts";
 * console.assert(isPlainData({ a: 1 }) && !isPlainData(new Date()));
 * ```
 */
export function isPlainData(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || Array.isArray(value);
}

const classes = new WeakMap<object, boolean>();

/**
 * Whether `fn` is a class: calling it remotely constructs it (`new`), as
 * calling an exposed class does in RPyC. Methods, arrow and bound functions
 * have no `prototype` and are answered without a lookup; the rest are
 * looked up once and cached.
 *
 * @param fn A function about to be called for a peer.
 * @returns True for a `class` declaration or expression.
 *
 * @example
 * ```ts
 * import { isClass } from "./exposure.ts";
 * console.assert(isClass(class A {}) && !isClass(function f() {}));
 * ```
 */
export function isClass(fn: object): boolean {
  if ((fn as { prototype?: unknown }).prototype === undefined) return false;
  let known = classes.get(fn);
  if (known === undefined) {
    known = /^class\b/.test(Function.prototype.toString.call(fn));
    classes.set(fn, known);
  }
  return known;
}

/** What a peer wants to do with a member. */
export type MemberUse = "read" | "write";

/**
 * The single access check: throws unless a peer may `use` the member `name`
 * of `object`. Class instances allow their `@exposed` members; plain data
 * allows reading its own properties (it would travel by value anyway).
 *
 * @param object The object that owns the member.
 * @param name The member name received from the peer.
 * @param use Read (get or call) or write.
 * @throws {AccessError} If the member is not reachable.
 *
 * @example
 * ```ts
 * import { checkMember, exposed } from "./exposure.ts";
 * class A { @exposed foo() {} secret() {} }
 * checkMember(new A(), "foo", "read");
 * ```
 */
export function checkMember(
  object: object,
  name: string,
  use: MemberUse,
): void {
  // The common case first: an exposed member of a class instance, found with
  // one prototype read and two map lookups. `@exposed` never admits the
  // never-reachable names, so a hit needs no further check.
  const proto = Object.getPrototypeOf(object);
  if (
    typeof object !== "function" && proto !== null &&
    proto !== Object.prototype && !Array.isArray(object)
  ) {
    let members = byPrototype.get(proto);
    if (members === undefined) {
      members = collectMembers(proto);
      byPrototype.set(proto, members);
    }
    const access = members.get(name);
    if (
      access !== undefined && (use === "write" ? access.write : access.read)
    ) {
      return;
    }
  }
  refuseMember(object, name, use);
}

/** Throws the AccessError explaining why `name` is out of reach, if it is. */
function refuseMember(object: object, name: string, use: MemberUse): void {
  if (NEVER_REACHABLE.has(name)) {
    throw new AccessError(
      `Cannot access '${name}' of ${
        describe(object)
      }: it is never reachable remotely`,
    );
  }
  if (typeof object === "function") {
    throw new AccessError(
      `Cannot access '${name}' of ${
        describe(object)
      }: functions have no remote members`,
    );
  }
  if (isPlainData(object)) {
    if (use === "write") {
      throw new AccessError(
        `Cannot write '${name}' of ${
          describe(object)
        }: plain data is read-only remotely`,
      );
    }
    if (!Object.hasOwn(object, name)) {
      throw new AccessError(
        `Cannot access '${name}' of ${describe(object)}: no such property`,
      );
    }
    return;
  }
  const access = exposedMembers(object).get(name);
  if (access === undefined) {
    throw new AccessError(
      `Cannot access '${name}' of ${describe(object)}: it is not @exposed`,
    );
  }
  throw new AccessError(
    `Cannot ${use} '${name}' of ${
      describe(object)
    }: it is exposed, but not for ${use === "write" ? "writing" : "reading"}`,
  );
}

/**
 * A short description of an object for error messages: its class name.
 *
 * @param object Any object.
 * @returns Such as `TestService`, `an array`, `a function`.
 *
 * @example
 * ```ts
 * import { describe } from "./exposure.ts";
 * console.assert(describe([]) === "an array");
 * ```
 */
export function describe(object: object): string {
  if (typeof object === "function") return "a function";
  if (Array.isArray(object)) return "an array";
  const proto = Object.getPrototypeOf(object);
  if (proto === null || proto === Object.prototype) return "a plain object";
  const name = proto.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "an object";
}
