/**
 * What the fixture server and the fuzzer agree on: the lines the fixture
 * prints on stderr for each unhandled rejection and each stall of its event
 * loop, and how long a delay is a stall.
 *
 * @module
 */

/** Starts every line reporting an unhandled rejection. */
export const UNHANDLED_MARKER = "fuzz fixture: unhandled rejection:";

/** Starts every line reporting a stall of the server's event loop. */
export const STALL_MARKER = "fuzz fixture: event loop stalled";

/** A delay this long (milliseconds), of the event loop or of a round trip, is a stall. */
export const SLOW_MS = 100;
