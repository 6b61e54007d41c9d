/**
 * Vinegar, RPyC's exception format (`rpyc/core/vinegar.py`), both ways: a
 * TypeScript throw becomes `((module, class), args, attrs, traceback_text)`
 * that Python raises with the remote traceback appended to its message, and
 * a Python exception becomes a {@linkcode RemoteError} (or a registered
 * class) carrying the Python class name and traceback.
 *
 * @module
 */

import { ProtocolError, rebuildError, RemoteError } from "../errors.ts";
import { dumpable } from "./brine.ts";
import { type BrineValue, PyTuple } from "./py_values.ts";
import { Exc } from "./constants.ts";

/** Module Python errors from this side appear in, unless they are builtins. */
const MODULE = "netref";
/** Module of the classes Python makes up for exceptions it cannot import. */
const GENERIC_MODULE_PREFIX = "rpyc.core.vinegar/";
/** What RPyC puts between an error's message and its remote traceback. */
const REMOTE_LINE = "\n\n========= Remote Traceback (1) =========\n";

/** JavaScript error names and the Python builtin raised for them. */
const TO_PYTHON: Readonly<Record<string, string>> = {
  AccessError: "AttributeError",
  RangeError: "ValueError",
};

/** Python builtin exceptions a name may map to as is. */
const PYTHON_BUILTINS = new Set([
  "ArithmeticError",
  "AssertionError",
  "AttributeError",
  "ConnectionError",
  "EOFError",
  "Exception",
  "FileExistsError",
  "FileNotFoundError",
  "IndexError",
  "KeyError",
  "LookupError",
  "NotImplementedError",
  "OSError",
  "OverflowError",
  "PermissionError",
  "RuntimeError",
  "StopIteration",
  "TimeoutError",
  "TypeError",
  "ValueError",
  "ZeroDivisionError",
]);

const PYTHON_CLASS = Symbol("rpyc.pythonClass");

/**
 * Marks an error to arrive in Python as the builtin exception `name`.
 *
 * @param name A Python builtin exception class, such as `KeyError`.
 */
export function pythonError<E extends Error>(error: E, name: string): E {
  (error as unknown as Record<symbol, string>)[PYTHON_CLASS] = name;
  return error;
}

function pythonClass(error: Error): [string, string] {
  const tagged = (error as unknown as Record<symbol, string>)[PYTHON_CLASS];
  if (tagged !== undefined) return ["builtins", tagged];
  const name = error instanceof RemoteError ? error.remoteName : error.name;
  const builtin = TO_PYTHON[name] ??
    (PYTHON_BUILTINS.has(name) ? name : undefined);
  return builtin !== undefined ? ["builtins", builtin] : [MODULE, name];
}

/** Dumps a thrown value as vinegar. */
export function dumpException(
  thrown: unknown,
  includeStack: boolean,
): BrineValue {
  const error = thrown instanceof Error
    ? thrown
    : new Error(`Non-error thrown: ${String(thrown)}`);
  const [module, name] = pythonClass(error);
  let message = String(error.message);
  if (error instanceof RemoteError) {
    const prefix = `${error.remoteName}: `;
    if (message.startsWith(prefix)) message = message.slice(prefix.length);
  }
  const attrs: PyTuple[] = [];
  const code = (error as { code?: unknown }).code;
  if (code !== undefined && dumpable(code)) {
    attrs.push(PyTuple.of("code", code));
  }
  // Without a version, Python adds no warning about a version mismatch.
  attrs.push(PyTuple.of("_remote_version", "<version denied>"));
  let traceback = "<traceback denied>";
  if (includeStack) {
    traceback = typeof error.stack === "string"
      ? error.stack
      : `${error.name}: ${message}`;
    if (error instanceof RemoteError && error.remoteStack !== undefined) {
      traceback += REMOTE_LINE + error.remoteStack;
    }
    if (!traceback.endsWith("\n")) traceback += "\n";
  }
  return PyTuple.of(
    PyTuple.of(module, name),
    PyTuple.of(message),
    new PyTuple(attrs),
    traceback,
  );
}

/**
 * Loads a vinegar dump into the error to reject the call with.
 *
 * @param value The EXCEPTION message's arguments.
 * @returns A {@linkcode RemoteError} whose `remoteName` is the Python class
 *   name and `remoteStack` the Python traceback text, or an instance of a
 *   class registered under that name.
 * @throws {ProtocolError} If `value` is not vinegar.
 */
export function loadException(value: BrineValue): Error {
  if (value === Exc.STOP_ITERATION) {
    return rebuildError({ name: "StopIteration", message: "" });
  }
  if (typeof value === "string") {
    return rebuildError({ name: value, message: "" });
  }
  if (value instanceof PyTuple && value.length === 4) {
    const [cls, args, attrs, traceback] = value.items;
    if (
      cls instanceof PyTuple && cls.length === 2 &&
      typeof cls.items[0] === "string" && typeof cls.items[1] === "string" &&
      args instanceof PyTuple && attrs instanceof PyTuple &&
      typeof traceback === "string"
    ) {
      const [module, className] = cls.items as [string, string];
      let name = className;
      if (module.startsWith(GENERIC_MODULE_PREFIX)) {
        // Python's stand-in for a class it could not import, named
        // "module.Class": the class name is the last part.
        name = className.slice(className.lastIndexOf(".") + 1);
      }
      let code: unknown = undefined;
      for (const attr of attrs.items) {
        if (attr instanceof PyTuple && attr.items[0] === "code") {
          code = attr.items[1];
        }
      }
      return rebuildError({
        name,
        message: args.length === 1
          ? pyStr(args.items[0])
          : args.length === 0
          ? ""
          : pyRepr(args),
        stack: traceback,
        code,
      });
    }
  }
  throw new ProtocolError(
    "Cannot load RPyC exception: expected ((module, class), args, attrs, traceback)",
  );
}

function pyStr(value: BrineValue): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/**
 * Python's `repr()` of a brine value, for the common cases.
 *
 * @returns Its repr, such as `'a'`, `None`, `(1, 2)`.
 */
export function pyRepr(value: BrineValue): string {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") {
    return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  }
  if (value instanceof PyTuple) {
    const items = value.items.map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
  }
  if (value instanceof Uint8Array) {
    return `b'${
      Array.from(value, (b) =>
        b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c
          ? String.fromCharCode(b)
          : `\\x${b.toString(16).padStart(2, "0")}`).join("")
    }'`;
  }
  return String(value);
}
