/**
 * A table of values by integer id, for the calls in flight on a connection:
 * slots indexed by the id's low bits, since ids come in order and calls
 * mostly finish soon, so that an id nearly always finds its slot free.
 *
 * A `Map` whose entries are added and deleted one after the other rehashes
 * as it goes: its tables were a tenth of a sequential call's garbage, and
 * with 100 calls in flight they outlived scavenges and forced mark-compacts.
 *
 * @module
 */

/** Slots to start with; the table doubles while over half full. */
const INITIAL_SLOTS = 16;

/**
 * Values by id. An id whose slot is taken (by a value of another id, kept
 * for long, or an id a peer chose to collide) goes to an overflow map, so
 * that the table grows with the number of entries only, never with the ids.
 *
 * @example
 * ```ts
 * import { IdSlots } from "./id_slots.ts";
 * const table = new IdSlots<string>();
 * table.add(7, "call 7");
 * console.assert(table.get(7) === "call 7" && table.size === 1);
 * ```
 */
export class IdSlots<V> {
  #ids: number[] = new Array(INITIAL_SLOTS).fill(-1);
  #values: (V | undefined)[] = new Array(INITIAL_SLOTS).fill(undefined);
  #mask = INITIAL_SLOTS - 1;
  #overflow: Map<number, V> | null = null;
  /** Entries in the table. */
  size = 0;

  /**
   * The value of `id`, or undefined.
   *
   * @param id An id.
   * @returns Its value.
   */
  get(id: number): V | undefined {
    const slot = id & this.#mask;
    if (this.#ids[slot] === id && id >= 0) return this.#values[slot];
    return this.#overflow?.get(id);
  }

  /**
   * Whether `id` has a value.
   *
   * @param id An id.
   * @returns True if it has.
   */
  has(id: number): boolean {
    const slot = id & this.#mask;
    if (this.#ids[slot] === id && id >= 0) return true;
    return this.#overflow !== null && this.#overflow.has(id);
  }

  /**
   * Adds an id that is not in the table.
   *
   * @param id The id: an integer, not in the table.
   * @param value Its value.
   */
  add(id: number, value: V): void {
    if (this.size * 2 >= this.#ids.length) this.#grow();
    this.size++;
    const slot = id & this.#mask;
    // -1 marks a free slot: a negative id goes to the overflow map.
    if (id >= 0 && this.#ids[slot] === -1) {
      this.#ids[slot] = id;
      this.#values[slot] = value;
    } else {
      (this.#overflow ??= new Map()).set(id, value);
    }
  }

  /**
   * Removes an id.
   *
   * @param id The id.
   * @returns True if it was in the table.
   */
  delete(id: number): boolean {
    const slot = id & this.#mask;
    if (this.#ids[slot] === id && id >= 0) {
      this.#ids[slot] = -1;
      this.#values[slot] = undefined;
    } else if (this.#overflow === null || !this.#overflow.delete(id)) {
      return false;
    }
    this.size--;
    return true;
  }

  /**
   * The values, as they are now: changing the table while going through
   * them is safe.
   *
   * @returns The values.
   */
  values(): V[] {
    const values: V[] = [];
    const ids = this.#ids;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] !== -1) values.push(this.#values[i] as V);
    }
    if (this.#overflow !== null) values.push(...this.#overflow.values());
    return values;
  }

  /** Removes everything. */
  clear(): void {
    this.#ids.fill(-1);
    this.#values.fill(undefined);
    this.#overflow = null;
    this.size = 0;
  }

  #grow(): void {
    const ids: number[] = [];
    const values: V[] = [];
    for (let i = 0; i < this.#ids.length; i++) {
      if (this.#ids[i] !== -1) {
        ids.push(this.#ids[i]);
        values.push(this.#values[i] as V);
      }
    }
    if (this.#overflow !== null) {
      for (const [id, value] of this.#overflow) {
        ids.push(id);
        values.push(value);
      }
    }
    const length = this.#ids.length * 2;
    this.#ids = new Array(length).fill(-1);
    this.#values = new Array(length).fill(undefined);
    this.#mask = length - 1;
    this.#overflow = null;
    this.size = 0;
    for (let i = 0; i < ids.length; i++) this.add(ids[i], values[i]);
  }
}
