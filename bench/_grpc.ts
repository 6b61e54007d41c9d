/**
 * gRPC in the benchmark: unary calls with `@grpc/grpc-js` over HTTP/2 on
 * loopback, without TLS. The service definition is written by hand with
 * identity serializers (messages are raw bytes), so no protobuf tooling and
 * no protobuf encoding cost: the fastest a grpc-js unary call gets.
 *
 * gRPC has no callbacks into the client and no remote objects: those
 * scenarios do not apply.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { BenchClient, BenchServer, BenchSystem } from "./_system.ts";

const FOO_PATH = "/netref.bench.Bench/Foo";
const ECHO_PATH = "/netref.bench.Bench/Echo";
const FOO = Buffer.from("foo");
const EMPTY = new Uint8Array(0);
/** Above the 1 MiB loop; grpc-js refuses messages over 4 MiB by default. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function fromBuffer(buffer: Buffer): Buffer {
  return buffer;
}

function method(path: string): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: toBuffer,
    requestDeserialize: fromBuffer,
    responseSerialize: toBuffer,
    responseDeserialize: fromBuffer,
  };
}

const definition: grpc.ServiceDefinition = {
  Foo: method(FOO_PATH),
  Echo: method(ECHO_PATH),
};

const channelOptions: grpc.ChannelOptions = {
  // One TCP connection per client, as every other system opens: by
  // default grpc-js shares one among clients of the same target.
  "grpc.use_local_subchannel_pool": 1,
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
};

/** gRPC as a {@linkcode BenchSystem}. */
export const grpcSystem: BenchSystem = {
  async serve(): Promise<BenchServer> {
    const server = new grpc.Server(channelOptions);
    server.addService(definition, {
      Foo: (
        _call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
        done: grpc.sendUnaryData<Uint8Array>,
      ) => done(null, FOO),
      Echo: (
        call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
        done: grpc.sendUnaryData<Uint8Array>,
      ) => done(null, call.request),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (error, port) => error ? reject(error) : resolve(port),
      )
    );
    return { port, exports: () => null, connections: () => null };
  },

  async connect(port: number): Promise<BenchClient> {
    const client = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
      channelOptions,
    );
    await new Promise<void>((resolve, reject) =>
      client.waitForReady(
        Date.now() + 10_000,
        (error) => error ? reject(error) : resolve(),
      )
    );
    function unary(path: string, request: Uint8Array): Promise<Uint8Array> {
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          path,
          toBuffer,
          fromBuffer,
          request,
          (error, value) => error ? reject(error) : resolve(value!),
        )
      );
    }
    const decoder = new TextDecoder();
    return {
      foo: async () => decoder.decode(await unary(FOO_PATH, EMPTY)),
      echo: (data) => unary(ECHO_PATH, data),
      callback: null,
      churnOne: null,
      imports: () => null,
      close: () => {
        client.close();
        return Promise.resolve();
      },
    };
  },
};
