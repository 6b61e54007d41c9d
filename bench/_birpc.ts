/**
 * birpc in the benchmark: `createBirpc` over our length-prefixed TCP framing
 * ({@linkcode FramedSocket}), messages packed with msgpackr (netref's codec;
 * birpc leaves serialization to its user, and JSON cannot carry bytes).
 *
 * birpc calls named functions and passes data only, so the callback
 * scenario is a server-to-client call of a function the client registered,
 * and there are no remote objects to churn.
 *
 * @module
 */

import { type BirpcReturn, createBirpc } from "birpc";
import { Packr } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { FramedSocket, listen } from "./_framing.ts";
import type { BenchClient, BenchServer, BenchSystem } from "./_system.ts";

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** What the server serves. */
interface ServerFunctions {
  foo(): string;
  echo(data: Uint8Array): Uint8Array;
  callBack(): Promise<number>;
}

/** What the client serves back. */
interface ClientFunctions {
  cb(x: number): number;
}

/** birpc's channel options over one framed connection. */
function channel(conn: Deno.TcpConn) {
  let listener: (data: unknown) => void = () => {};
  const socket = new FramedSocket(conn, (payload) => listener(payload));
  return {
    socket,
    options: {
      post: (data: Uint8Array) => socket.send(data),
      on: (fn: (data: unknown) => void) => {
        listener = fn;
      },
      serialize: (value: unknown) => packr.pack(value),
      deserialize: (bytes: Uint8Array) => unpackr.unpack(bytes),
    },
  };
}

/** birpc as a {@linkcode BenchSystem}. */
export const birpc: BenchSystem = {
  serve(): Promise<BenchServer> {
    let open = 0;
    const listener = listen((conn) => {
      const { socket, options } = channel(conn);
      open++;
      const rpc: BirpcReturn<ClientFunctions, ServerFunctions> = createBirpc<
        ClientFunctions,
        ServerFunctions
      >({
        foo: () => "foo",
        echo: (data) => data,
        callBack: async (): Promise<number> => await rpc.cb(1),
      }, options);
      socket.closed.then(() => {
        open--;
        rpc.$close();
      });
    });
    return Promise.resolve({
      port: listener.addr.port,
      exports: () => null,
      connections: () => open,
    });
  },

  async connect(port: number): Promise<BenchClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const { socket, options } = channel(conn);
    const rpc = createBirpc<ServerFunctions, ClientFunctions>({
      cb: (x) => x,
    }, options);
    return {
      foo: () => rpc.foo(),
      echo: (data) => rpc.echo(data),
      callback: () => rpc.callBack(),
      churnOne: null,
      imports: () => null,
      close: () => {
        rpc.$close();
        socket.close();
        return Promise.resolve();
      },
    };
  },
};
