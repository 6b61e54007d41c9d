/**
 * Error classes a netref user catches, and the allow-list of error classes
 * that are rebuilt as themselves when they cross the wire.
 *
 * @module
 */

/**
 * The peer broke the wire protocol: bad magic, a malformed or oversized
 * frame, a message of the wrong shape, an unknown ref id.
 *
 * @example Telling a protocol failure apart
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * const error = new ProtocolError("Cannot decode frame: length 5000000 exceeds maxFrameBytes 4194304");
 * console.assert(error.name === "ProtocolError");
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Makes a protocol error.
   *
   * @param message What was wrong on the wire, with the numbers involved.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * The connection is closed, or closed while the call was pending.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "./errors.ts";
 * const error = new ConnectionClosedError("Connection closed: peer went away");
 * console.assert(error instanceof Error);
 * ```
 */
export class ConnectionClosedError extends Error {
  /**
   * Makes a connection-closed error.
   *
   * @param message Why the connection is gone.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * A remote call did not settle within its timeout. The peer was sent a
 * cancellation.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "./errors.ts";
 * const error = new TimeoutError("Call to foo timed out after 30000 ms");
 * console.assert(error.name === "TimeoutError");
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Makes a timeout error.
   *
   * @param message What timed out and after how long.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * A member that is not exposed (or never reachable: `constructor`,
 * `__proto__`, `prototype`) was asked for. Raised on the side that owns the
 * object and rebuilt as itself on the caller's side.
 *
 * @example
 * ```ts
 * import { AccessError } from "./errors.ts";
 * const error = new AccessError("Cannot access 'secret' of TestService: not exposed");
 * console.assert(error.name === "AccessError");
 * ```
 */
export class AccessError extends Error {
  /**
   * Makes an access error.
   *
   * @param message Which member of which object, and why it is refused.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AccessError";
  }
}

/** Fields of an error as it travels. */
export interface RemoteErrorInit {
  /** The remote error's `name`. */
  name: string;
  /** The remote error's `message`. */
  message: string;
  /** The remote stack trace, if the peer sent one. */
  stack?: string;
  /** The remote error's `code` property, if it had one. */
  code?: unknown;
  /** The remote error's `cause`, already decoded. */
  cause?: unknown;
  /**
   * The remote error's other own enumerable fields that are plain data
   * (such as a `limit`), by name.
   */
  fields?: Record<string, unknown>;
}

/**
 * An error thrown by the remote side whose class is not registered here.
 * Carries the remote name, message, stack, `code` and `cause`.
 *
 * @example Catching a remote throw
 * ```ts
 * import { RemoteError } from "./errors.ts";
 * const error = new RemoteError({ name: "RangeError", message: "too big", code: "E_BIG" });
 * console.assert(error.remoteName === "RangeError" && error.code === "E_BIG");
 * ```
 */
export class RemoteError extends Error {
  /** The `name` the error had on the remote side. */
  readonly remoteName: string;
  /** The stack trace from the remote side, if it was sent. */
  readonly remoteStack: string | undefined;
  /** The remote error's `code` property, if any. */
  readonly code: unknown;

