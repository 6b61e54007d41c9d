/**
 * A call this side sent, waiting for its answer: its promise, its deadline,
 * and the queued request whose hold byte pipelining may still flip. Also
 * what becomes of results the peer sends that `await` would misread, and of
 * failures nobody waits for.
 *
 * @module
 */

import { type LogEvent, logEvent } from "../log.ts";
import { MSGPACK_FALSE, MSGPACK_TRUE } from "../protocol/constants.ts";
import { errorMessage } from "../errors.ts";
import type { PendingResult } from "./proxy_state.ts";
import { IdSlots } from "./id_slots.ts";
import type { FrameSlice } from "../protocol/frame.ts";

const NO_BYTES = new Uint8Array(0);

/** Where a call that failed while nobody waited for it is reported. */
export interface FailureSink {
  /** Describes the connection's peer. */
  readonly label: string;
  /** Reports an event. */
  log(event: LogEvent): void;
}

/**
 * A call this side sent, waiting for its answer. A request encoded by hand
 * lies in a shared buffer, from `start` to `end` of `bytes`: the call itself
 * is then the frame the writer copies, so a call makes no view of its bytes.
 */
export class PendingCall implements PendingResult, FrameSlice {
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;
  /**
   * The bytes holding the encoded request until they are copied into a
   * write; null after.
   */
  payload: Uint8Array | null = null;
  bytes: Uint8Array = NO_BYTES;
  start = 0;
  /** Where the encoded request ends in `payload` (its hold flag before). */
  end = 0;
  held = false;
  settled = false;
  observed = false;
  /** When the call times out (`Date.now()` time), or Infinity. */
  deadline = Infinity;
  /** The timeout the deadline came from, for the error message. */
  timeout = 0;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    readonly id: number,
    readonly target: number,
    readonly path: readonly string[],
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** What was called, for error messages; made only when one is. */
  get label(): string {
    return describeTarget(this.target, this.path);
  }

  pipelineTarget(): number | null {
    if (this.settled) return null;
    if (!this.held) {
      const payload = this.payload;
      // The hold flag is the request's last element, so its encoding (a
      // single byte, false or true) is the payload's last byte.
      if (payload === null || payload[this.end - 1] !== MSGPACK_FALSE) {
        return null;
      }
      payload[this.end - 1] = MSGPACK_TRUE;
      this.held = true;
      // Its failure reaches the caller through the pipelined request.
      this.observed = true;
      this.promise.catch(() => {});
    }
    return -this.id;
  }

  /**
   * Settles with the peer's answer; one that `await` would call instead of
   * giving (it has a `then` method) fails the call instead.
   *
   * @param value The decoded answer.
   * @param sink Where a failure nobody waits for is reported.
   */
  deliver(value: unknown, sink: FailureSink): void {
    if (isThenable(value)) {
      this.fail(thenableError(`the result of ${this.label}`, sink), sink);
    } else {
      this.resolve(value);
    }
  }

  /**
   * Rejects. When nothing has asked for the result by the time the
   * rejection would go unhandled, it is reported once instead, so that a
   * call nobody awaits (to a peer that has gone, say) never exits the
   * process; whoever awaits it later still sees the error.
   *
   * @param error Why the call failed.
   * @param sink Where it is reported if nobody waits.
   */
  fail(error: unknown, sink: FailureSink): void {
    this.reject(error);
    reportUnawaited(this, sink, this.label);
  }
}

/**
 * Makes sure a failure of `result` never goes unhandled: if nothing has
 * asked for it (`observed`) when it fails, it is logged once.
 *
 * @param result The pending result.
 * @param sink Where it is logged.
 * @param what What was called, for the message.
 */
export function reportUnawaited(
  result: PendingResult,
  sink: FailureSink,
  what: string,
): void {
  result.promise.catch((error) => {
    if (!result.observed) {
      const reason = errorMessage(error);
      sink.log(logEvent(
        "warn",
        "call.unawaited",
        `a call to ${what} on ${sink.label} failed while nothing awaited it: ${reason}`,
        { peer: sink.label, reason, error },
      ));
    }
  });
}

/**
 * A result computed by this side (a call on data already received, or an
 * RPyC request): its failure is reported if nobody waits for it.
 *
 * @param promise Settles with the result.
 * @param sink Where a failure nobody waits for is reported.
 * @param what What was called, for the message.
 * @returns The pending result.
 */
export function watchedResult(
  promise: Promise<unknown>,
  sink: FailureSink,
  what: string,
): PendingResult {
  const result: PendingResult = {
    promise,
    pipelineTarget: () => null,
    observed: false,
  };
  reportUnawaited(result, sink, what);
  return result;
}

/**
 * Whether `await` would call a `then` method of a value received rather
 * than give the value: an object or function with a callable `then`, other
 * than a promise. A peer must never have this side call such a method.
 *
 * @param value A received value.
 * @returns True if it must not be resolved through a promise.
 */
