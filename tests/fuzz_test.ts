/**
 * A short fuzzing run as a test: 50,000 random and mutated frames of both
 * wires against the fixture server in its own process (see fuzz/). The full
 * run is `deno task fuzz`.
 *
 * Latency is checked as the time the server spent working without returning
 * to its event loop (under 100 ms), which a loaded machine does not change;
 * the probe's wall-clock round trip, which it does, is checked only when
 * NETREF_FUZZ_PROBE_LIMIT_MS is set (`deno task fuzz` checks it at 100 ms).
 *
 * @module
 */

import assert from "node:assert/strict";
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
    const probeLimit = Deno.env.get("NETREF_FUZZ_PROBE_LIMIT_MS");
    const report = await runCampaign({
      seed: SEED,
      frames: FRAMES,
      triage: 1,
      outDir: null,
    });
    assert.ok(report.framesSent >= FRAMES);
    const failed = failedChecks(report, {
      probeMs: probeLimit === undefined ? null : Number(probeLimit),
      busyMs: 100,
    });
    assert.deepEqual(
      failed,
      [],
      `seed ${SEED}, ${report.framesSent} frames: ${failed.join("; ")}\n\n${
        report.findings.map((f) => describeFinding(SEED, f)).join("\n")
      }`,
    );
  },
);
