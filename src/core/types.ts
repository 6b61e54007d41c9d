/**
 * The public types of a connection and of remote objects, and the internal
 * shapes of its options once resolved.
 *
 * @module
 */

import type { LogHook } from "../log.ts";
import type { Interceptor } from "./intercept.ts";

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
  /** Streams open either way: sent and not finished, or received and not. */
  streams: number;
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
 * @typeParam T The type of the peer's root object (its service). Without
 * one, `root` is a {@linkcode RemoteAny}: any member can be reached.
 */
// Covariant: a `Connection<S>` is a `Connection` (of unknown service), whose
// root reaches any member; at runtime it does. TypeScript cannot prove this
// through the conditional `Remote<T>` (TS2636), so the annotation asserts it.
// @ts-expect-error: variance asserted, see above
export interface Connection<out T = unknown> extends AsyncDisposable {
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
 * Values that travel as streams: async iterables (async generators,
 * `ReadableStream`s) and sync iterators (generators, Map and Set iterators),
 * but not collections, which are copied or referenced.
 */
export type StreamSource =
  | AsyncIterable<unknown>
  | (Iterator<unknown> & Iterable<unknown>);

/**
 * How a value of type `T` arrives from the peer: data by copy, functions and
 * objects with methods as netrefs, a `ReadableStream` or `WritableStream` as
 * one, other async iterables and sync iterators as an `AsyncIterableIterator`
 * read with `for await`.
 */
export type Received<T> = T extends CopiedValue ? T
  : T extends AnyFunction ? Remote<T>
  : T extends readonly (infer E)[] ? Received<E>[]
  : T extends Map<infer K, infer V> ? Map<Received<K>, Received<V>>
  : T extends Set<infer E> ? Set<Received<E>>
  : T extends Error ? Error
  : T extends ReadableStream<infer E> ? ReadableStream<Received<E>>
  : T extends WritableStream<infer E> ? WritableStream<E>
  : T extends AsyncIterable<infer E>
    ? AsyncIterableIterator<Received<E>> & AsyncDisposable
  : T extends Iterator<infer E> & Iterable<unknown>
    ? AsyncIterableIterator<Received<E>> & AsyncDisposable
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
  & (Awaited<T> extends CopiedValue | StreamSource | WritableStream<never>
    ? unknown
    : RemoteMembers<Awaited<T>>);

/**
 * A remote member: methods are called, other members are awaited. An
 * exposed class is called without `new` and constructs an instance there.
 */
export type RemoteMember<V> = V extends (...args: infer A) => infer R
  ? (...args: A) => RemoteResult<R>
  : V extends new (...args: infer A) => infer R
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
 *
 * Without a known type (`Remote<unknown>`, the root of `connect()` without a
 * type argument or of `connectRpyc()`) it is a {@linkcode RemoteAny}: every
 * member path can be read, called and awaited, and gives `unknown`.
 */
export type Remote<T = unknown> = unknown extends T ? RemoteAny
  :
    & RemoteMembers<T>
    & Disposable
    & (T extends (...args: infer A) => infer R ? (...args: A) => RemoteResult<R>
      : unknown);

/**
 * A netref to a remote object of unknown type, such as a Python service's
 * root: any member can be reached (`ref.anything.deeper`), called and
 * awaited, each giving `unknown`. Calling it calls the object itself, which
 * rejects unless it is a function. It is not awaitable itself: `await ref`
 * gives the ref back.
 *
 * To give an untyped connection its type, cast the connection:
 * `conn as Connection<MyService>`.
 *
 * @example Calling a service of unknown type
 * ```ts
 * import { connect } from "@netref/netref";
 * await using conn = await connect("localhost", 18811); // no type argument
 * const sum = await conn.root.add(1, 2); // unknown
 * const name = await conn.root.settings.name; // unknown
 * console.log(Number(sum) + 1, String(name));
 * ```
 */
export type RemoteAny =
  & RemoteAnyCallable
  & Disposable
  & { readonly then?: undefined };

/**
 * What every netref of unknown type has: any string-named member, and a call.
 * The names a function has in JavaScript (`name`, `length`, `call`, ...) are
 * remote members too, as they are at runtime.
 */
export interface RemoteAnyCallable {
  /** Calls the remote object itself. */
  (...args: unknown[]): RemoteAnyResult;
  /** Any member, by name. */
  readonly [member: string]: RemoteAnyMember;
  /** The remote member `name`. */
  readonly name: RemoteAnyMember;
  /** The remote member `length`. */
  readonly length: RemoteAnyMember;
  /** The remote member `call`. */
  readonly call: RemoteAnyMember;
  /** The remote member `apply`. */
  readonly apply: RemoteAnyMember;
  /** The remote member `bind`. */
  readonly bind: RemoteAnyMember;
  /** The remote member `arguments`. */
  readonly arguments: RemoteAnyMember;
  /** The remote member `caller`. */
  readonly caller: RemoteAnyMember;
}

/**
 * A member of a remote object of unknown type: awaited, it reads the member;
 * called, it calls it; its own members can be reached before either.
 */
export type RemoteAnyMember = RemoteAnyCallable & PromiseLike<unknown>;

/**
 * The result of calling a member of unknown type: a promise of `unknown`,
 * through which the result's members can already be reached (pipelining).
 */
export type RemoteAnyResult =
  & Promise<unknown>
  & { readonly [member: string]: RemoteAnyMember };

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
  /** Most streams open at once each way. */
  maxStreams: number;
  /** Whether errors sent to the peer carry their stack trace. */
  includeStack: boolean;
  /** The shared secret, if any. */
  token?: string;
  /** Where protocol violations, refusals and failures are reported. */
  log: LogHook;
  /** The interceptors every call passes through; null when there are none. */
  intercept: readonly Interceptor[] | null;
}

/**
 * How a session behaves: the connection's options as a resolver checked and
 * completed them (`resolveOptions`), and what ties it to its peer.
 * Internal, as {@linkcode ResolvedOptions} is.
 */
export interface SessionOptions extends ResolvedOptions {
  /** The object the peer reaches as `root`, or null to serve nothing. */
  root: object | null;
  /** Service name announced in the hello. */
  serviceName?: string;
  /** Called once the handshake is done, before any request is served. */
  onReady?: (conn: Connection) => void | Promise<void>;
  /** Called once, when the connection is closed. */
  onClose?: (conn: Connection, reason: Error | null) => void | Promise<void>;
  /**
   * True on the accepting side: its hello goes out only once the peer's hello
   * is valid and `onReady` succeeded, or carries the reason it refuses.
   */
  acceptor: boolean;
  /** How the peer is described in messages, such as its address. */
  label: string;
}
