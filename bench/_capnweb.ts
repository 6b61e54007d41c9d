/**
 * capnweb in the benchmark: an `RpcSession` over our length-prefixed TCP
 * framing ({@linkcode FramedSocket}), with the same service as netref's.
 *
 * The transport declares capnweb's `"jsonCompatibleWithBytes"` encoding and
 * packs messages with msgpackr, netref's codec, so that `Uint8Array` travels
 * as bytes (not base64) and both sides pay for the same codec.
 * `BENCH_CAPNWEB_ENCODING=string` switches to capnweb's default JSON strings.
 *
 * @module
 */

import { RpcSession, RpcTarget } from "capnweb";
import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { FramedSocket, listen } from "./_framing.ts";
import type { BenchClient, BenchServer, BenchSystem } from "./_system.ts";

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const useStrings = Deno.env.get("BENCH_CAPNWEB_ENCODING") === "string";

/** A capnweb transport over one framed TCP connection. */
class FramedTransport {
  readonly encodingLevel = useStrings
    ? "string" as const
    : "jsonCompatibleWithBytes" as const;
  readonly socket: FramedSocket;
  #inbox: unknown[] = [];
  #waiter: {
    resolve: (message: unknown) => void;
    reject: (error: Error) => void;
  } | null = null;
  #error: Error | null = null;

  constructor(conn: Deno.TcpConn) {
    this.socket = new FramedSocket(conn, (payload) => {
      const message = useStrings
        ? textDecoder.decode(payload)
        : unpackr.unpack(payload);
      const waiter = this.#waiter;
      if (waiter !== null) {
        this.#waiter = null;
        waiter.resolve(message);
      } else {
        this.#inbox.push(message);
      }
    });
    this.socket.closed.then((reason) => {
      this.#error = reason ?? new Error("the connection closed");
      this.#waiter?.reject(this.#error);
      this.#waiter = null;
    });
  }

  send(message: unknown): number {
    const bytes = useStrings
      ? textEncoder.encode(message as string)
      : packr.pack(message);
    this.socket.send(bytes);
    return bytes.length;
  }

  receive(): Promise<unknown> {
    if (this.#inbox.length > 0) return Promise.resolve(this.#inbox.shift());
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  abort(): void {
    this.socket.close();
  }
}

/** capnweb's transport type, which it does not export by name. */
type Transport = ConstructorParameters<typeof RpcSession>[0];

/** Handed out by reference by `make()`. */
class Item extends RpcTarget {
  value(): number {
    return 1;
  }
}

/** The benchmark's service, as a capnweb main interface. */
class BenchApi extends RpcTarget {
  foo(): string {
    return "foo";
  }

  echo(data: Uint8Array): Uint8Array {
    return data;
  }

  async callBack(fn: (x: number) => number): Promise<number> {
    return await fn(1);
  }

  make(): Item {
    return new Item();
  }
}

function identity(x: number): number {
  return x;
}

/** capnweb as a {@linkcode BenchSystem}. */
export const capnweb: BenchSystem = {
  serve(): Promise<BenchServer> {
    const sessions = new Set<RpcSession>();
    const listener = listen((conn) => {
      const transport = new FramedTransport(conn);
      const session = new RpcSession(transport as Transport, new BenchApi());
      sessions.add(session);
      transport.socket.closed.then(() => sessions.delete(session));
    });
    return Promise.resolve({
      port: listener.addr.port,
      exports() {
        let total = 0;
        for (const session of sessions) total += session.getStats().exports;
        return total;
      },
      connections: () => sessions.size,
    });
  },

  async connect(port: number): Promise<BenchClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const transport = new FramedTransport(conn);
    const session = new RpcSession<BenchApi>(transport as Transport);
    const stub = session.getRemoteMain();
    // An RpcPromise is a thenable, not a Promise; awaiting it is the same.
    const thenable = (value: unknown) => value as Promise<unknown>;
    return {
      foo: () => thenable(stub.foo()),
      echo: (data) => thenable(stub.echo(data)),
      callback: () => thenable(stub.callBack(identity)),
      churnOne: async () => {
        const item = await stub.make();
        item[Symbol.dispose]();
      },
      imports: () => session.getStats().imports,
      close: () => {
        stub[Symbol.dispose]();
        transport.socket.close();
        return Promise.resolve();
      },
    };
  },
};
