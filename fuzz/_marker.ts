/**
 * The line the fixture server prints on stderr for each unhandled
 * rejection, shared by the fixture and the fuzzer that looks for it.
 *
 * @module
 */

/** Starts every line reporting an unhandled rejection. */
export const UNHANDLED_MARKER = "fuzz fixture: unhandled rejection:";
