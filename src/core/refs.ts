/**
 * Reference tables of a connection. The export table keeps the local objects
 * the peer holds references to, counted per send; the import table keeps one
 * proxy per peer object and gives the counts back when the proxy is disposed
 * or collected.
 *
 * @module
 */

/**
 * The connection a forwarded netref came from. An export of another
 * connection's netref holds that netref's count on its own connection: the
 * source is told when the export starts and when it ends.
 */
export interface ForwardSource {
  /** One more (+1) or one fewer (-1) connection exports `proxy` onward. */
  forwarding(proxy: object, delta: 1 | -1): void;
}

interface Exported {
  readonly value: object;
  count: number;
  /** Set when `value` is another connection's netref, forwarded. */
  readonly source: ForwardSource | undefined;
}

/**
 * Local objects the peer may reach by id. An object keeps its id while the
 * peer holds any reference to it; each send adds one to its count, and the
 * peer's RELEASE takes them back.
 *
 * @example
 * ```ts
 * import { ExportTable } from "./refs.ts";
 * const table = new ExportTable();
 * const fn = () => 1;
 * const id = table.export(fn);
 * table.release(id, 1);
 * console.assert(table.size === 0);
 * ```
 */
export class ExportTable {
  #byId = new Map<number, Exported>();
  #idByValue = new Map<object, number>();
  #nextId = 1;
  readonly #max: number;
  readonly #onFull: () => void;
  /** Told when the table stops or starts being empty. */
  onOccupied: ((occupied: boolean) => void) | null = null;

  /**
   * @param max Most objects exported at once (maxExports).
   * @param onFull Told when an export beyond `max` was refused.
   */
  constructor(max = Infinity, onFull: () => void = () => {}) {
    this.#max = max;
    this.#onFull = onFull;
  }

  /** How many objects are exported. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Counts one more send of `value` and returns its id.
   *
   * @param value The object being sent by reference.
   * @param source For another connection's netref: that connection, told
   *   while the export lasts.
   * @returns Its id, stable while it stays exported.
   * @throws {RangeError} If `value` is new and `max` objects are exported.
   */
  export(value: object, source?: ForwardSource): number {
    const id = this.#idByValue.get(value);
    if (id !== undefined) {
      this.#byId.get(id)!.count++;
      return id;
    }
    if (this.#byId.size >= this.#max) {
      this.#onFull();
      throw new RangeError(
        `Cannot send an object by reference: the peer already holds ${this.#max} (maxExports)`,
      );
    }
    const fresh = this.#nextId++;
    this.#byId.set(fresh, { value, count: 1, source });
    this.#idByValue.set(value, fresh);
    source?.forwarding(value, 1);
    if (this.#byId.size === 1) this.onOccupied?.(true);
    return fresh;
  }

  /**
   * The object exported under `id`.
   *
   * @param id A ref id received from the peer.
   * @returns The object, or undefined if no such export exists.
   */
  get(id: number): object | undefined {
    return this.#byId.get(id)?.value;
  }

  /**
   * Takes back `count` sends of `id`; the export is dropped at zero.
   *
   * @param id The ref id.
   * @param count How many sends the peer gives back.
   * @param excess What a count above the sends does: refuse it (netref's
   *   wire), or drop the export (RPyC's, whose DEL may give back more).
   * @returns False if the id is not exported or the count is refused.
   */
  release(
    id: number,
    count: number,
    excess: "refuse" | "drop" = "refuse",
  ): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined || (count > entry.count && excess === "refuse")) {
      return false;
    }
    entry.count -= count;
    if (entry.count <= 0) {
      this.#byId.delete(id);
      this.#idByValue.delete(entry.value);
      entry.source?.forwarding(entry.value, -1);
      if (this.#byId.size === 0) this.onOccupied?.(false);
    }
    return true;
  }

  /** Drops every export, as when the connection closes. */
  clear(): void {
    const forwarded: Exported[] = [];
    for (const entry of this.#byId.values()) {
      if (entry.source !== undefined) forwarded.push(entry);
    }
    this.#byId.clear();
    this.#idByValue.clear();
    for (const entry of forwarded) entry.source!.forwarding(entry.value, -1);
  }
}

/**
 * The import side of one peer reference: the proxy standing for it and how
 * many sends of it were received.
 */
