/**
 * The requests this side sent and waits for, by sequence number, with their
 * timeouts and abort signals. RPyC has no cancellation: a request given up
 * on is only forgotten, and its late reply is dropped (after giving back
 * what it carries).
 *
 * @example
 * ```ts
 * import { RequestTable } from "./requests.ts";
 * const table = new RequestTable({ label: "peer", timeout: 0, isClosed: () => false, box: () => null!, send() {}, giveBack() {}, log() {} });
 * const { seq, promise } = table.open(false, 0, undefined);
 * table.take(seq)!.resolve("done");
 * console.assert((await promise) === "done");
 * ```
 *
 * @module
 */

import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
  TimeoutError,
} from "../../errors.ts";
import { isThenable } from "../../core/pending_call.ts";
import type { CallOptions } from "../../core/types.ts";
import { type BrineValue, PyTuple } from "./brine.ts";
import { Handle, Label, Msg } from "./constants.ts";
import { type IdPack, PackRef, parsePack } from "./refs.ts";
import { loadException } from "./vinegar.ts";

/**
 * A request waiting for its answer.
 *
 * @example
 * ```ts
 * import type { PendingRequest } from "./requests.ts";
 * const waiting: PendingRequest = { resolve() {}, reject() {}, raw: false };
 * ```
 */
export interface PendingRequest {
  /** Settles the caller's promise with the reply. */
  resolve(value: unknown): void;
  /** Settles the caller's promise with an error. */
  reject(error: unknown): void;
  /** Whether a reference in the reply stays a bare pack (no netref). */
  readonly raw: boolean;
}

interface Entry extends PendingRequest {
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * What sending requests needs from the connection.
 *
 * @example
 * ```ts ignore
 * import type { RequestHost } from "./requests.ts";
 * const host: RequestHost = session;
 * ```
 */
export interface RequestHost {
  /** Describes the peer. */
  readonly label: string;
  /** Default call timeout in milliseconds. */
  readonly timeout: number;
  /** Whether the connection is closed. */
  isClosed(): boolean;
  /** Boxes a request's arguments. */
  box(args: unknown[]): PyTuple;
  /** Sends a REQUEST. */
  send(seq: number, request: PyTuple): void;
  /** Gives one reference back to the peer (RPyC's DEL). */
  giveBack(pack: IdPack): void;
  /** Where failures nobody waits for are reported. */
  log(message: string): void;
}

/**
 * The table of requests in flight.
 *
 * @example
 * ```ts
 * import { RequestTable } from "./requests.ts";
 * const table = new RequestTable({ label: "peer", timeout: 0, isClosed: () => false, box: () => null!, send() {}, giveBack() {}, log() {} });
 * const { promise } = table.open(false, 0, undefined);
 * table.failAll(new Error("closed"));
 * await promise.catch((e) => console.assert(e.message === "closed"));
 * ```
 */
export class RequestTable {
  readonly #host: RequestHost;
  readonly #pending = new Map<number, Entry>();
  #next = 0;
  #rootPack: IdPack | null = null;
  #rootRequest: Promise<IdPack> | null = null;

  /** @param host The connection. */
  constructor(host: RequestHost) {
    this.#host = host;
  }

  /** The pack of the peer's root, once received. */
  get rootPack(): IdPack | null {
    return this.#rootPack;
  }

