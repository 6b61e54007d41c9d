/**
 * The hello each side sends first: `NREF`, a u8 protocol version, a u32
 * big-endian length and a msgpack map describing the sender.
 *
 * @module
 */

import { Packr } from "msgpack/encode";
import { errorMessage, ProtocolError } from "../errors.ts";
import { MAGIC, PROTOCOL_VERSION } from "./constants.ts";
import { buildValue, type DecodeContext } from "./build.ts";
import { scanPayload } from "./scan.ts";

/** Largest hello map accepted: it is small, so a big one is an attack or noise. */
export const MAX_HELLO_BYTES = 64 * 1024;

const HELLO_HEADER_BYTES = MAGIC.length + 1 + 4;

/** What a peer says about itself in its hello. */
export interface Hello {
  /** Name and version of the implementation, such as `netref-deno/0.1.0`. */
  implementation: string;
  /** Largest frame payload the sender accepts. */
  maxFrameBytes: number;
  /** Optional features the sender supports. */
  features: string[];
  /** A shared secret, when the sender authenticates. */
  token?: string;
  /** The name of the service the sender serves, if any. */
  service?: string;
  /** Set by an accepting side that refuses the connection: why. */
  refused?: string;
}

const packr = new Packr({ useRecords: false });
// A hello holds plain data: a reference or an error in it is refused.
function refuse(): never {
  throw new ProtocolError("a hello holds no references or errors");
}
const HELLO_CONTEXT: DecodeContext = {
  importRef: refuse,
  returnedRef: refuse,
  rebuildError: refuse,
};

/**
 * Encodes a hello, header included.
 *
 * @param hello What to say.
 * @returns The bytes to send before any frame.
 *
 * @example
 * ```ts
 * import { encodeHello } from "./handshake.ts";
 * const bytes = encodeHello({ implementation: "x", maxFrameBytes: 1024, features: [] });
 * console.assert(bytes[0] === 0x4e);
 * ```
 */
export function encodeHello(hello: Hello): Uint8Array {
  const body = packr.pack(hello);
  const out = new Uint8Array(HELLO_HEADER_BYTES + body.length);
  out.set(MAGIC, 0);
  out[MAGIC.length] = PROTOCOL_VERSION;
  new DataView(out.buffer).setUint32(MAGIC.length + 1, body.length);
  out.set(body, HELLO_HEADER_BYTES);
  return out;
}

/**
 * Parses a hello from the first bytes received.
 *
 * @param bytes Everything received so far.
 * @returns The hello and how many bytes it used, or null if more bytes are
 *   needed.
 * @throws {ProtocolError} On wrong magic, another protocol version, an
 *   oversized or malformed hello.
 *
 * @example
 * ```ts
 * import { encodeHello, parseHello } from "./handshake.ts";
 * const bytes = encodeHello({ implementation: "x", maxFrameBytes: 1024, features: [] });
 * console.assert(parseHello(bytes)?.consumed === bytes.length);
 * ```
 */
export function parseHello(
  bytes: Uint8Array,
): { hello: Hello; consumed: number } | null {
  const magicBytes = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < magicBytes; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new ProtocolError(
        `Cannot start connection: the peer did not send the netref magic "NREF" (got ${
          describeBytes(bytes.subarray(0, MAGIC.length))
        }); is it a netref peer?`,
      );
    }
  }
  if (bytes.length < HELLO_HEADER_BYTES) return null;
  const version = bytes[MAGIC.length];
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `Cannot start connection: peer speaks protocol version ${version}, this side speaks ${PROTOCOL_VERSION}`,
    );
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    .getUint32(MAGIC.length + 1);
  if (length > MAX_HELLO_BYTES) {
    throw new ProtocolError(
      `Cannot start connection: hello of ${length} bytes exceeds ${MAX_HELLO_BYTES}`,
    );
  }
  if (bytes.length < HELLO_HEADER_BYTES + length) return null;
  const body = bytes.subarray(HELLO_HEADER_BYTES, HELLO_HEADER_BYTES + length);
  let hello: unknown;
  try {
    // As a frame is: checked before anything is built from it.
    scanPayload(body, null);
    hello = buildValue(body, HELLO_CONTEXT, false, null);
  } catch (error) {
    throw new ProtocolError(
      `Cannot start connection: malformed hello: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return { hello: validateHello(hello), consumed: HELLO_HEADER_BYTES + length };
}

function validateHello(value: unknown): Hello {
  const hello = value as Partial<Hello> | null;
  if (
    typeof hello !== "object" || hello === null ||
    typeof hello.implementation !== "string" ||
    typeof hello.maxFrameBytes !== "number" ||
    !Number.isSafeInteger(hello.maxFrameBytes) || hello.maxFrameBytes < 64 ||
    !Array.isArray(hello.features) ||
    (hello.token !== undefined && typeof hello.token !== "string") ||
    (hello.service !== undefined && typeof hello.service !== "string") ||
    (hello.refused !== undefined && typeof hello.refused !== "string")
  ) {
    throw new ProtocolError(
      "Cannot start connection: hello lacks implementation, maxFrameBytes (>= 64) or features",
    );
  }
  return {
    implementation: hello.implementation,
    maxFrameBytes: hello.maxFrameBytes,
    features: hello.features.filter((f): f is string => typeof f === "string"),
    token: hello.token,
    service: hello.service,
    refused: hello.refused,
  };
}

function describeBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}
