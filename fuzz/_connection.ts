/**
 * Sends one batch over a real TCP connection: in one write or in pieces,
 * reading (and dropping) whatever the server answers so that it never
 * stalls on us, then closing at once or once the server has closed.
 *
 * @module
 */

import type { Batch } from "./_batch.ts";
import { batchBytes } from "./_batch.ts";

/** How long a "drain" connection waits for the server to close it. */
const DRAIN_MS = 40;

/** What one connection did. */
export interface Sent {
  /** Frames written whole. */
  frames: number;
  /** Whether the connection could be opened. */
  connected: boolean;
}

/**
 * Sends a batch to `port` on loopback.
 *
 * @param port The server's port.
 * @param batch The batch.
 * @returns How many of its frames were written whole.
 */
export async function sendBatch(port: number, batch: Batch): Promise<Sent> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return { frames: 0, connected: false };
  }
  conn.setNoDelay(true);
  let serverClosed = false;
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while ((await conn.read(buffer)) !== null) { /* dropped */ }
    } catch {
      // Reset by the server, or closed by us.
    }
    serverClosed = true;
  })();
  const bytes = batchBytes(batch.frames);
  const written = await write(conn, bytes, batch.splits, () => serverClosed);
  if (batch.close === "drain" && !serverClosed) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      reading,
      new Promise((resolve) => timer = setTimeout(resolve, DRAIN_MS)),
    ]);
    clearTimeout(timer);
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  await reading;
  let frames = 0;
  let end = 0;
  for (const frame of batch.frames) {
    end += frame.bytes.length;
    if (end > written) break;
    frames++;
  }
  return { frames, connected: true };
}

/** Writes `bytes`, in pieces at `splits` if any; returns how many were written. */
async function write(
  conn: Deno.TcpConn,
  bytes: Uint8Array,
  splits: readonly number[],
  gone: () => boolean,
): Promise<number> {
  let offset = 0;
  const ends = [...splits, bytes.length];
  try {
    for (const end of ends) {
      while (offset < end) {
        offset += await conn.write(bytes.subarray(offset, end));
      }
      if (end < bytes.length) {
        if (gone()) break;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  } catch {
    // The server closed the connection: the rest is not sent.
  }
  return offset;
}
