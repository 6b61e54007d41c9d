/**
 * The public face of a connection, keeping its engine private.
 *
 * @module
 */

import type {
  CallOptions,
  Connection,
  ConnectionStats,
  PeerInfo,
} from "./types.ts";

/** What the handle needs from the engine behind it. */
export interface HandleTarget {
  readonly root: object;
  readonly peer: PeerInfo;
  readonly remoteAddr: Deno.Addr | null;
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  readonly stats: ConnectionStats;
  readonly label: string;
  ping(options?: CallOptions): Promise<number>;
  close(reason: Error | null, notifyPeer: boolean): Promise<void>;
}

/** The public {@linkcode Connection}: a thin wrapper keeping the session private. */
export class ConnectionHandle implements Connection {
  readonly #session: HandleTarget;

  constructor(session: HandleTarget) {
    this.#session = session;
  }

  get root(): never {
    return this.#session.root as never;
  }

  get peer(): PeerInfo {
    return this.#session.peer;
  }

  get remoteAddr(): Deno.Addr | null {
    return this.#session.remoteAddr;
  }

  get closed(): Promise<void> {
    return this.#session.closed;
  }

  get isClosed(): boolean {
    return this.#session.isClosed;
  }

  get stats(): ConnectionStats {
    return this.#session.stats;
  }

  ping(options?: CallOptions): Promise<number> {
    return this.#session.ping(options);
  }

  close(): Promise<void> {
    return this.#session.close(null, true);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.for("Deno.customInspect")](): string {
    return `Connection(${this.#session.label}${
      this.#session.isClosed ? ", closed" : ""
    })`;
  }
}