  /**
   * Sends one request.
   *
   * @param handler The `HANDLE_*` number.
   * @param args Its arguments, boxed here.
   * @param options Timeout and signal.
   * @param raw Whether a reference in the reply stays a bare pack.
   * @returns The unboxed answer.
   */
  call(
    handler: Handle,
    args: unknown[],
    options: CallOptions | undefined,
    raw = false,
  ): Promise<unknown> {
    const host = this.#host;
    if (host.isClosed()) {
      return Promise.reject(
        new ConnectionClosedError(
          `Cannot call ${host.label}: the connection is closed`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let boxed: PyTuple;
    try {
      boxed = host.box(args);
    } catch (error) {
      return Promise.reject(error);
    }
    const { seq, promise } = this.open(
      raw,
      options?.timeout ?? host.timeout,
      signal,
    );
    try {
      host.send(seq, PyTuple.of(handler, boxed));
    } catch (error) {
      this.take(seq)?.reject(error);
    }
    return promise;
  }

  /**
   * Sends a request whose answer nobody waits for (RPyC's DEL): it takes no
   * place in the table, and its answer is dropped when it comes.
   *
   * @param handler The `HANDLE_*` number.
   * @param args Its arguments, boxed here.
   */
  notify(handler: Handle, args: unknown[]): void {
    const host = this.#host;
    if (host.isClosed()) return;
    try {
      host.send(this.#next++, PyTuple.of(handler, host.box(args)));
    } catch (error) {
      // Called from finalizers too, where a throw would end the process.
      host.log(
        `cannot send request ${handler} to ${host.label}: ${
          errorMessage(error)
        }`,
      );
    }
  }

  /**
   * The pack of the peer's root, asked for once and kept, as Python keeps
   * `conn.root`, until the connection closes.
   *
   * @param options Timeout and signal of the first request.
   * @returns The pack.
   */
  remoteRoot(options: CallOptions | undefined): Promise<IdPack> {
    if (this.#rootPack !== null) return Promise.resolve(this.#rootPack);
    if (this.#rootRequest === null) {
      this.#rootRequest = this.call(Handle.GETROOT, [], options, true).then(
        (root) => {
          if (!(root instanceof PackRef)) {
            throw new ProtocolError(
              `Cannot use the root of ${this.#host.label}: it did not arrive by reference`,
            );
          }
          return this.#rootPack = root.pack;
        },
      );
      this.#rootRequest.catch(() => this.#rootRequest = null);
    }
    return this.#rootRequest;
  }

  /** How many requests wait for an answer. */
  get size(): number {
    return this.#pending.size;
  }

  /** A sequence number for a message that expects no answer. */
  nextSeq(): number {
    return this.#next++;
  }

  /**
   * Registers a request.
   *
   * @param raw Whether a reference in the reply stays a bare pack.
   * @param timeout Milliseconds before it fails; 0 or Infinity for never.
   * @param signal Aborts it.
   * @returns Its sequence number and the promise of its answer.
   */
  open(
    raw: boolean,
    timeout: number,
    signal: AbortSignal | undefined,
  ): { seq: number; promise: Promise<unknown> } {
    const seq = this.#next++;
    const promise = new Promise<unknown>((resolve, reject) => {
      const entry: Entry = {
        resolve,
        reject,
        raw,
        timer: undefined,
        signal,
        onAbort: undefined,
      };
      if (timeout > 0 && Number.isFinite(timeout)) {
        entry.timer = setTimeout(() => {
          this.take(seq);
          reject(
            new TimeoutError(
              `Call to ${this.#host.label} timed out after ${timeout} ms`,
            ),
          );
        }, timeout);
      }
      if (signal !== undefined) {
        entry.onAbort = () => {
          this.take(seq);
          reject(signal.reason);
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.#pending.set(seq, entry);
    });
    return { seq, promise };
  }

  /**
   * Removes a request to settle it.
   *
   * @param seq Its sequence number.
   * @returns It, or undefined if it is no longer waiting.
   */
  take(seq: number): PendingRequest | undefined {
    const entry = this.#pending.get(seq);
    if (entry === undefined) return undefined;
    this.#pending.delete(seq);
    clearTimeout(entry.timer);
    if (entry.onAbort !== undefined) {
      entry.signal?.removeEventListener("abort", entry.onAbort);
    }
    return entry;
  }

  /**
   * Settles the request a REPLY or EXCEPTION answers.
   *
   * @param msg REPLY or EXCEPTION.
   * @param seq The request's sequence number.
   * @param args The boxed reply or the vinegar dump.
   * @param unbox Unboxes a reply.
   * @throws {ProtocolError} If the answer is malformed (the request fails
   *   with it too).
   */
  answer(
    msg: Msg,
    seq: number,
    args: BrineValue,
    unbox: (boxed: BrineValue) => unknown,
  ): void {
    const pending = this.take(seq);
    if (pending === undefined) {
      // Timed out or cancelled: give back what the late reply carries.
      if (msg === Msg.REPLY) {
        for (const pack of packsIn(args)) {
          this.#host.giveBack(pack);
        }
      }
      return;
    }
    try {
      if (msg === Msg.EXCEPTION) {
        pending.reject(loadException(args));
      } else if (
        pending.raw && args instanceof PyTuple &&
        args.items[0] === Label.REMOTE_REF
      ) {
        pending.resolve(new PackRef(parsePack(args.items[1])));
      } else {
        const value = unbox(args);
        // One of ours the peer names, with a `then` method: never called.
        if (isThenable(value)) {
          pending.reject(
            new TypeError(
              `Cannot receive the reply of ${this.#host.label}: it has a 'then' method, so await would call it instead of giving the value`,
            ),
          );
        } else {
          pending.resolve(value);
        }
      }
    } catch (error) {
      pending.reject(error);
      if (error instanceof ProtocolError) throw error;
    }
  }

  /**
   * Fails every request at once, as when the connection closes.
   *
   * @param error The error to reject them with.
   */
  failAll(error: Error): void {
    for (const seq of [...this.#pending.keys()]) this.take(seq)?.reject(error);
  }
}

/**
 * The references to peer objects in a boxed value, without importing them:
 * what to give back when a reply arrives that nobody waits for.
 *
 * @param boxed A boxed value as received.
 * @returns One pack per reference (a pack twice if sent twice).
 *
 * @example
 * ```ts
 * import { packsIn } from "./requests.ts";
 * import { PyTuple } from "./brine.ts";
 * const ref = PyTuple.of(4, PyTuple.of("m.C", 1, 2));
 * console.assert(packsIn(PyTuple.of(2, PyTuple.of(ref, ref))).length === 2);
 * ```
 */
export function packsIn(boxed: BrineValue): IdPack[] {
  const packs: IdPack[] = [];
  const walk = (value: BrineValue, depth: number): void => {
    if (
      !(value instanceof PyTuple) || value.length !== 2 || depth > 64
    ) {
      return;
    }
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
