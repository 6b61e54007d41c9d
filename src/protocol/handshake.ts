/**
 * The hello each side sends first: `NREF`, a u8 protocol version, a u32
 * big-endian length and a msgpack map describing the sender.
 *
 * @module
 */

import { Packr } from "msgpackr/pack";
import {
  ConnectionClosedError,
  errorMessage,
  ProtocolError,
} from "../errors.ts";
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
  throw new ProtocolError("a hello holds no references, errors or streams");
}
const HELLO_CONTEXT: DecodeContext = {
  importRef: refuse,
  returnedRef: refuse,
  rebuildError: refuse,
  importStream: refuse,
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

/** Where a hello is read from: the reading half of a byte stream. */
export interface HelloSource {
  /** Reads into `buffer`; resolves with the count, or null at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Reads the peer's hello. It does not time out by itself: the caller bounds
 * the handshake by closing the stream, which ends the read.
 *
 * @param source The stream the hello arrives on.
 * @param buffer Scratch space for each read.
 * @param label How the peer is named in messages.
 * @returns The hello, and the bytes received after it (the first frames).
 * @throws {ProtocolError} On a malformed hello, or a peer that closed the
 *   stream part of the way through its hello.
 * @throws {ConnectionClosedError} If the peer closed the stream before
 *   sending anything.
 */
export async function readHello(
  source: HelloSource,
  buffer: Uint8Array,
  label: string,
): Promise<{ hello: Hello; rest: Uint8Array }> {
  let received = new Uint8Array(0);
  for (;;) {
    const n = await source.read(buffer);
    if (n === null) {
      // A peer that sent part of a hello broke the protocol; one that sent
      // nothing merely went away.
      const message =
        `Cannot start connection: ${label} closed the connection during the handshake, after ${received.length} bytes of its hello`;
      throw received.length > 0
        ? new ProtocolError(message)
        : new ConnectionClosedError(message);
    }
    const grown = new Uint8Array(received.length + n);
    grown.set(received);
    grown.set(buffer.subarray(0, n), received.length);
    received = grown;
    const parsed = parseHello(received);
    if (parsed !== null) {
      return { hello: parsed.hello, rest: received.subarray(parsed.consumed) };
    }
  }
}

const textEncoder = new TextEncoder();

/**
 * Checks the token of a peer's hello against the one this side requires,
 * in constant time.
 *
 * @param hello The peer's hello.
 * @param expected The shared secret.
 * @throws {ProtocolError} If the hello has no token, or another one.
 */
export function checkToken(hello: Hello, expected: string): void {
  if (sameSecret(hello.token, expected)) return;
  throw new ProtocolError(
    hello.token === undefined
      ? "authentication failed: this server requires a token, and none was sent"
      : "authentication failed: the token does not match",
  );
}

function sameSecret(received: string | undefined, expected: string): boolean {
  const a = textEncoder.encode(received ?? "");
  const b = textEncoder.encode(expected);
  // Every byte of the longer one is visited, whatever differs first.
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0 && received !== undefined;
}

function describeBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Appended to a client's "no hello" errors: a Python RPyC server says
 * nothing until spoken to, so a netref client waiting for its hello times
 * out.
 */
export const SILENT_SERVER_HINT =
  ": if this is a Python RPyC server, use connectRpyc() (netref call --rpyc)";
