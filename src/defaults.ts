/**
 * Every default netref uses, written once: the library resolves its options
 * from these, and the CLI passes and prints the same values.
 *
 * @module
 */

/** Address a server listens on unless told otherwise: loopback only. */
export const DEFAULT_HOSTNAME = "127.0.0.1";

/** TCP port of a netref server, and of an address that names none (RPyC's). */
export const DEFAULT_PORT = 18811;

/** Port of `serveTls`. */
export const DEFAULT_TLS_PORT = 18821;

/** Port of `serveWebSocket`. */
export const DEFAULT_WEBSOCKET_PORT = 18880;

/**
 * Port of the embedded registry (`netref registry`, `serveRegistry`).
 *
 * @example
 * ```ts
 * import { DEFAULT_REGISTRY_PORT } from "@netref/netref/registry";
 * const url = `netref://127.0.0.1:${DEFAULT_REGISTRY_PORT}`;
 * console.assert(url === "netref://127.0.0.1:18810");
 * ```
 */
export const DEFAULT_REGISTRY_PORT = 18810;

/** Port of an `etcd://` registry URL that names none. */
export const DEFAULT_ETCD_PORT = 2379;

/** Largest frame payload a peer accepts, before and after decompression: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES: number = 16 * 1024 * 1024;

/** Milliseconds a call may take before it fails with a `TimeoutError`. */
export const DEFAULT_TIMEOUT = 30_000;

/** Milliseconds the dial's handshake may take. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Milliseconds a connection may stay silent; 0 is forever. */
export const DEFAULT_IDLE_TIMEOUT = 0;

/** Milliseconds a frame, once begun, may take to arrive whole. */
export const DEFAULT_FRAME_TIMEOUT = 30_000;

/** Calls a peer may have in progress at once on one connection. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;

/** Objects one connection may hold exported to its peer. */
export const DEFAULT_MAX_EXPORTS = 100_000;

/** Whether errors sent to the peer carry their stack trace. */
export const DEFAULT_INCLUDE_STACK = true;

/** Milliseconds a child process is given to exit once its connection closed. */
export const DEFAULT_EXIT_TIMEOUT = 2000;

/** Connections a server keeps open at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** Milliseconds a graceful shutdown lets in-flight calls finish. */
export const DEFAULT_SHUTDOWN_DEADLINE = 10_000;

/**
 * Reading from a peer pauses while more than this many bytes wait to be
 * written to it: a peer that sends requests but never reads the answers
 * cannot make the queue grow without bound.
 */
export const READ_PAUSE_BYTES = 8 * 1024 * 1024;

/** Milliseconds a registry entry lives without a heartbeat. */
export const DEFAULT_TTL = 10_000;

/** Milliseconds a fresh embedded registry waits for servers to re-announce. */
export const DEFAULT_WARMUP = 2000;

/** Milliseconds a registry request may take. */
export const DEFAULT_REGISTRY_TIMEOUT = 5000;

/** Registrations an embedded registry holds at once. */
export const DEFAULT_MAX_ENTRIES = 10_000;

/** Watchers an embedded registry serves at once. */
export const DEFAULT_MAX_WATCHERS = 1000;

/** Milliseconds `discover` waits for a registry's first answer before using its cache. */
export const DEFAULT_REGISTRY_WAIT = 1000;

/** Milliseconds an instance that failed to connect is passed over. */
export const DEFAULT_FAILURE_PENALTY = 10_000;

/**
 * Streams (async iterables, `ReadableStream`s, `WritableStream`s) one
 * connection may have open at once in each direction: those this side sends,
 * and those the peer sends.
 */
export const DEFAULT_MAX_STREAMS = 1024;

/**
 * Most items a consumer lets a stream's producer send ahead of what it has
 * taken: the item window. A producer clamps the credit it is granted to it.
 */
export const STREAM_WINDOW_ITEMS = 8192;

/**
 * Bytes a consumer lets a stream's producer send ahead of what it has taken:
 * the window shrinks to this many bytes' worth of items of the sizes seen.
 */
export const STREAM_WINDOW_BYTES: number = 2 * 1024 * 1024;

/** Credit granted before any item's size is known. */
export const STREAM_INITIAL_CREDIT = 8;
