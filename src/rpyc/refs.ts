/**
 * References across an RPyC connection. Objects travel by reference as an
 * id pack `(name_pack, class_id, instance_id)` (`rpyc/lib/__init__.py`,
 * `get_id_pack`). The export side counts each send, as RPyC's
 * `RefCountingColl`, until the peer's DEL gives the counts back; the import
 * side keeps one netref proxy per peer object and sends DEL when it is
 * disposed or collected.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { ExportTable, type ImportEntry, ImportTable } from "../core/refs.ts";
import { RefKind } from "../protocol/constants.ts";
import { Label } from "./constants.ts";
import { type BrineValue, PyTuple } from "./py_values.ts";

/**
 * Instance id of the local root: it is reachable without being counted, as
 * Python keeps `conn.root` for the connection's lifetime.
 */
export const ROOT_INSTANCE_ID = -1;
const FUNCTION_CLASS_ID = 1;
const METHOD_CLASS_ID = 2;
const NULL_PROTOTYPE_CLASS_ID = 0x7fff_fff0;

/** Python classes whose instances can be called: their netrefs are functions. */
const CALLABLE_CLASSES = new Set([
  "builtins.function",
  "builtins.method",
  "builtins.builtin_function_or_method",
  "builtins.method-wrapper",
  "builtins.wrapper_descriptor",
  "builtins.method_descriptor",
  "builtins.classmethod_descriptor",
  "functools.partial",
]);

/** A peer object's id pack, as received. */
export interface IdPack {
  /** `module.Class` of the object on the peer. */
  readonly name: string;
  /** Identifies the class on the peer. */
  readonly classId: number | bigint;
  /** Identifies the object on the peer; 0 for a class. */
  readonly instanceId: number | bigint;
  /** The pack as it travels, for sending it back. */
  readonly tuple: PyTuple;
}

/**
 * A peer object named by its pack alone, without a netref: for the
 * connection's own short-lived references. Boxes as LOCAL_REF.
 */
export class PackRef {
  constructor(readonly pack: IdPack) {}
}

/**
 * Checks and reads an id pack `(name_pack, class_id, instance_id)`.
 *
 * @throws {ProtocolError} If it is not one.
 */
export function parsePack(value: BrineValue): IdPack {
  if (value instanceof PyTuple && value.length === 3) {
    const [name, classId, instanceId] = value.items;
    if (typeof name === "string" && isInt(classId) && isInt(instanceId)) {
      return { name, classId, instanceId, tuple: value };
    }
  }
  throw new ProtocolError(
    "Cannot unbox RPyC reference: expected (name_pack, class_id, instance_id)",
  );
}

function isInt(value: unknown): value is number | bigint {
  return typeof value === "bigint" ||
    (typeof value === "number" && Number.isSafeInteger(value));
}

/** Methods read remotely: functions bound to their object, sent as `method`. */
const boundMethods = new WeakSet<object>();

/**
 * Binds a method read remotely to its object; it travels as a Python bound
 * method.
 */
export function bindMethod(
  fn: (...args: unknown[]) => unknown,
  owner: object,
): (...args: unknown[]) => unknown {
  const bound = fn.bind(owner);
  boundMethods.add(bound);
  return bound;
}

const classIds = new WeakMap<object, number>();
let nextClassId = 3;

/**
 * The id pack a local object travels as: `builtins.function` or
 * `builtins.method` for functions (Python then knows they are callable),
 * `netref.<Class>` for other objects.
 */
export function refPack(value: object, instanceId: number): PyTuple {
  if (typeof value === "function") {
    const method = boundMethods.has(value);
    return PyTuple.of(
      method ? "builtins.method" : "builtins.function",
      method ? METHOD_CLASS_ID : FUNCTION_CLASS_ID,
      instanceId,
    );
  }
  const proto = Object.getPrototypeOf(value);
  let classId = NULL_PROTOTYPE_CLASS_ID;
  if (proto !== null) {
    classId = classIds.get(proto) ?? nextClassId++;
    classIds.set(proto, classId);
  }
  const name = proto?.constructor?.name;
  return PyTuple.of(
    `netref.${typeof name === "string" && name !== "" ? name : "object"}`,
    classId,
    instanceId,
  );
}