export function isThenable(value: unknown): boolean {
  if (typeof value !== "object" && typeof value !== "function") return false;
  return value !== null && !(value instanceof Promise) &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * The error for a received value that `await` would misread as a promise.
 *
 * @param what What it was, such as "the result of root.foo".
 * @param sink The connection, for its label.
 * @returns The error.
 */
export function thenableError(what: string, sink: FailureSink): TypeError {
  return new TypeError(
    `Cannot receive ${what} from ${sink.label}: it has a 'then' method, so await would call it instead of giving the value; send it inside an array or object instead`,
  );
}

/** What a request names, for messages: its path, the root, or a ref. */
export function describeTarget(
  target: number,
  path: readonly string[],
): string {
  if (path.length > 0) return path.join(".");
  return target === 0 ? "root" : `ref #${target}`;
}

/** A call that failed before it was sent. */
export function settledCall(
  target: number,
  path: readonly string[],
  error: unknown,
  sink: FailureSink,
): PendingCall {
  const call = new PendingCall(0, target, path);
  call.settled = true;
  call.fail(error, sink);
  return call;
}

/**
 * The calls a connection sent and waits for, by id, with one timer for all
 * their deadlines: a timer per call costs more than the rest of a call's
 * bookkeeping, while with one per table a call whose deadline is not the
 * earliest costs a comparison.
 */
export class CallTable<C extends PendingCall = PendingCall> {
  readonly #calls = new IdSlots<C>();
  readonly #abandon: (call: C, reason: unknown) => void;
  readonly #timedOut: (call: C) => Error;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #sweepAt = Infinity;
  /**
   * Whether the deadline timer lets the process exit: set where the socket
   * keeps the process alive while calls are pending, since the timer
   * outlives the calls it was armed for.
   */
  unrefTimer = false;
  /** Told when the table stops or starts being empty. */
  onBusy: ((busy: boolean) => void) | null = null;
  /** `Date.now()` as read by this turn's first call, or -1. */
  #now = -1;
  readonly #forgetNow = (): void => {
    this.#now = -1;
  };

  /**
   * @param abandon Gives up on a call that timed out or was aborted.
   * @param timedOut The error of a call past its deadline.
   */
  constructor(
    abandon: (call: C, reason: unknown) => void,
    timedOut: (call: C) => Error,
  ) {
    this.#abandon = abandon;
    this.#timedOut = timedOut;
  }

  get size(): number {
    return this.#calls.size;
  }

  get(id: number): C | undefined {
    return this.#calls.get(id);
  }

  /** The pending calls, as they are now: settling them while iterating is safe. */
  values(): C[] {
    return this.#calls.values();
  }

  /**
   * Registers a call, with its deadline and abort signal.
   *
   * @param call The call.
   * @param timeout Milliseconds before it expires; 0 or Infinity: never.
   * @param signal Aborts it.
   */
  add(call: C, timeout: number, signal: AbortSignal | undefined): void {
    this.#calls.add(call.id, call);
    if (this.#calls.size === 1) this.onBusy?.(true);
    if (timeout > 0 && Number.isFinite(timeout)) {
      call.timeout = timeout;
      call.deadline = this.#clock() + timeout;
      if (call.deadline < this.#sweepAt) this.#arm(call.deadline);
    }
    if (signal !== undefined) {
      call.signal = signal;
      call.onAbort = () => this.#abandon(call, signal.reason);
      signal.addEventListener("abort", call.onAbort, { once: true });
    }
  }

  /**
   * The time, read once for all the calls a turn makes: `Date.now()` takes
   * about 100 ns in Deno (`performance.now()`, a runtime op, 175 ns), 5% of
   * what a call costs with 100 in flight. A turn that runs long before its
   * last call starts that call's timeout early by as much.
   */
  #clock(): number {
    if (this.#now < 0) {
      this.#now = Date.now();
      queueMicrotask(this.#forgetNow);
    }
    return this.#now;
  }

  /** Takes a call out to settle it; its deadline and signal no longer apply. */
  remove(call: C): void {
    call.settled = true;
    if (this.#calls.delete(call.id) && this.#calls.size === 0) {
      this.onBusy?.(false);
    }
    if (call.onAbort !== undefined) {
      call.signal!.removeEventListener("abort", call.onAbort);
    }
  }

  /** Stops the timer, as the connection closes. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#sweepAt = -Infinity;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#sweepAt = at;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, at - Date.now()));
    if (this.unrefTimer) Deno.unrefTimer(this.#timer as unknown as number);
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#sweepAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const call of this.#calls.values()) {
      if (call.deadline <= now) this.#abandon(call, this.#timedOut(call));
      else if (call.deadline < next) next = call.deadline;
    }
    if (next < this.#sweepAt) this.#arm(next);
  }
}
