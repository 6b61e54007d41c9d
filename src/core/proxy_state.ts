/**
 * What a netref proxy is: the state behind one, how a proxy is told from
 * other values, and what proxies need from their connection.
 *
 * @module
 */

import type { Op } from "../protocol/constants.ts";
import type { FailureSink } from "./pending_call.ts";
import type { ForwardSource, ImportEntry } from "./refs.ts";
import type { CallOptions } from "./types.ts";

/** A request on its way, which later requests may be pipelined on. */
export interface PendingResult {
  /** Settles with the decoded result. */
  readonly promise: Promise<unknown>;
  /**
   * The target naming this result on the peer, if a request may still be
   * pipelined on it (the peer is then told to hold the result); else null.
   */
  pipelineTarget(): number | null;
  /**
   * Set once something asked for the result (`then`, `catch`, `finally`, a
   * call pipelined on it): its failure is then theirs to handle. A failure
   * nobody asked for is logged instead of going unhandled.
   */
  observed: boolean;
}

/**
 * What proxies need from their connection; `log` reports calls that failed
 * while nobody waited for them.
 */
export interface ProxyHost extends ForwardSource, FailureSink {
  /**
   * Sends an operation on `target` (a ref id, 0 for root, or a negated
   * pending request id).
   */
  request(
    target: number,
    op: Op,
    path: readonly string[],
    payload: unknown,
    options: CallOptions | undefined,
  ): PendingResult;
  /** Gives a ref proxy's count back to the peer now. */
  release(proxy: object): void;
  /** Describes the connection's peer for messages and inspection. */
  readonly label: string;
  /** Whether the connection is closed. */
  readonly isClosed: boolean;
  /** The class name of a remote object, where the wire carries one. */
  refName?(target: number): string | undefined;
  /** Iterates a remote object, where the wire can (`for await` on a REF). */
  iterate?(state: ProxyState): AsyncIterator<unknown>;
}

/**
 * Fails for a released netref. On a closed connection it passes, so that
 * the call itself rejects with the reason the connection closed.
 */
export function checkUsable(entry: ImportEntry | null, host: ProxyHost): void {
  if (entry !== null && entry.released && !host.isClosed) {
    throw new ReferenceError(
      `Cannot use netref #${entry.id} of ${host.label}: it was released`,
    );
  }
}

/** A remote object (or the root). */
export const REF = 0;
/** A member path on a REF or RESULT. */
export const PATH = 1;
/** The pending result of a call. */
export const RESULT = 2;

/** The state behind one proxy. */
export interface ProxyState {
  readonly host: ProxyHost;
  readonly mode: typeof REF | typeof PATH | typeof RESULT;
  /** REF: the ref id (0 for the root). */
  readonly target: number;
  /** REF: the import entry (null for the root). */
  readonly entry: ImportEntry | null;
  /** REF: whether it stands for a function. */
  readonly callable: boolean;
  /**
   * PATH: the REF or RESULT state the path starts from. RESULT: what was
   * called, for inspection.
   */
  readonly base: ProxyState | null;
  /** PATH: member names from the base. */
  readonly path: readonly string[];
  /** RESULT: the call whose result this stands for. */
  readonly result: PendingResult | null;
  readonly options: CallOptions | undefined;
  /** REF: member proxies made so far, by name, reused for `ref.name`. */
  members?: Map<string, object>;
}
// Answered by every proxy's `get` trap: how a proxy is told from other values.
export const STATE: unique symbol = Symbol("netref.state");

/**
 * The state of a netref proxy, or undefined for any other value.
 *
 * @param value Any value.
 * @returns The proxy's state.
 */
export function proxyState(value: unknown): ProxyState | undefined {
  return (typeof value === "function" || typeof value === "object") &&
      value !== null
    ? (value as { [STATE]?: ProxyState })[STATE]
    : undefined;
}
