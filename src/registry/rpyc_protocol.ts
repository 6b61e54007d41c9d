/**
 * The embedded registry answering Python RPyC's TCP registry protocol on
 * its own port, beside netref clients: what `TCPRegistryClient` sends, one
 * brine-encoded `("RPYC", command, args)` per connection, answered by one
 * brine value before the connection is closed.
 *
 * - `REGISTER (names, port)`: registers each name, upper-cased as RPyC
 *   keeps them, at the connection's source address and `port`, for
 *   {@linkcode RPYC_REGISTRATION_TTL} (RPyC servers register again every
 *   minute). Answers `"OK"`.
 * - `UNREGISTER (port)`: withdraws what that address registered for `port`.
 * - `QUERY (name)`: every instance whose name equals `name` without case,
 *   netref's included, as a tuple of `(host, port)`.
 * - `LIST ((host,),)`: the service names (of `host`'s instances, if given).
 *
 * @module
 */

import { errorMessage } from "../errors.ts";
import { dump, load } from "../rpyc/brine.ts";
import { PyTuple } from "../rpyc/py_values.ts";
import type { BrineValue } from "../rpyc/py_values.ts";
import type { ForeignProtocol, ServedConnection } from "../server/server.ts";
import type { ByteStream } from "../transport/types.ts";
import type { RegistryService } from "./service.ts";
import { withTimeout } from "../timing.ts";

/**
 * Milliseconds an RPyC registration lives without being repeated: 240 s,
 * the pruning timeout of RPyC's own registry.
 */
export const RPYC_REGISTRATION_TTL = 240_000;

/** The first bytes of every request: brine's 3-tuple opening with `"RPYC"`. */
const REQUEST_PREFIX = new Uint8Array([18, 8, 13, 82, 80, 89, 67]);
/** The most bytes one request may take (RPyC's client sends under 1500). */
const MAX_REQUEST_BYTES = 65_536;

/**
 * Makes the protocol that answers RPyC registry clients from `registry`.
 *
 * @param registry The embedded registry's service.
 * @returns The protocol, for `serveTcp`'s foreign protocols.
 *
 * @example
 * ```ts ignore
 * import { rpycRegistryProtocol } from "./rpyc_protocol.ts";
 * serveTcp(registry, options, [rpycRegistryProtocol(registry)]);
 * ```
 */
export function rpycRegistryProtocol(
  registry: RegistryService,
): ForeignProtocol {
  const leases = new Map<string, string>();
  return {
    name: "rpyc-registry",
    matches(first) {
      const n = Math.min(first.length, REQUEST_PREFIX.length);
      for (let i = 0; i < n; i++) {
        if (first[i] !== REQUEST_PREFIX[i]) return false;
      }
      return n === REQUEST_PREFIX.length ? true : null;
    },
    serve(stream, context): ServedConnection {
      const host = stream.remoteAddr !== undefined &&
          "hostname" in stream.remoteAddr
        ? stream.remoteAddr.hostname
        : "127.0.0.1";
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        try {
          stream.close();
        } catch {
          // Already closed by the peer.
        }
        context.onClose();
      };
      const done = answer(
        stream,
        context.options.handshakeTimeout,
        (command, args) => run(registry, leases, host, command, args),
      ).catch((error) => {
        const reason = errorMessage(error);
        context.options.log({
          level: "warn",
          event: "registry.rpyc_request_failed",
          peer: context.label,
          reason,
          message:
            `RPyC registry request from ${context.label} failed: ${reason}`,
          error,
        });
      }).finally(close);
      return {
        idle: () => done,
        close: () => {
          close();
          return done;
        },
      };
    },
  };
}

async function answer(
  stream: ByteStream,
  timeout: number,
  run: (command: string, args: readonly BrineValue[]) => Promise<BrineValue>,
): Promise<void> {
  const request = await readRequest(stream, timeout);
  const items = request instanceof PyTuple ? request.items : [];
  const [magic, command, args] = items;
  if (
    items.length !== 3 || magic !== "RPYC" || typeof command !== "string" ||
    !(args instanceof PyTuple)
  ) {
    throw new Error('not an ("RPYC", command, args) tuple');
  }
  const reply = dump(await run(command.toUpperCase(), args.items));
  for (let written = 0; written < reply.length;) {
    written += await stream.write(reply.subarray(written));
  }
}

async function readRequest(
  stream: ByteStream,
  timeout: number,
): Promise<BrineValue> {
  let data = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return load(data);
    } catch (error) {
      if (data.length >= MAX_REQUEST_BYTES) throw error;
    }
    const n = await withTimeout(
      stream.read(buffer),
      deadline - Date.now(),
      () => "timeout" as const,
    );
    if (n === "timeout") {
      throw new Error(`no whole request within ${timeout} ms`);
    }
    if (n === null) throw new Error("the connection closed mid-request");
    const grown = new Uint8Array(data.length + n);
    grown.set(data);
    grown.set(buffer.subarray(0, n), data.length);
    data = grown;
  }
}

async function run(
  registry: RegistryService,
  leases: Map<string, string>,
  host: string,
  command: string,
  args: readonly BrineValue[],
): Promise<BrineValue> {
  switch (command) {
    case "REGISTER": {
      const [names, port] = args;
      if (!(names instanceof PyTuple) || typeof port !== "number") {
        throw new Error("REGISTER expects (names, port)");
      }
      const key = `${host}\0${port}`;
      const lease = registry.register(
        names.items.map((name) => ({
          name: String(name).toUpperCase(),
          hostname: host,
          port,
        })),
        RPYC_REGISTRATION_TTL,
      );
      // Names registered again moved to the new lease; the old one holds
      // only names no longer registered.
      const old = leases.get(key);
      if (old !== undefined) registry.withdraw(old);
      leases.set(key, lease);
      return "OK";
    }
    case "UNREGISTER": {
      const [port] = args;
      const key = `${host}\0${port}`;
      const old = leases.get(key);
      if (old !== undefined) registry.withdraw(old);
      leases.delete(key);
      return "OK";
    }
    case "QUERY": {
      const [name] = args;
      if (typeof name !== "string") throw new Error("QUERY expects (name,)");
      const upper = name.toUpperCase();
      const seen = new Set<string>();
      const found: PyTuple[] = [];
      for (const i of await registry.list()) {
        const at = `${i.hostname}\0${i.port}`;
        if (i.name.toUpperCase() !== upper || seen.has(at)) continue;
        seen.add(at);
        found.push(PyTuple.of(i.hostname, i.port));
      }
      return new PyTuple(found);
    }
    case "LIST": {
      const [filter] = args;
      const only = filter instanceof PyTuple && typeof filter.items[0] ===
          "string"
        ? filter.items[0]
        : null;
      const names = new Set<string>();
      for (const i of await registry.list()) {
        if (only === null || i.hostname === only) {
          names.add(i.name.toUpperCase());
        }
      }
      return new PyTuple([...names]);
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}
