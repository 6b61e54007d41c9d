/**
 * gRPC in the benchmark: unary calls with `@grpc/grpc-js` over HTTP/2 on
 * loopback, without TLS. The service definition is written by hand with
 * identity serializers (messages are raw bytes), so no protobuf tooling and
 * no protobuf encoding cost: the fastest a grpc-js unary call gets.
 *
 * The stream loops use server-streaming methods: `Count` writes 4-byte
 * big-endian integers 0, 1, 2, ..., one message each, as fast as flow
 * control lets it, until the client cancels; `Bytes` writes the number of
 * bytes asked for (a 4-byte request) in messages of
 * {@linkcode STREAM_CHUNK_BYTES}, then ends. Both wait for `drain` when
 * `write` says the buffer is full.
 *
 * gRPC has no callbacks into the client and no remote objects: those
 * scenarios do not apply.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { STREAM_BYTES, STREAM_CHUNK_BYTES } from "./_common.ts";
import {
  type BenchClient,
  type BenchServer,
  type BenchSystem,
  checkCount,
  type Timed,
} from "./_system.ts";

const FOO_PATH = "/netref.bench.Bench/Foo";
const ECHO_PATH = "/netref.bench.Bench/Echo";
const COUNT_PATH = "/netref.bench.Bench/Count";
const BYTES_PATH = "/netref.bench.Bench/Bytes";
const CHUNK = Buffer.alloc(STREAM_CHUNK_BYTES, 7);
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

function method(
  path: string,
  responseStream = false,
): grpc.MethodDefinition<Uint8Array, Uint8Array> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: toBuffer,
    requestDeserialize: fromBuffer,
    responseSerialize: toBuffer,
    responseDeserialize: fromBuffer,
  };
}

const definition: grpc.ServiceDefinition = {
  Foo: method(FOO_PATH),
  Echo: method(ECHO_PATH),
  Count: method(COUNT_PATH, true),
  Bytes: method(BYTES_PATH, true),
};

type Writer = grpc.ServerWritableStream<Uint8Array, Uint8Array>;

/** Writes 0, 1, 2, ... until the client cancels. */
function count(call: Writer): void {
  // A write racing the client's cancel fails the stream: expected.
  call.on("error", () => {});
  let i = 0;
  const pump = () => {
    while (!call.cancelled) {
      const item = Buffer.allocUnsafe(4);
      item.writeUInt32BE(i++ >>> 0);
      if (!call.write(item)) {
        call.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

/** Writes as many bytes as asked for, in chunks, then ends. */
function bytes(call: Writer): void {
  call.on("error", () => {});
  let left = Buffer.from(call.request).readUInt32BE(0);
  const pump = () => {
    while (left > 0 && !call.cancelled) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!call.write(chunk) && left > 0) {
        call.once("drain", pump);
        return;
      }
    }
    if (!call.cancelled) call.end();
  };
  pump();
}

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
      Count: count,
      Bytes: bytes,
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
    function streamItems(ms: number): Promise<Timed> {
      return new Promise((resolve, reject) => {
        const call = client.makeServerStreamRequest(
          COUNT_PATH,
          toBuffer,
          fromBuffer,
          EMPTY,
        );
        let items = 0;
        let sum = 0;
        let done = false;
        const start = performance.now();
        const stop = (error: Error | null) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (error !== null) return reject(error);
          const took = performance.now() - start;
          call.cancel();
          try {
            checkCount(items, sum);
            resolve({ calls: items, ms: took });
          } catch (error) {
            reject(error);
          }
        };
        const timer = setTimeout(() => stop(null), ms);
        call.on("data", (item: Buffer) => {
          if (done) return;
          sum += item.readUInt32BE(0);
          items++;
        });
        call.on("error", (error: Error) => stop(error));
        call.on("end", () => stop(new Error("the Count stream ended")));
      });
    }
    function streamBytes(): Promise<number> {
      return new Promise((resolve, reject) => {
        const request = Buffer.alloc(4);
        request.writeUInt32BE(STREAM_BYTES);
        const call = client.makeServerStreamRequest(
          BYTES_PATH,
          toBuffer,
          fromBuffer,
          request,
        );
        let received = 0;
        call.on("data", (chunk: Buffer) => received += chunk.length);
        call.on("error", reject);
        call.on("end", () => resolve(received));
      });
    }
    const decoder = new TextDecoder();
    return {
      foo: async () => decoder.decode(await unary(FOO_PATH, EMPTY)),
      echo: (data) => unary(ECHO_PATH, data),
      callback: null,
      churnOne: null,
      imports: () => null,
      streamItems,
      streamBytes,
      close: () => {
        client.close();
        return Promise.resolve();
      },
    };
  },
};
