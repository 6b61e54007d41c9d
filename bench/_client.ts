/**
 * The benchmark's client, one per process: connects once, then for each JSON
 * {@linkcode RunRequest} line on stdin runs sequential round trips for that
 * long and answers with a {@linkcode RunReply} line on stdout. Exits when
 * stdin closes.
 *
 * Run by `run.ts`; by hand, for profiling (port from `_servers.ts`):
 *
 * ```sh
 * echo '{"scenario":"call","ms":5000}' | \
 *   deno run --allow-net=127.0.0.1 --cpu-prof bench/_client.ts netref 40123
 * ```
 *
 * @module
 */

import { connect } from "../client.ts";
import type { TestService } from "../examples/test_service.ts";
import {
  ECHO_PAYLOAD_BYTES,
  HEADER_BYTES,
  isScenario,
  LineReader,
  type RunReply,
  type RunRequest,
  type Scenario,
} from "./_common.ts";

const HOSTNAME = "127.0.0.1";
/** Longest loop accepted, so that a bad request cannot run away. */
const MAX_RUN_MS = 60_000;
/** Longest wait for the next request before giving up on the parent. */
const IDLE_MS = 600_000;

/** One timed loop of sequential round trips. */
type Loop = (scenario: Scenario, ms: number) => Promise<RunReply>;

async function netrefLoop(port: number): Promise<[Loop, () => Promise<void>]> {
  const conn = await connect<TestService>(HOSTNAME, port);
  const root = conn.root;
  const loop: Loop = async (scenario, ms) => {
    let calls = 0;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    if (scenario === "call") {
      do {
        if (await root.foo() !== "foo") throw new Error("foo() != 'foo'");
        calls++;
        now = performance.now();
      } while (now < end);
    } else {
      do {
        if (await root.version !== "1.0") throw new Error("version != '1.0'");
        calls++;
        now = performance.now();
      } while (now < end);
    }
    return { calls, ms: now - start };
  };
  return [loop, () => conn.close()];
}

async function echoLoop(port: number): Promise<[Loop, () => Promise<void>]> {
  const conn = await Deno.connect({ hostname: HOSTNAME, port });
  conn.setNoDelay(true);
  const frame = new Uint8Array(HEADER_BYTES + ECHO_PAYLOAD_BYTES);
  new DataView(frame.buffer).setUint32(0, ECHO_PAYLOAD_BYTES);
  for (let i = HEADER_BYTES; i < frame.length; i++) frame[i] = i;
  const reply = new Uint8Array(frame.length);
  const loop: Loop = async (_scenario, ms) => {
    let calls = 0;
    const start = performance.now();
    const end = start + ms;
    let now = start;
    do {
      // One write for header and payload, as netref does.
      let written = 0;
      while (written < frame.length) {
        written += await conn.write(
          written === 0 ? frame : frame.subarray(written),
        );
      }
      let received = 0;
      while (received < reply.length) {
        const n = await conn.read(
          received === 0 ? reply : reply.subarray(received),
        );
        if (n === null) throw new Error("echo server closed the connection");
        received += n;
      }
      calls++;
      now = performance.now();
    } while (now < end);
    if (reply[reply.length - 1] !== frame[frame.length - 1]) {
      throw new Error("echo server sent back different bytes");
    }
    return { calls, ms: now - start };
  };
  return [loop, () => Promise.resolve(conn.close())];
}

function parseRequest(line: string): RunRequest {
  const request = JSON.parse(line) as Partial<RunRequest>;
  if (
    !isScenario(request.scenario) || typeof request.ms !== "number" ||
    !(request.ms > 0 && request.ms <= MAX_RUN_MS)
  ) {
    throw new TypeError(
      `Cannot run ${line}: expected {"scenario": "call" | "get", "ms": 1 to ${MAX_RUN_MS}}`,
    );
  }
  return request as RunRequest;
}

if (import.meta.main) {
  const [mode, portText] = Deno.args;
  const port = Number(portText);
  if ((mode !== "netref" && mode !== "echo") || !(port > 0 && port < 65536)) {
    console.error("usage: _client.ts netref|echo <port>");
    Deno.exit(2);
  }
  const [loop, close] = mode === "netref"
    ? await netrefLoop(port)
    : await echoLoop(port);
  const requests = new LineReader(Deno.stdin.readable);
  const encoder = new TextEncoder();
  while (true) {
    const line = await requests.next(IDLE_MS);
    if (line === null) break;
    if (line.trim() === "") continue;
    const { scenario, ms } = parseRequest(line);
    const reply = await loop(scenario, ms);
    await Deno.stdout.write(encoder.encode(JSON.stringify(reply) + "\n"));
  }
  await close();
}
