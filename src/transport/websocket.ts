/**
 * WebSocket: the netref byte stream carried in binary messages. The client
 * side uses only the standard `WebSocket` API, so it runs in browsers; the
 * server side answers upgrade requests with `Deno.upgradeWebSocket`.
 *
 * Nothing here touches `Deno` at import time: browsers can load it.
 *
 * @module
 */

import { ConnectionClosedError } from "../errors.ts";
import { webSocketUrl } from "./address.ts";
import { ReadQueue } from "./read_queue.ts";
import type { StreamListener } from "./types.ts";
import { AcceptQueue } from "./accept_queue.ts";
import type { ByteStream } from "./types.ts";

/** Bytes sent and not yet on the wire before `write()` waits. */
const SEND_HIGH_WATER_BYTES = 1024 * 1024;
/** Bytes received and not yet read before the connection is dropped. */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;

/**
 * A WebSocket as a {@linkcode ByteStream}: each `write()` sends one binary
 * message, and messages are read back as one stream of bytes.
 *
 * `write()` waits while more than 1 MiB is buffered (`bufferedAmount`).
 * The standard API cannot pause reading, so a peer that sends more than
 * 64 MiB that this side has not read yet is disconnected.
 *
 * @example
 * ```ts ignore
 * import { WebSocketByteStream } from "./websocket.ts";
 * const socket = new WebSocket("ws://127.0.0.1:18880/");
 * const stream = new WebSocketByteStream(socket);
 * ```
 */
export class WebSocketByteStream implements ByteStream {
  #socket: WebSocket;
  #queue = new ReadQueue();
  /** The peer's address, when the server side knows it. */
  readonly remoteAddr: Deno.Addr | undefined;

  /**
   * Wraps a WebSocket (open or still connecting).
   *
   * @param socket The WebSocket; the stream owns it from now on.
   * @param remoteAddr The peer's address, if known.
   */
  constructor(socket: WebSocket, remoteAddr?: Deno.Addr) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.#onMessage(event));
    socket.addEventListener("close", () => this.#queue.end());
    socket.addEventListener("error", (event) => {
      // Browsers give no detail; Deno puts it in `message`.
      const detail = (event as ErrorEvent).message;
      this.#queue.fail(
        new Error(`WebSocket error${detail ? `: ${detail}` : ""}`),
      );
    });
  }

  #onMessage(event: MessageEvent): void {
    if (this.#queue.ended) return;
    if (!(event.data instanceof ArrayBuffer)) {
      this.#fail(
        "Cannot read from the WebSocket: received a text message; netref sends binary messages only",
        1003,
      );
      return;
    }
    this.#queue.push(new Uint8Array(event.data));
    if (this.#queue.bytes > MAX_UNREAD_BYTES) {
      this.#fail(
        `Cannot read from the WebSocket: ${this.#queue.bytes} bytes arrived unread, over the limit of ${MAX_UNREAD_BYTES}`,
        1009,
      );
    }
  }

  #fail(message: string, code: number): void {
    this.#queue.fail(new Error(message), true);
    try {
      this.#socket.close(code, message.slice(0, 120));
    } catch {
      // Already closing.
    }
  }

  /**
   * Reads received bytes into `buffer`.
   *
   * @param buffer Where to read into.
   * @returns Bytes read, or null once the WebSocket has closed.
   */
  read(buffer: Uint8Array): Promise<number | null> {
    return this.#queue.read(buffer);
  }

  /**
   * Sends `data` as one binary message; waits while the send buffer is full.
   *
   * @param data Bytes to send; copied, so the caller may reuse them.
   * @returns Bytes written: all of them.
   * @throws {Error} If the WebSocket is not open.
   */
  async write(data: Uint8Array): Promise<number> {
    const error = this.#queue.error;
    if (error !== null) throw error;
    const socket = this.#socket;
    if (socket.readyState !== WebSocket.OPEN) {
      throw new Error("Cannot write: the WebSocket is not open");
    }
    socket.send(data.slice());
    while (
      socket.bufferedAmount > SEND_HIGH_WATER_BYTES &&
      socket.readyState === WebSocket.OPEN
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return data.length;
  }

  /**
   * Closes the WebSocket (code 1000); reads end at once.
   *
   * @returns Settles once the closing handshake is done, so that a program
   *   may exit without its peer seeing the connection cut.
   */
  close(): Promise<void> {
    this.#queue.clear();
    const socket = this.#socket;
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    const done = new Promise<void>((resolve) =>
      socket.addEventListener("close", () => resolve(), { once: true })
    );
    if (
      socket.readyState === WebSocket.OPEN ||
      socket.readyState === WebSocket.CONNECTING
    ) {
      socket.close(1000);
    }
    return done;
  }
}

