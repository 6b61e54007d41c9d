/**
 * The public types of a connection and of remote objects.
 *
 * @module
 */

import type { LogHook } from "../log.ts";

/** Options of one remote call, or of every call through a proxy. */
export interface CallOptions {
  /**
   * Milliseconds before the call fails with a `TimeoutError` and the peer is
   * sent a cancellation. `0` or `Infinity` waits forever.
   *
   * @default {30000} (or the connection's `timeout`)
   */
  timeout?: number;
  /** Cancels the call: it rejects with the signal's reason and the peer's handler sees its signal abort. */
  signal?: AbortSignal;
}

/** Counts of a connection's live state, for monitoring and leak tests. */
export interface ConnectionStats {
  /** Local objects the peer holds references to. */
  exports: number;
  /** Peer objects with a live proxy here. */
  imports: number;
  /** Calls sent and not yet answered. */
  pendingCalls: number;
  /** Calls received and still running. */
  inFlight: number;
  /** Results kept for the peer to pipeline on, until it releases them. */
  held: number;
}

/** What the peer said about itself in the handshake. */
export interface PeerInfo {
  /** Its implementation and version, such as `netref-deno/0.1.0`. */
  implementation: string;
  /** The largest frame it accepts. */
  maxFrameBytes: number;
  /** The service name it serves, if it serves one. */
  service?: string;
}

/**
 * One netref connection. Both ends serve: `root` reaches the peer's root
 * object, and the peer reaches ours.
 *
 * @typeParam T The type of the peer's root object (its service).
 */
export interface Connection<T = unknown> extends AsyncDisposable {
  /** The peer's root object. Members are read with `await` and called as methods. */
  readonly root: Remote<T>;
  /** What the peer said about itself. */
  readonly peer: PeerInfo;
  /** The peer's address, for network transports. */
  readonly remoteAddr: Deno.Addr | null;
  /** Resolves once the connection is closed, for any reason. */
  readonly closed: Promise<void>;
  /** Whether the connection is closed. */
  readonly isClosed: boolean;
  /** Live counts: exports, imports, pending and in-flight calls. */
  readonly stats: ConnectionStats;
  /**
   * Sends a PING and waits for the PONG.
   *
   * @returns The round-trip time in milliseconds.
   */
  ping(options?: CallOptions): Promise<number>;
  /**
   * Closes the connection: pending calls fail with `ConnectionClosedError`,
   * the peer is told, and both sides drop their references.
   */
  close(): Promise<void>;
}

/** Values that travel by copy and arrive unchanged. */
export type CopiedValue =
  | string
  | number
  | boolean
  | bigint
  | null
  | undefined
  | Uint8Array
  | Date;

/** Any function: functions travel by reference. */
export type AnyFunction = (...args: never[]) => unknown;

/** `true` when `T` has at least one method: such objects travel by reference. */
export type HasMethods<T> = {
  [K in keyof T]: T[K] extends AnyFunction ? true : never;
}[keyof T] extends never ? false : true;

/**
 * How a value of type `T` arrives from the peer: data by copy, functions and
 * objects with methods as netrefs.
 */
export type Received<T> = T extends CopiedValue ? T
  : T extends AnyFunction ? Remote<T>
  : T extends readonly (infer E)[] ? Received<E>[]
  : T extends Map<infer K, infer V> ? Map<Received<K>, Received<V>>
  : T extends Set<infer E> ? Set<Received<E>>
  : T extends Error ? Error
  : T extends object ? HasMethods<T> extends true ? Remote<T>
    : { [K in keyof T]: Received<T[K]> }
  : T;

/**
 * The result of a remote call: a promise of the received value, through which
 * further members can already be reached (pipelining:
 * `root.make().name()` costs one round trip).
 */
export type RemoteResult<T> =
  & Promise<Received<Awaited<T>>>
  & (Awaited<T> extends CopiedValue ? unknown : RemoteMembers<Awaited<T>>);

/** A remote member: methods are called, other members are awaited. */
export type RemoteMember<V> = V extends (...args: infer A) => infer R
  ? (...args: A) => RemoteResult<R>
  :
    & PromiseLike<Received<V>>
    & (V extends CopiedValue ? unknown : RemoteMembers<V>);

/** The string-keyed members of `T`, each as a {@linkcode RemoteMember}. */
export type RemoteMembers<T> = {
  readonly [K in keyof T as K extends string ? K : never]: RemoteMember<T[K]>;
};

/**
 * A netref to a remote `T`: `await ref.field` reads, `await ref.method(...)`
 * calls, and disposing it (`using`) releases it at once instead of waiting for
 * garbage collection.
 */
export type Remote<T> =
  & RemoteMembers<T>
  & Disposable
  & (T extends (...args: infer A) => infer R ? (...args: A) => RemoteResult<R>
    : unknown);

/**
 * Connection options checked and with every default filled in: what
 * `resolveOptions()` makes of `ConnectionOptions`. Internal: no entry point
 * exports it.
 */
export interface ResolvedOptions {
  /** Default call timeout in milliseconds; 0 or Infinity for none. */
  timeout: number;
  /** Largest frame accepted from the peer. */
  maxFrameBytes: number;
  /** Milliseconds to wait for the peer's hello. */
  handshakeTimeout: number;
  /** Milliseconds of silence before an idle connection is closed; 0: never. */
  idleTimeout: number;
  /** Milliseconds a started frame may take to arrive; 0: no limit. */
  frameTimeout: number;
  /** Most incoming calls running at once. */
  maxInFlight: number;
  /** Most local objects the peer may hold references to. */
  maxExports: number;
  /** Whether errors sent to the peer carry their stack trace. */
  includeStack: boolean;
  /** The shared secret, if any. */
  token?: string;
  /** Where protocol violations, refusals and failures are reported. */
  log: LogHook;
}
