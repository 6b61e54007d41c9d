/**
 * How an operation on a netref reaches its object: sent to the peer,
 * pipelined on a pending result, applied to a value already received, or
 * relayed from a peer this side forwarded the netref to.
 *
 * @module
 */

import { Op } from "../protocol/constants.ts";
import { ConnectionClosedError, errorMessage } from "../errors.ts";
import { isThenable, thenableError, watchedResult } from "./pending_call.ts";
import {
  checkUsable,
  PATH,
  type PendingResult,
  type ProxyHost,
  type ProxyState,
  proxyState,
  REF,
} from "./proxy_state.ts";
import { describeState, nameOf } from "./proxy_names.ts";
import type { CallOptions } from "./types.ts";

/**
 * Sends `op` on the member `path` of the object `base` stands for. On a
 * result that can no longer be pipelined, waits for it and applies the
 * operation to the value received.
 */
export function send(
  base: ProxyState,
  op: Op,
  path: readonly string[],
  payload: unknown,
): PendingResult {
  const host = base.host;
  if (base.mode === REF) {
    checkUsable(base.entry, host);
    return host.request(base.target, op, path, payload, base.options);
  }
  const result = base.result!;
  const target = result.pipelineTarget();
  if (target !== null) {
    return host.request(target, op, path, payload, base.options);
  }
  // The base's failure reaches the caller through this one.
  result.observed = true;
  return watchedResult(
    result.promise.then((value) =>
      applyTo(host, value, op, path, payload, base.options)
    ),
    host,
    nameOf(base) + (path.length > 0 ? "." + path.join(".") : ""),
  );
}

/** Applies an operation to a value already received (data or a netref). */
function applyTo(
  host: ProxyHost,
  value: unknown,
  op: Op,
  path: readonly string[],
  payload: unknown,
  options: CallOptions | undefined,
): Promise<unknown> {
  const state = proxyState(value);
  if (state !== undefined && state.mode === REF) {
    const ref = options === undefined ? state : { ...state, options };
    return send(ref, op, path, payload).promise;
  }
  let owner = value as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    if (owner === null || owner === undefined) break;
    owner = owner[path[i]] as Record<string, unknown>;
  }
  if (path.length > 0 && (owner === null || owner === undefined)) {
    return Promise.reject(
      new TypeError(`Cannot read '${path.join(".")}' of ${String(owner)}`),
    );
  }
  const last = path[path.length - 1];
  const member = path.length === 0 ? value : owner[last];
  switch (op) {
    case Op.GET:
      // Data the peer sent: a `then` method in it is never called.
      return isThenable(member)
        ? Promise.reject(
          thenableError(`'${path.join(".") || "the value"}'`, host),
        )
        : Promise.resolve(member);
    case Op.CALL:
      if (typeof member !== "function") {
        return Promise.reject(
          new TypeError(
            `Cannot call '${path.join(".")}': it is not a function`,
          ),
        );
      }
      return Promise.resolve(
        Reflect.apply(member, owner, payload as unknown[]),
      );
    default: {
      const ownerState = proxyState(owner);
      if (ownerState !== undefined) {
        return send(ownerState, op, [last], payload).promise;
      }
      return Promise.reject(
        new TypeError(
          `Cannot ${op === Op.SET ? "set" : "list"} '${
            path.join(".")
          }': the value was received by copy, not by reference`,
        ),
      );
    }
  }
}

/**
 * Relays an operation that a peer sent on a netref this side forwarded to it
 * (RPyC's behaviour: the forwarded proxy is exported, and what the peer does
 * with the export is done with the proxy) to the connection the netref came
 * from. Released proxies still relay: the export holds their count.
 *
 * @param state The forwarded proxy's state.
 * @param op The operation.
 * @param path Member names from the proxy.
 * @param payload SET: the value; CALL: the arguments.
 * @param signal Aborts the relayed call (the peer cancelled its own).
 * @returns The result, as received from the netref's connection.
 */
export function relay(
  state: ProxyState,
  op: Op,
  path: readonly string[],
  payload: unknown,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const [base, full] = targetOf(state, path);
  const host = base.host;
  if (host.isClosed) return Promise.reject(sourceClosed(state, null));
  const options = signal === undefined
    ? base.options
    : { ...base.options, signal };
  const sent = base.mode === REF
    ? host.request(base.target, op, full, payload, options)
    : send({ ...base, options }, op, full, payload);
  // The relay hands the outcome on to the forwarding peer: its failure is
  // handled there, not logged as a call nobody awaited.
  sent.observed = true;
  return sent.promise.catch((error) => {
    throw error instanceof ConnectionClosedError && host.isClosed
      ? sourceClosed(state, error)
      : error;
  });
}

function sourceClosed(
  state: ProxyState,
  cause: unknown,
): ConnectionClosedError {
  return new ConnectionClosedError(
    `Cannot reach ${describeState(state)}, forwarded through this side: ` +
      `the connection to ${state.host.label} it came from is closed` +
      (cause === null ? "" : ` (${errorMessage(cause)})`),
    cause === null ? undefined : { cause },
  );
}

/** Splits a proxy into the state to send on and the member path. */
export function targetOf(
  state: ProxyState,
  more: readonly string[],
): [ProxyState, string[]] {
  return state.mode === PATH
    ? [state.base!, [...state.path, ...more]]
    : [state, [...more]];
}
