/**
 * The public face of an RPyC connection: the same `Connection` as netref's
 * own, keeping the engine private.
 *
 * @example
 * ```ts ignore
 * import { RpycConnection } from "./connection.ts";
 * const conn = new RpycConnection(session);
 * await conn.root.foo();
 * ```
 *
 * @module
 */

import type {
  CallOptions,
  Connection,
  ConnectionStats,
  PeerInfo,
} from "../../core/types.ts";
import type { WireVersion } from "./constants.ts";

/**
 * What the public connection needs from its engine.
 *
 * @example
 * ```ts ignore
 * import type { ConnectionEngine } from "./connection.ts";
 * const engine: ConnectionEngine = session;
 * ```
 */
export interface ConnectionEngine {
  /** The peer's root, as a netref. */
  readonly root: object;
  /** The wire version, once known. */
  readonly version: WireVersion | null;
  /** The peer's address. */
  readonly remoteAddr: Deno.Addr | null;
  /** Resolves once closed. */
  readonly closed: Promise<void>;
  /** Whether it is closed. */
  readonly isClosed: boolean;
  /** Live counts. */
  readonly stats: ConnectionStats;
  /** Describes the peer. */
  readonly label: string;
  /** Round trip of RPyC's PING, in milliseconds. */
  ping(options?: CallOptions): Promise<number>;
  /** Closes, telling the peer. */
  close(reason: Error | null, notifyPeer: boolean): Promise<void>;
}

/**
 * A {@linkcode Connection} over RPyC.
 *
 * @example
 * ```ts ignore
 * import { RpycConnection } from "./connection.ts";
 * await using conn = new RpycConnection(session);
 * console.log(conn.peer.implementation); // "rpyc/5"
 * ```
 */
export class RpycConnection implements Connection {
  readonly #engine: ConnectionEngine;

  /** @param engine The connection's engine. */
  constructor(engine: ConnectionEngine) {
    this.#engine = engine;
  }

  /** The peer's root object, as a netref. */
  get root(): never {
    return this.#engine.root as never;
  }

  /** `rpyc/5` or `rpyc/6` once known; RPyC frames may be up to 4 GiB. */
  get peer(): PeerInfo {
    const version = this.#engine.version;
    return {
      implementation: version === null ? "rpyc" : `rpyc/${version}`,
      maxFrameBytes: 0xffffffff,
    };
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr | null {
    return this.#engine.remoteAddr;
  }

  /** Resolves once closed. */
  get closed(): Promise<void> {
    return this.#engine.closed;
  }

  /** Whether it is closed. */
  get isClosed(): boolean {
    return this.#engine.isClosed;
  }

  /** Exports, imports, pending and in-flight calls. */
  get stats(): ConnectionStats {
    return this.#engine.stats;
  }

  /**
   * Sends RPyC's PING.
   *
   * @param options Timeout and signal.
   * @returns The round-trip time in milliseconds.
   */
  ping(options?: CallOptions): Promise<number> {
    return this.#engine.ping(options);
  }

  /** Closes the connection, sending RPyC's CLOSE. */
  close(): Promise<void> {
    return this.#engine.close(null, true);
  }

  /** Same as {@linkcode RpycConnection.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Describes the connection for `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return `RpycConnection(${this.#engine.label}${
      this.#engine.isClosed ? ", closed" : ""
    })`;
  }
}
