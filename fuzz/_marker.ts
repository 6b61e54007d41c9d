/**
 * What the fixture server, the probe and the fuzzer agree on: the line the
 * fixture prints on stderr for each unhandled rejection, and how long a
 * round trip is a stall.
 *
 * @module
 */

/** Starts every line reporting an unhandled rejection. */
export const UNHANDLED_MARKER = "fuzz fixture: unhandled rejection:";

/** A probe round trip this long (milliseconds) is a stall. */
export const SLOW_MS = 100;