/**
 * Opens a WebSocket to `url` and waits until it is open. Uses only the
 * standard `WebSocket` API: works in browsers as in Deno.
 *
 * @param url A `ws:` or `wss:` URL (`http:`/`https:` are taken as such).
 * @param timeout Milliseconds to wait for it to open; 0 waits forever.
 * @param signal Gives up on opening, rejecting with its reason.
 * @returns The open stream.
 * @throws {TypeError} If `url` is not a valid URL.
 * @throws {ConnectionClosedError} If the connection fails, closes before
 *   opening, or does not open in time.
 *
 * @example
 * ```ts ignore
 * import { dialWebSocket } from "./websocket.ts";
 * const stream = await dialWebSocket("ws://127.0.0.1:18880/", 10_000);
 * stream.close();
 * ```
 */
export function dialWebSocket(
  url: string | URL,
  timeout: number,
  signal?: AbortSignal,
): Promise<WebSocketByteStream> {
  const href = webSocketUrl(url);
  if (signal?.aborted) return Promise.reject(signal.reason);
  const socket = new WebSocket(href);
  const stream = new WebSocketByteStream(socket);
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (opened: boolean, error?: unknown) => {
      clearTimeout(timer);
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (opened) return resolve(stream);
      stream.close();
      reject(error);
    };
    const onOpen = () => settle(true);
    const onClose = (event: CloseEvent) =>
      settle(
        false,
        new ConnectionClosedError(
          `Cannot connect to ${href}: the WebSocket closed before opening (code ${event.code}${
            event.reason ? `, ${event.reason}` : ""
          })`,
        ),
      );
    const onAbort = () => settle(false, signal?.reason);
    socket.addEventListener("open", onOpen);
    socket.addEventListener("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeout > 0 && Number.isFinite(timeout)) {
      timer = setTimeout(
        () =>
          settle(
            false,
            new ConnectionClosedError(
              `Cannot connect to ${href}: the WebSocket did not open within ${timeout} ms`,
            ),
          ),
        timeout,
      );
    }
  });
}

/** Settings of a {@linkcode WebSocketListener}. */
export interface WebSocketListenerOptions {
  /**
   * Origins (such as `"https://app.example"`) whose pages may connect, or
   * `["*"]` for any. Requests without an `Origin` header (programs, not
   * browsers) are always allowed; requests from other origins get 403, so
   * that no web page a user happens to visit can reach the service. A page
   * served by the same server needs its own origin listed too: a same-origin
   * check alone would let DNS rebinding through.
   *
   * @default {[]}
   */
  allowedOrigins?: readonly string[];
  /** The address reported as the listener's. */
  addr: Deno.Addr;
}

/**
 * The server side: answers WebSocket upgrade requests (from `Deno.serve` or
 * any handler of your own) and hands each opened WebSocket to `accept()`.
 *
 * @example
 * ```ts ignore
 * import { WebSocketListener } from "./websocket.ts";
 * const listener = new WebSocketListener({ addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 } });
 * Deno.serve((request, info) => listener.handle(request, info));
 * ```
 */
export class WebSocketListener implements StreamListener {
  #queue = new AcceptQueue();
  #origins: ReadonlySet<string>;
  /** Where it listens, as given. */
  readonly addr: Deno.Addr;

  /**
   * Makes a listener.
   *
   * @param options Allowed origins and the reported address.
   */
  constructor(options: WebSocketListenerOptions) {
    this.addr = options.addr;
    this.#origins = new Set(options.allowedOrigins ?? []);
  }

  /**
   * Answers one HTTP request: upgrades it if it is an allowed WebSocket
   * request; otherwise 426 (not a WebSocket request), 403 (origin not
   * allowed) or 503 (closed).
   *
   * @param request The request.
   * @param info The connection's details from `Deno.serve`, for the peer's address.
   * @returns The response to send.
   */
  handle(request: Request, info?: Deno.ServeHandlerInfo): Response {
    if (this.#queue.closed) {
      return new Response("netref: the server is shutting down\n", {
        status: 503,
      });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("netref: expected a WebSocket upgrade\n", {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#allows(origin)) {
      return new Response(`netref: origin ${origin} is not allowed\n`, {
        status: 403,
      });
    }
    // Read before upgrading: the request is closed afterwards.
    const remoteAddr = info?.remoteAddr;
    const { socket, response } = Deno.upgradeWebSocket(request);
    const stream = new WebSocketByteStream(socket, remoteAddr);
    socket.addEventListener("open", () => this.#queue.push(stream), {
      once: true,
    });
    return response;
  }

  #allows(origin: string): boolean {
    return this.#origins.has("*") || this.#origins.has(origin);
  }

  /**
   * The next opened WebSocket.
   *
   * @returns Its stream.
   */
  accept(): Promise<ByteStream> {
    return this.#queue.accept();
  }

  /** Refuses further upgrades; WebSockets already open stay open. */
  close(): void {
    this.#queue.close();
  }
}
