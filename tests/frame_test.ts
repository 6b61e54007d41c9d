import assert from "node:assert/strict";
import {
  type BlobFrame,
  encodeFrameChunks,
  encodeFrames,
  FrameDecoder,
  frameLength,
  type OutgoingFrame,
} from "../src/protocol/frame.ts";
import { ProtocolError } from "../src/errors.ts";

function payloads(): Uint8Array[] {
  const sizes = [0, 1, 3, 4, 5, 100, 4096, 70_000, 200_000, 7];
  return sizes.map((size, i) =>
    Uint8Array.from({ length: size }, (_, j) => (i * 31 + j) & 0xff)
  );
}

Deno.test("FrameDecoder hands out every frame whole, however the bytes are split", () => {
  const wire = encodeFrames(payloads());
  for (const chunkSize of [1, 2, 3, 5, 7, 64, 1000, 65_536, wire.length]) {
    const decoder = new FrameDecoder(1 << 20);
    const seen: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += chunkSize) {
      // The caller reuses its buffer: copies show whether payloads alias it.
      const chunk = wire.slice(i, i + chunkSize);
      decoder.push(
        chunk,
        (data, start, end) => seen.push(data.slice(start, end)),
      );
      chunk.fill(0xee);
    }
    assert.equal(decoder.bufferedBytes, 0);
    assert.deepEqual(seen, payloads(), `chunk size ${chunkSize}`);
  }
});

Deno.test("FrameDecoder reads a large frame's rest straight into place", () => {
  const wire = encodeFrames(payloads());
  const decoder = new FrameDecoder(1 << 20);
  const seen: Uint8Array[] = [];
  const onFrame = (data: Uint8Array, start: number, end: number) =>
    seen.push(data.slice(start, end));
  let offset = 0;
  let direct = 0;
  while (offset < wire.length) {
    const target = decoder.readTarget();
    if (target !== null) {
      const n = Math.min(target.length, 30_000, wire.length - offset);
      target.set(wire.subarray(offset, offset + n));
      decoder.commit(n, onFrame);
      offset += n;
      direct++;
    } else {
      const n = Math.min(4096, wire.length - offset);
      decoder.push(wire.subarray(offset, offset + n), onFrame);
      offset += n;
    }
  }
  assert.ok(direct > 0, "large frames were read in place");
  assert.deepEqual(seen, payloads());
});

Deno.test("FrameDecoder reads the rest of a frame of 16 KiB or more in place, however little is missing, and never a small frame's", () => {
  // A 64 KiB stream chunk used to reach the decoder 4 bytes short after one
  // read, and its last bytes went through the read buffer: three copies.
  const large = Uint8Array.from({ length: 20_000 }, (_, i) => i & 0xff);
  const wire = encodeFrames([large]);
  const decoder = new FrameDecoder(1 << 20);
  const seen: Uint8Array[] = [];
  const onFrame = (data: Uint8Array, start: number, end: number) =>
    seen.push(data.slice(start, end));
  decoder.push(wire.slice(0, wire.length - 4), onFrame);
  const target = decoder.readTarget();
  assert.ok(target !== null, "the last 4 bytes are read in place");
  assert.equal(target.length, 4);
  target.set(wire.subarray(wire.length - 4));
  decoder.commit(4, onFrame);
  assert.deepEqual(seen, [large]);
  assert.equal(decoder.bufferedBytes, 0);

  const small = encodeFrames([new Uint8Array(10_000)]);
  decoder.push(small.slice(0, 100), onFrame);
  assert.equal(
    decoder.readTarget(),
    null,
    "a small frame goes through the buffer",
  );
});

Deno.test("FrameDecoder refuses a length over the maximum before allocating", () => {
  const decoder = new FrameDecoder(1024);
  assert.throws(
    () => decoder.push(new Uint8Array([0x40, 0, 0, 0]), () => {}),
    (error: unknown) =>
      error instanceof ProtocolError &&
      /1073741824 exceeds maxFrameBytes 1024/.test(error.message),
  );
});

Deno.test("encodeFrameChunks writes large payloads uncopied, in order with the small ones", () => {
  const list = payloads();
  const chunks = encodeFrameChunks(list);
  assert.ok(
    chunks.some((chunk) => chunk === list[7]),
    "the 70,000-byte payload is its own chunk",
  );
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  assert.deepEqual(joined, encodeFrames(list));
});

Deno.test("a slice of a larger buffer is framed as its own bytes, short or long, beside payloads and blob frames", () => {
  const buffer = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const short = buffer.subarray(10, 30);
  const long = buffer.subarray(50, 250);
  const blob: BlobFrame = {
    head: new Uint8Array([0, 0, 0, 1, 0xc0]),
    blobs: [new Uint8Array([7, 8])],
  };
  const sliced: OutgoingFrame[] = [
    { bytes: buffer, start: 10, end: 30 },
    new Uint8Array([1, 2, 3]),
    { bytes: buffer, start: 50, end: 250 },
  ];
  const viewed: OutgoingFrame[] = [short, new Uint8Array([1, 2, 3]), long];
  const join = (chunks: Uint8Array[]) => chunks.map((c) => [...c]).flat();
  assert.deepEqual(
    join(encodeFrameChunks(sliced)),
    join(encodeFrameChunks(viewed)),
  );
  assert.deepEqual(
    join(encodeFrameChunks([...sliced, blob])),
    join(encodeFrameChunks([...viewed, blob])),
  );
  assert.equal(frameLength(sliced[2]), 200);
});
