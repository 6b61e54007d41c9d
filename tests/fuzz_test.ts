/**
 * A short fuzzing run as a test: 50,000 random and mutated frames of both
 * wires against the fixture server in its own process (see fuzz/). The full
 * run is `deno task fuzz`.
 *
 * The probe's latency limit is 100 ms; on a machine shared with other heavy
 * work, NETREF_FUZZ_MAX_LATENCY_MS raises it.
 *
 * @module
 */

import assert from "assert";
import {
  describeFinding,
  failedChecks,
  runCampaign,
} from "../fuzz/_campaign.ts";

const FRAMES = 50_000;
const SEED = 20261130;

Deno.test(
  "50,000 fuzzed frames of both wires leave the server running, responsive and holding nothing",
  async () => {
    const maxLatency = Number(
      Deno.env.get("NETREF_FUZZ_MAX_LATENCY_MS") ?? 100,
    );
    const report = await runCampaign({
      seed: SEED,
      frames: FRAMES,
      triage: 1,
      outDir: null,
    });
    assert.ok(report.framesSent >= FRAMES);
    const failed = failedChecks(report, maxLatency);
    assert.deepEqual(
      failed,
      [],
      `seed ${SEED}, ${report.framesSent} frames: ${failed.join("; ")}\n\n${
        report.findings.map((f) => describeFinding(SEED, f)).join("\n")
      }`,
    );
  },
);
