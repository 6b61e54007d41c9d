/**
 * Protocol sniffing: a server's first read of a connection tells netref's
 * own peers from the foreign protocols it also answers (RPyC).
 *
 * @module
 */

import { withTimeout } from "../timing.ts";
import { MAGIC } from "../protocol/constants.ts";
import { PeekedStream } from "../transport/peeked.ts";
import type { ByteStream } from "../transport/types.ts";
import type { ForeignProtocol } from "./server.ts";

/**
 * Reads a connection's first bytes until they tell its protocol: one of
 * `foreign`, or netref's own (null) for its magic or anything unclaimed.
 * Returns null if the peer left before saying anything. A peer silent past
 * `timeout` goes to a protocol that `acceptsSilent`, else to netref's own
 * handshake, which times it out with the reason.
 */
export async function sniff(
  stream: ByteStream,
  foreign: readonly ForeignProtocol[],
  timeout: number,
): Promise<
  | { stream: ByteStream; protocol: ForeignProtocol | null; silent: boolean }
  | null
> {
  let first = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  const deadline = performance.now() + timeout;
  while (true) {
    if (first.length > 0) {
      const netrefSoFar = startsLikeMagic(first);
      if (netrefSoFar && first.length >= MAGIC.length) {
        return {
          stream: new PeekedStream(stream, first),
          protocol: null,
          silent: false,
        };
      }
      let undecided = netrefSoFar;
      for (const protocol of foreign) {
        const verdict = protocol.matches(first);
        if (verdict === true) {
          return {
            stream: new PeekedStream(stream, first),
            protocol,
            silent: false,
          };
        }
        if (verdict === null) undecided = true;
      }
      if (!undecided) {
        // Nobody claims it: netref's handshake refuses it with the reason.
        return {
          stream: new PeekedStream(stream, first),
          protocol: null,
          silent: false,
        };
      }
    }
    const reading = stream.read(buffer);
    const n = await withTimeout(
      reading,
      deadline - performance.now(),
      () => "timeout" as const,
    );
    if (n === "timeout") {
      // The read still waiting is handed over with the stream.
      const rest = reading.then((m) => m === null ? null : buffer.slice(0, m));
      const silentProtocol = foreign.find((p) => p.acceptsSilent);
      if (first.length === 0 && silentProtocol !== undefined) {
        return {
          stream: new PeekedStream(stream, first, rest),
          protocol: silentProtocol,
          silent: true,
        };
      }
      // netref's own handshake timeout closes it, telling the peer why.
      return {
        stream: new PeekedStream(stream, first, rest),
        protocol: null,
        silent: false,
      };
    }
    if (n === null) {
      try {
        stream.close();
      } catch {
        // Already closed by the peer.
      }
      return null;
    }
    const grown = new Uint8Array(first.length + n);
    grown.set(first);
    grown.set(buffer.subarray(0, n), first.length);
    first = grown;
  }
}

function startsLikeMagic(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}