export interface ImportEntry {
  readonly id: number;
  readonly kind: number;
  count: number;
  /** Set once the proxy was released: it is no longer usable here. */
  released: boolean;
  /**
   * How many connections export the proxy onward. While any does, its count
   * is not given back, even once released here: the peers it was forwarded
   * to still reach the object through it.
   */
  forwards: number;
  /** Set once the entry's count has been given back. */
  givenBack: boolean;
  proxy: WeakRef<object>;
}

/**
 * Proxies for the peer's objects: one live proxy per ref id. When a proxy is
 * disposed or garbage-collected, `onRelease` is told the count to give back.
 *
 * @example
 * ```ts
 * import { ImportTable } from "./refs.ts";
 * const released: number[] = [];
 * const table = new ImportTable((id) => released.push(id));
 * const proxy = table.get(5, 0, () => ({}));
 * table.release(proxy);
 * console.assert(released[0] === 5 && table.size === 0);
 * ```
 */
export class ImportTable {
  #entries = new Map<number, ImportEntry>();
  #entryByProxy = new WeakMap<object, ImportEntry>();
  #registry: FinalizationRegistry<ImportEntry>;
  #onRelease: (id: number, count: number) => void;

  /**
   * @param onRelease Told `(id, count)` whenever a proxy is released.
   */
  constructor(onRelease: (id: number, count: number) => void) {
    this.#onRelease = onRelease;
    this.#registry = new FinalizationRegistry((entry) => this.#giveBack(entry));
  }

  /** How many peer objects have a live proxy here. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The proxy for peer ref `id`, counting one more receipt of it.
   *
   * @param id The peer's ref id.
   * @param kind Its ref kind.
   * @param create Makes a new proxy when none is alive.
   * @returns The proxy.
   */
  get(
    id: number,
    kind: number,
    create: (entry: ImportEntry) => object,
  ): object {
    const existing = this.#entries.get(id);
    if (existing !== undefined) {
      const proxy = existing.proxy.deref();
      if (proxy !== undefined) {
        // Released here but still forwarded: usable again, as received anew.
        existing.released = false;
        existing.count++;
        return proxy;
      }
      // Collected, but its finalizer has not run: the new entry inherits the
      // count, and the old one will never report.
      this.#registry.unregister(existing);
      existing.released = true;
      existing.givenBack = true;
    }
    const entry: ImportEntry = {
      id,
      kind,
      count: 1 + (existing?.count ?? 0),
      released: false,
      forwards: 0,
      givenBack: false,
      proxy: undefined as unknown as WeakRef<object>,
    };
    const proxy = create(entry);
    entry.proxy = new WeakRef(proxy);
    this.#entries.set(id, entry);
    this.#entryByProxy.set(proxy, entry);
    this.#registry.register(proxy, entry, entry);
    return proxy;
  }

  /**
   * The entry behind a proxy made by this table.
   *
   * @param proxy A proxy.
   * @returns Its entry, or undefined.
   */
  entryOf(proxy: object): ImportEntry | undefined {
    return this.#entryByProxy.get(proxy);
  }

  /**
   * Releases a proxy now: its count goes back to the peer and it becomes
   * unusable. Releasing twice does nothing.
   *
   * @param proxy A proxy made by this table.
   */
  release(proxy: object): void {
    const entry = this.#entryByProxy.get(proxy);
    if (entry === undefined || entry.released) return;
    this.#giveBack(entry);
  }

  /**
   * Counts another connection starting (+1) or ending (-1) an export of
   * `proxy`. A proxy released here while forwarded gives its count back when
   * the last export ends.
   *
   * @param proxy A proxy made by this table.
   * @param delta +1 or -1.
   */
  forwarding(proxy: object, delta: 1 | -1): void {
    const entry = this.#entryByProxy.get(proxy);
    if (entry === undefined || entry.givenBack) return;
    entry.forwards += delta;
    if (entry.forwards === 0 && entry.released) this.#giveBack(entry);
  }

  /** Forgets every proxy without telling the peer, as when the connection closes. */
  clear(): void {
    for (const entry of this.#entries.values()) {
      this.#registry.unregister(entry);
      entry.released = true;
      entry.givenBack = true;
    }
    this.#entries.clear();
  }

  /** Gives the count back, or, while the proxy is forwarded, once it no longer is. */
  #giveBack(entry: ImportEntry): void {
    if (entry.givenBack) return;
    entry.released = true;
    if (entry.forwards > 0) return;
    entry.givenBack = true;
    this.#registry.unregister(entry);
    if (this.#entries.get(entry.id) === entry) this.#entries.delete(entry.id);
    this.#onRelease(entry.id, entry.count);
  }
}