/**
 * Local objects the peer holds references to, counted per send as RPyC's
 * `RefCountingColl`: the peer's DEL gives counts back, and an object is
 * dropped once all are back (or more, as RPyC allows).
 */
export class RpycExports extends ExportTable {
  /** The object exported as `id` (an id that is no JS number names none). */
  override get(id: number | bigint): object | undefined {
    return typeof id === "number" ? super.get(id) : undefined;
  }

  /**
   * Gives back `count` sends of `id`; more than were sent drops it.
   *
   * @returns False if `id` is not exported.
   */
  override release(id: number | bigint, count: number): boolean {
    return typeof id === "number" && super.release(id, count, "drop");
  }
}

/**
 * The peer's objects held here: one netref proxy per id pack (through
 * netref's `ImportTable`), each proxy known by a local import id.
 */
export class RpycImports {
  readonly #table: ImportTable;
  readonly #packs = new Map<number, IdPack>();
  readonly #ids = new Map<string, number>();
  #next = 1;

  /**
   * @param giveBack Told when a proxy is released: send the peer DEL.
   */
  constructor(giveBack: (pack: IdPack, count: number) => void) {
    this.#table = new ImportTable((id, count) => {
      const pack = this.#packs.get(id);
      if (pack === undefined) return;
      this.#packs.delete(id);
      this.#ids.delete(keyOf(pack));
      giveBack(pack, count);
    });
  }

  /** How many peer objects have a live proxy here. */
  get size(): number {
    return this.#table.size;
  }

  /**
   * The proxy for a peer object, counting one more receipt of it.
   *
   * @param make Makes the proxy for import id `id`.
   */
  get(
    pack: IdPack,
    make: (id: number, entry: ImportEntry, callable: boolean) => object,
  ): object {
    const key = keyOf(pack);
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#next++;
      this.#ids.set(key, id);
      this.#packs.set(id, pack);
    }
    const local = id;
    const callable = pack.instanceId == 0 || CALLABLE_CLASSES.has(pack.name);
    return this.#table.get(
      local,
      callable ? RefKind.FUNCTION : RefKind.OBJECT,
      (entry) => make(local, entry, callable),
    );
  }

  /**
   * The pack behind an import id.
   *
   * @returns The pack, or undefined once released.
   */
  packOf(id: number): IdPack | undefined {
    return this.#packs.get(id);
  }

  /** Releases a proxy now. */
  release(proxy: object): void {
    this.#table.release(proxy);
  }

  /**
   * Counts another connection starting (+1) or ending (-1) an export of a
   * proxy (see `ImportTable.forwarding`).
   */
  forwarding(proxy: object, delta: 1 | -1): void {
    this.#table.forwarding(proxy, delta);
  }

  /** Forgets every proxy without telling the peer, as when closing. */
  clear(): void {
    this.#table.clear();
    this.#packs.clear();
    this.#ids.clear();
  }
}

function keyOf(pack: IdPack): string {
  return `${pack.classId}/${pack.instanceId}`;
}

/**
 * The references to peer objects in a boxed value, without importing them:
 * what to give back when a reply arrives that nobody waits for.
 *
 * @returns One pack per reference (a pack twice if sent twice).
 */
export function packsIn(boxed: BrineValue): IdPack[] {
  const packs: IdPack[] = [];
  const walk = (value: BrineValue, depth: number): void => {
    if (!(value instanceof PyTuple) || value.length !== 2 || depth > 64) return;
    const [label, inner] = value.items;
    if (label === Label.REMOTE_REF) {
      try {
        packs.push(parsePack(inner));
      } catch {
        // A malformed reference holds nothing to give back.
      }
    } else if (label === Label.TUPLE && inner instanceof PyTuple) {
      for (const item of inner.items) walk(item, depth + 1);
    }
  };
  walk(boxed, 0);
  return packs;
}