  /**
   * Makes a remote error from the fields the peer sent.
   *
   * @param init The fields received from the peer.
   */
  constructor(init: RemoteErrorInit) {
    super(
      `${init.name}: ${init.message}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.name = "RemoteError";
    this.remoteName = init.name;
    this.remoteStack = init.stack;
    this.code = init.code;
  }
}

/**
 * A class of errors that may be rebuilt as itself when received: any
 * constructor of errors, whatever its parameters.
 */
export type ErrorClass = new (...args: never[]) => Error;

/** How a registered class is called first. */
type MessageFirst = new (message: string, options?: ErrorOptions) => Error;

const registeredErrors = new Map<string, ErrorClass>([
  ["AccessError", AccessError],
]);

/** Errors rebuilt from what a peer sent (their stack is the decoder's). */
const rebuilt = new WeakSet<Error>();

/**
 * Whether `error` was rebuilt from an error a peer sent.
 *
 * @param error An error.
 * @returns True if {@linkcode rebuildError} made it.
 *
 * @example
 * ```ts
 * import { rebuildError, wasRebuilt } from "./errors.ts";
 * console.assert(wasRebuilt(rebuildError({ name: "Oops", message: "x" })));
 * ```
 */
export function wasRebuilt(error: Error): boolean {
  return rebuilt.has(error);
}

/**
 * Lets errors of `errorClass` arrive as instances of `errorClass` instead of
 * {@linkcode RemoteError}. Register the class on both sides; it is looked up
 * by its `name` (an instance's `name`, or the class name).
 *
 * The class may take any parameters: on the receiving side it is called
 * with `(message, { cause })`, or, if that throws, the instance is made
 * without running its constructor; then the sent `name`, `message` and the
 * error's own enumerable fields that are plain data (strings, numbers,
 * booleans, null, bigints, dates, and arrays and plain objects of them) are
 * set on it. Fields of other kinds are not sent.
 *
 * @param errorClass A constructor of errors.
 * @param name The name the error carries; defaults to `errorClass.name`.
 * @throws {TypeError} If the name is empty.
 *
 * @example
 * ```ts
 * import { registerErrorClass } from "./errors.ts";
 * class QuotaError extends Error {
 *   constructor(message: string, readonly limit: number) {
 *     super(message);
 *     this.name = "QuotaError";
 *   }
 * }
 * registerErrorClass(QuotaError); // a QuotaError arrives with its limit
 * ```
 */
export function registerErrorClass(
  errorClass: ErrorClass,
  name: string = errorClass.name,
): void {
  if (typeof errorClass !== "function") {
    throw new TypeError("Cannot register error class: it is not a class");
  }
  if (typeof name !== "string" || name === "") {
    throw new TypeError("Cannot register error class: it has no name");
  }
  registeredErrors.set(name, errorClass);
}

/** Fields a peer cannot set on a rebuilt error. */
const RESERVED_FIELDS = new Set([
  "name",
  "message",
  "stack",
  "cause",
  "code",
  "remoteName",
  "remoteStack",
  "__proto__",
  "constructor",
  "then",
]);

/**
 * Rebuilds a received error: an instance of its registered class, or a
 * {@linkcode RemoteError}; with the plain-data fields it carried.
 *
 * @param init The fields received from the peer.
 * @returns The error to hand to the caller.
 *
 * @example
 * ```ts
 * import { RemoteError, rebuildError } from "./errors.ts";
 * console.assert(rebuildError({ name: "Oops", message: "x" }) instanceof RemoteError);
 * ```
 */
export function rebuildError(init: RemoteErrorInit): Error {
  const errorClass = registeredErrors.get(init.name);
  const error = errorClass === undefined
    ? new RemoteError(init)
    : construct(errorClass, init);
  rebuilt.add(error);
  const fields = init.fields;
  if (typeof fields === "object" && fields !== null && !Array.isArray(fields)) {
    for (const key of Object.keys(fields)) {
      // Never shadow a method (toString, toJSON, ...) with the peer's data.
      if (
        RESERVED_FIELDS.has(key) ||
        typeof (error as unknown as Record<string, unknown>)[key] ===
          "function"
      ) continue;
      Object.defineProperty(error, key, {
        value: fields[key],
        configurable: true,
        enumerable: true,
        writable: true,
      });
    }
  }
  return error;
}

/** An instance of a registered class, whatever its constructor takes. */
function construct(errorClass: ErrorClass, init: RemoteErrorInit): Error {
  const options = init.cause === undefined ? undefined : { cause: init.cause };
  let error: Error;
  try {
    error = new (errorClass as MessageFirst)(init.message, options);
  } catch {
    // Its constructor wants other arguments: an instance of the class made
    // by Error's constructor, its own fields set below.
    error = Reflect.construct(Error, [init.message, options], errorClass);
  }
  own(error, "name", init.name, false);
  own(error, "message", init.message, false);
  if (init.cause !== undefined && error.cause !== init.cause) {
    own(error, "cause", init.cause, false);
  }
  if (init.stack !== undefined) own(error, "remoteStack", init.stack, false);
  if (init.code !== undefined) own(error, "code", init.code, true);
  return error;
}

function own(
  error: Error,
  key: string,
  value: unknown,
  enumerable: boolean,
): void {
  if ((error as unknown as Record<string, unknown>)[key] === value) return;
  Object.defineProperty(error, key, {
    value,
    configurable: true,
    enumerable,
    writable: true,
  });
}

/**
 * The message of anything thrown: an error's `message`, or the value as a
 * string.
 *
 * @param error What was thrown.
 * @returns Its message, for building another message.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./errors.ts";
 * console.assert(errorMessage(new Error("x")) === "x" && errorMessage(3) === "3");
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The registry could not be reached, or refused a request.
 *
 * @example
 * ```ts
 * import { RegistryError } from "./errors.ts";
 * const error = new RegistryError("Cannot reach registry netref://127.0.0.1:18810: connection refused");
 * console.assert(error.name === "RegistryError");
 * ```
 */
export class RegistryError extends Error {
  /**
   * Makes a registry error.
   *
   * @param message What failed, naming the registry.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistryError";
  }
}

/**
 * No instance of a service could be connected to: none is registered, or
 * every one failed. Its `cause` is an `AggregateError` of the failures.
 *
 * @example
 * ```ts
 * import { ServiceUnavailableError } from "./errors.ts";
 * const error = new ServiceUnavailableError("Cannot connect to service 'test': no instance is registered");
 * console.assert(error.name === "ServiceUnavailableError");
 * ```
 */
export class ServiceUnavailableError extends Error {
  /**
   * Makes a service-unavailable error.
   *
   * @param message Which service, and what was tried.
   * @param options The failures, as an `AggregateError`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServiceUnavailableError";
  }
}
