/**
 * The mutants `run.ts` applies: each a one-line change to `src/` that breaks
 * one behaviour, with the test files that must notice it. `original` must
 * occur exactly once in `file`; when the code moves, update it here (the
 * runner refuses to start while any is out of step).
 *
 * @module
 */

/** One mutation of the source. */
export interface Mutant {
  /** Unique, short, kebab-case. */
  name: string;
  /** The part of netref it belongs to. */
  area:
    | "exposure"
    | "refs"
    | "limits"
    | "pipelining"
    | "timeouts"
    | "cancel"
    | "errors"
    | "auth"
    | "rpyc"
    | "registry"
    | "tls"
    | "observe"
    | "streams";
  /** Path from the repository root. */
  file: string;
  /** The exact text replaced (one line, or part of one). */
  original: string;
  /** What replaces it. */
  replacement: string;
  /** The behaviour that breaks, as a user would see it. */
  breaks: string;
  /** Test files (from the repository root) that must fail. */
  tests: string[];
}

const CORE = "tests/core_test.ts";
const BAD_INPUT = "tests/bad_input_test.ts";
const ERRORS = "tests/errors_test.ts";
const MEMORY = "tests/memory_test.ts";
const CALLBACKS = "tests/callbacks_test.ts";
const PIPELINING = "tests/pipelining_test.ts";
const AUTH = "tests/auth_test.ts";
const SERVER = "tests/server_test.ts";
const RPYC_CLIENT = "tests/rpyc_client_test.ts";
const RPYC_SERVER = "tests/rpyc_server_test.ts";
const RPYC_WIRE = "tests/rpyc_wire_test.ts";
const RPYC_BRINE = "tests/rpyc_brine_test.ts";
const RPYC_STREAMS = "tests/rpyc_streams_test.ts";
const REGISTRY = "tests/registry_embedded_test.ts";
const ETCD = "tests/registry_etcd_test.ts";
const TLS = "tests/transport_tls_test.ts";
const INTERCEPT = "tests/intercept_test.ts";
const OBSERVE = "tests/observability_test.ts";
const STREAMS = "tests/streams_test.ts";
const CODEC_ATTACK = "tests/codec_attack_test.ts";

/** Every mutant, in the order they run. */
export const mutants: readonly Mutant[] = [
  // ------------------------------------------------------------ exposure
  {
    name: "plain-data-writable",
    area: "exposure",
    file: "src/core/exposure.ts",
    original: `    if (use === "write") {`,
    replacement: `    if (use === "write" && false) {`,
    breaks:
      "a client can setAttr() on plain data the server exposes (root.cfg.mode = 'UNSAFE')",
    tests: [CORE],
  },
  {
    name: "read-only-member-writable",
    area: "exposure",
    file: "src/core/exposure.ts",
    original:
      `      access !== undefined && (use === "write" ? access.write : access.read)`,
    replacement: `      access !== undefined`,
    breaks: "a getter-only or read-only @exposed member is written remotely",
    tests: [CORE],
  },
  {
    name: "plain-data-inherited-members",
    area: "exposure",
    file: "src/core/exposure.ts",
    original: `    if (!Object.hasOwn(object, name)) {`,
    replacement: `    if (!(name in object)) {`,
    breaks:
      "a peer reaches inherited members (toString, valueOf, ...) of plain data",
    tests: [CORE, BAD_INPUT],
  },
  // ---------------------------------------------------------------- refs
  {
    name: "export-count-not-counted",
    area: "refs",
    file: "src/core/refs.ts",
    original: `      this.#byId.get(id)!.count++;`,
    replacement: `      this.#byId.get(id)!.count += 0;`,
    breaks:
      "an object sent twice is dropped after the first release; the second proxy dangles",
    tests: [MEMORY, CALLBACKS],
  },
  {
    name: "release-more-than-sent",
    area: "refs",
    file: "src/core/refs.ts",
    original:
      `    if (entry === undefined || (count > entry.count && excess === "refuse")) {`,
    replacement: `    if (entry === undefined) {`,
    breaks: "a peer releasing more than was sent is not refused",
    tests: [BAD_INPUT],
  },
  {
    name: "released-netref-usable",
    area: "refs",
    file: "src/core/proxy_state.ts",
    original: `  if (entry !== null && entry.released && !host.isClosed) {`,
    replacement: `  if (entry !== null && entry.released && host.isClosed) {`,
    breaks:
      "a call through a released netref is sent instead of failing with a ReferenceError",
    tests: [MEMORY],
  },
  {
    name: "import-never-given-back",
    area: "refs",
    file: "src/core/refs.ts",
    original: `    this.#onRelease(entry.id, entry.count);`,
    replacement: `    void entry;`,
    breaks: "released or collected proxies never tell the peer: exports leak",
    tests: [MEMORY, CALLBACKS],
  },
  {
    name: "import-count-not-counted",
    area: "refs",
    file: "src/core/refs.ts",
    original: `        existing.count++;`,
    replacement: `        void existing;`,
    breaks:
      "a ref received twice gives back one send: the peer keeps the export forever",
    tests: [MEMORY, CALLBACKS],
  },
  {
    name: "every-release-closes-connection",
    area: "refs",
    file: "src/core/dispatch.ts",
    original: `        !this.#exports.release(refs[i], refs[i + 1])`,
    replacement: `        this.#exports.release(refs[i], refs[i + 1])`,
    breaks:
      "each valid RELEASE is taken for a bad one and the server closes the connection (closing empties the tables, so only a leak check that fails closed connections sees it)",
    tests: [MEMORY, CALLBACKS, "tests/values_test.ts"],
  },
  // -------------------------------------------------------------- limits
  {
    name: "max-in-flight-off-by-one",
    area: "limits",
    file: "src/core/dispatch.ts",
    original: `    if (this.#incoming.size >= this.#maxInFlight) {`,
    replacement: `    if (this.#incoming.size > this.#maxInFlight) {`,
    breaks: "maxInFlight N lets N + 1 requests run",
    tests: [BAD_INPUT],
  },
  {
    name: "small-frame-trailing-bytes-kept",
    area: "limits",
    file: "src/protocol/build.ts",
    original: `    return pos === end ? out : NOT_PLAIN;`,
    replacement: `    return out;`,
    breaks:
      "a small frame of plain values followed by stray bytes is accepted, the bytes ignored",
    tests: [CODEC_ATTACK],
  },
  {
    name: "small-frame-undefined-data-byte-ignored",
    area: "limits",
    file: "src/protocol/build.ts",
    original:
      `      if (src[pos] !== Ext.UNDEFINED || src[pos + 1] !== 0) throw GIVE_UP;`,
    replacement: `      if (src[pos] !== Ext.UNDEFINED) throw GIVE_UP;`,
    breaks:
      "an undefined whose data byte is not 0 is accepted in a small frame",
    tests: [CODEC_ATTACK],
  },
  {
    name: "max-frame-bytes-off-by-one",
    area: "limits",
    file: "src/protocol/frame.ts",
    original: `    if (length > this.#maxFrameBytes) {`,
    replacement: `    if (length >= this.#maxFrameBytes) {`,
    breaks: "a frame of exactly maxFrameBytes is refused",
    tests: [BAD_INPUT],
  },
  {
    name: "held-results-unbounded",
    area: "limits",
    file: "src/core/dispatch.ts",
    original: `    if (hold && this.#held.size >= MAX_HELD) {`,
    replacement: `    if (hold && this.#held.size >= Infinity) {`,
    breaks: "a peer can make the server hold any number of results",
    tests: [BAD_INPUT],
  },
  {
    name: "max-connections-off-by-one",
    area: "limits",
    file: "src/server/admission.ts",
    original: `    if (this.#count >= this.max) return false;`,
    replacement: `    if (this.#count > this.max) return false;`,
    breaks: "maxConnections N admits N + 1 clients",
    tests: [SERVER, "tests/limits_test.ts"],
  },
  {
    name: "send-depth-unlimited",
    area: "limits",
    file: "src/core/outbound.ts",
    original: `    if (depth > MAX_DEPTH) {`,
    replacement: `    if (depth > MAX_DEPTH * 1000) {`,
    breaks:
      "a cyclic or very deep value is sent instead of failing with a clear error",
    tests: ["tests/values_test.ts", BAD_INPUT],
  },
  {
    name: "release-shape-unchecked",
    area: "limits",
    file: "src/core/dispatch.ts",
    original:
      `    if (!Array.isArray(refs) || refs.length % 2 !== 0 || !Array.isArray(held)) {`,
    replacement: `    if (!Array.isArray(refs) || !Array.isArray(held)) {`,
    breaks: "a RELEASE with an odd number of entries is not refused",
    tests: [BAD_INPUT],
  },
  // ---------------------------------------------------------- pipelining
  {
    name: "held-results-never-freed",
    area: "pipelining",
    file: "src/core/dispatch.ts",
    original: `    for (const id of held) this.#held.delete(id);`,
    replacement: `    for (const id of held) void id;`,
    breaks:
      "RELEASE ignores held ids: after 4,096 pipelined chains the connection dies",
    tests: [PIPELINING],
  },
  {
    name: "pipelined-base-wrong-id",
    area: "pipelining",
    file: "src/core/dispatch.ts",
    original: `    const base = this.#held.get(-target);`,
    replacement: `    const base = this.#held.get(target);`,
    breaks: "calls pipelined on a pending result fail",
    tests: [PIPELINING],
  },
  {
    name: "call-slot-overwritten",
    area: "pipelining",
    file: "src/core/id_slots.ts",
    original: `    if (id >= 0 && this.#ids[slot] === -1) {`,
    replacement: `    if (id >= 0) {`,
    breaks:
      "a call still pending when later ids wrap round to its slot loses its place: its answer goes to another call",
    tests: [CORE],
  },
  // ------------------------------------------------------------ timeouts
  {
    name: "idle-ignores-pending-calls",
    area: "timeouts",
    file: "src/core/session.ts",
    original:
      `        this.#calls.size > 0 || this.#dispatcher.inFlight > 0 ||`,
    replacement: `        false ||`,
    breaks: "idleTimeout kills a connection whose only call is still running",
    tests: [AUTH],
  },
  {
    name: "turns-not-overlapped",
    area: "pipelining",
    file: "src/core/writer.ts",
    original:
      `if (this.#queue.length >= WRITE_EARLY_FRAMES && !this.#writing) {`,
    replacement: `if (false && !this.#writing) {`,
    breaks:
      "many calls queued in one turn leave in one write at its end, so the peer waits for all of them (100 in flight ran at half the rate)",
    tests: [PIPELINING],
  },
  {
    name: "pipelined-chain-written-early",
    area: "pipelining",
    file: "src/core/writer.ts",
    original:
      `if (this.#queue.length >= WRITE_EARLY_FRAMES && !this.#writing) {`,
    replacement:
      `if (this.#queue.length >= WRITE_EARLY_FRAMES - 1 && !this.#writing) {`,
    breaks:
      "the 32nd frame of a turn leaves as soon as it is queued, so a call pipelined on it waits a round trip",
    tests: [PIPELINING],
  },
  {
    name: "timeouts-fire-late",
    area: "timeouts",
    file: "src/core/pending_call.ts",
    original: `      call.deadline = this.#clock() + timeout;`,
    replacement: `      call.deadline = this.#clock() + timeout + 3000;`,
    breaks: "a call's timeout fires seconds after it should",
    tests: [ERRORS],
  },
  {
    name: "ping-without-ping",
    area: "timeouts",
    file: "src/core/liveness.ts",
    original: `      this.#writer.enqueue(encodeValue([Kind.PING, id]));`,
    replacement: `      queueMicrotask(() => this.pong(id));`,
    breaks: "ping() resolves without sending a PING: a hung peer looks alive",
    tests: [CORE],
  },
  // -------------------------------------------------------------- cancel
  {
    name: "cancel-not-sent",
    area: "cancel",
    file: "src/core/session.ts",
    original:
      `      this.#writer.enqueue(encodeValue([Kind.CANCEL, call.id]));`,
    replacement: `      void call.id;`,
    breaks:
      "a timed-out or aborted call keeps running on the peer: no CANCEL is sent",
    tests: [ERRORS],
  },
  {
    name: "cancel-ignored",
    area: "cancel",
    file: "src/core/dispatch.ts",
    original:
      `    if (call === undefined) return; // It finished before the CANCEL arrived.`,
    replacement: `    if (call !== null) return;`,
    breaks: "a CANCEL from the peer does not abort the handler's signal",
    tests: [ERRORS],
  },
  {
    name: "abort-signal-ignored",
    area: "cancel",
    file: "src/core/pending_call.ts",
    original:
      `      signal.addEventListener("abort", call.onAbort, { once: true });`,
    replacement: `      void signal;`,
    breaks: "aborting a call's signal does not fail or cancel it",
    tests: [ERRORS],
  },
  // -------------------------------------------------------------- errors
  {
    name: "registered-error-loses-stack",
    area: "errors",
    file: "src/errors.ts",
    original:
      `  if (init.stack !== undefined) own(error, "remoteStack", init.stack, false);`,
    replacement:
      `  if (init.stack === null) own(error, "remoteStack", init.stack, false);`,
    breaks: "a registered error class arrives without its remoteStack",
    tests: [ERRORS],
  },
  {
    name: "registered-error-loses-code",
    area: "errors",
    file: "src/errors.ts",
    original:
      `  if (init.code !== undefined) own(error, "code", init.code, true);`,
    replacement:
      `  if (init.code === null) own(error, "code", init.code, true);`,
    breaks: "a registered error class arrives without its code",
    tests: [ERRORS],
  },
  {
    name: "registered-errors-ignored",
    area: "errors",
    file: "src/errors.ts",
    original: `  const errorClass = registeredErrors.get(init.name);`,
    replacement: `  const errorClass = registeredErrors.get("");`,
    breaks: "a registered error class arrives as a plain RemoteError",
    tests: [ERRORS],
  },
  // ---------------------------------------------------------------- auth
  {
    name: "token-length-ignored",
    area: "auth",
    file: "src/protocol/handshake.ts",
    original: `  let diff = a.length ^ b.length;`,
    replacement: `  let diff = 0;`,
    breaks:
      "a token with trailing NUL bytes is accepted: lengths are not compared",
    tests: [AUTH],
  },
  // ---------------------------------------------------------------- rpyc
  {
    name: "rpyc-retry-reruns-method",
    area: "rpyc",
    file: "src/rpyc/netref.ts",
    original:
      `      (isCall && (error.remoteStack ?? "").includes("in _handle_call\\n"))`,
    replacement: `      (isCall && false)`,
    breaks:
      "a Python method raising AttributeError runs twice (the exposed_ retry after the call ran)",
    tests: [RPYC_CLIENT],
  },
  {
    name: "rpyc-negative-seq",
    area: "rpyc",
    file: "src/rpyc/wire.ts",
    original:
      `  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {`,
    replacement: `  if (typeof seq !== "number") {`,
    breaks: "an RPyC message with a negative or fractional seq is accepted",
    tests: [RPYC_WIRE, RPYC_SERVER],
  },
  {
    name: "rpyc-frame-unbounded",
    area: "rpyc",
    file: "src/rpyc/channel.ts",
    original: `    if (length > this.#maxFrameBytes) {`,
    replacement: `    if (length > this.#maxFrameBytes * 1024) {`,
    breaks: "an RPyC frame larger than maxFrameBytes is accepted",
    tests: [RPYC_BRINE],
  },
  {
    name: "brine-immediate-int-range",
    area: "rpyc",
    file: "src/rpyc/brine.ts",
    original: `  if (value >= IMM_INT_MIN && value <= IMM_INT_MAX) {`,
    replacement: `  if (value >= IMM_INT_MIN && value <= IMM_INT_MAX + 1) {`,
    breaks: "the int just above brine's immediate range is encoded wrong",
    tests: [RPYC_BRINE],
  },
  {
    name: "brine-depth-unlimited",
    area: "rpyc",
    file: "src/rpyc/brine.ts",
    original: `  if (depth >= maxDepth) {`,
    replacement: `  if (depth >= maxDepth * 1000) {`,
    breaks: "a tuple nested deeper than the limit is dumped",
    tests: [RPYC_BRINE],
  },
  {
    name: "rpyc-iterator-kept-after-del",
    area: "rpyc",
    file: "src/rpyc/handlers.ts",
    original: `      iterationReleased(host, object);`,
    replacement: `      void object;`,
    breaks:
      "a TypeScript generator Python broke out of runs its finally only at disconnect",
    tests: [RPYC_STREAMS],
  },
  {
    name: "rpyc-producer-error-dropped",
    area: "rpyc",
    file: "src/rpyc/iteration.ts",
    original: `        this.#failure = { error };`,
    replacement: `        this.#failure = null;`,
    breaks:
      "a producer error after some items of a BUFFITER batch never reaches Python",
    tests: [RPYC_STREAMS],
  },
  {
    name: "rpyc-for-await-unbatched",
    area: "rpyc",
    file: "src/rpyc/protocol.ts",
    original: `    return batches(this, state.target);`,
    replacement: `    return batches(this, state.target, 1);`,
    breaks: "for await on a Python netref costs a round trip per item",
    tests: [RPYC_STREAMS],
  },
  {
    name: "rpyc-client-speaks-5-first",
    area: "rpyc",
    file: "src/rpyc/client.ts",
    original: `      ? [WireVersion.V6, WireVersion.V5]`,
    replacement: `      ? [WireVersion.V5, WireVersion.V6]`,
    breaks:
      "connectRpyc() without a version makes every RPyC 6 server log an error and uses up an RPyC 6 OneShotServer",
    tests: ["tests/rpyc6_test.ts"],
  },
  // ------------------------------------------------------------ registry
  {
    name: "registry-ttl-too-short",
    area: "registry",
    file: "src/registry/validate.ts",
    original:
      `    typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 100 ||`,
    replacement:
      `    typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0 ||`,
    breaks: "a TTL under 100 ms is accepted",
    tests: [REGISTRY],
  },
  {
    name: "registry-name-unchecked",
    area: "registry",
    file: "src/registry/validate.ts",
    original: `  if (/[\\s/\\x00-\\x1f\\x7f]/.test(value)) {`,
    replacement: `  if (/[\\x00]/.test(value)) {`,
    breaks:
      "a service name with spaces, slashes or control characters is registered",
    tests: [REGISTRY],
  },
  {
    name: "registry-heartbeat-does-not-renew",
    area: "registry",
    file: "src/registry/service.ts",
    original: `    held.expiresAt = performance.now() + held.ttl;`,
    replacement: `    held.expiresAt = held.expiresAt;`,
    breaks: "a live server's heartbeats do not renew its lease: it expires",
    tests: [REGISTRY],
  },
  {
    name: "registry-batch-unbounded",
    area: "registry",
    file: "src/registry/service.ts",
    original: `    if (instances.length > MAX_BATCH) {`,
    replacement: `    if (instances.length > MAX_BATCH * 1000) {`,
    breaks: "one register() call may add more than 256 instances",
    tests: [REGISTRY],
  },
  {
    name: "etcd-lost-lease-ignored",
    area: "registry",
    file: "src/registry/etcd.ts",
    original:
      `const alive = (answer: Json) => Number(int64(answer.TTL ?? "0", "TTL")) > 0;`,
    replacement: `const alive = (answer: Json) => answer !== null;`,
    breaks:
      "a lease etcd no longer knows is kept alive in vain: the entries stay gone",
    tests: [ETCD],
  },
  {
    name: "etcd-no-failover",
    area: "registry",
    file: "src/registry/etcd_http.ts",
    original: `        at = (at + 1) % hosts.length;`,
    replacement: `        at = at % hosts.length;`,
    breaks: "a dead first member fails every request: the next is never tried",
    tests: [ETCD],
  },
  // ----------------------------------------------------------------- tls
  {
    name: "mtls-accepts-any-client",
    area: "tls",
    file: "src/transport/tls_node.ts",
    original:
      `      : { ca: options.ca, requestCert: true, rejectUnauthorized: true }),`,
    replacement:
      `      : { ca: options.ca, requestCert: true, rejectUnauthorized: false }),`,
    breaks:
      "a mutual-TLS server accepts clients without a certificate its CA signed",
    tests: [TLS],
  },
  {
    name: "tls-half-certificate",
    area: "tls",
    file: "src/transport/tls.ts",
    original: `  if ((cert === undefined) !== (key === undefined)) {`,
    replacement: `  if (false) {`,
    breaks: "connectTls() with a cert but no key is not refused clearly",
    tests: [TLS],
  },
  // ------------------------------------------------------------- observe
  {
    name: "incoming-calls-skip-interceptors",
    area: "observe",
    file: "src/core/dispatch.ts",
    original: `      if (this.#intercept !== null) {`,
    replacement: `      if (false) {`,
    breaks:
      "a server's interceptors never see its calls, so one cannot refuse a call",
    tests: [INTERCEPT],
  },
  {
    name: "trace-context-not-sent",
    area: "observe",
    file: "src/core/session.ts",
    original: `      if (trace !== null && this.#peerTraces) {`,
    replacement: `      if (false) {`,
    breaks:
      "a server's span is not the child of the caller's: every call starts a trace of its own",
    tests: [OBSERVE],
  },
  {
    name: "failed-span-not-marked",
    area: "observe",
    file: "src/observe/telemetry.ts",
    original: `      if (span !== null) failSpan(span, error);`,
    replacement: `      span?.end();`,
    breaks: "a failed call's span ends without error status or its exception",
    tests: [OBSERVE],
  },
  // ------------------------------------------------------------- streams
  {
    name: "stream-items-beyond-credit-accepted",
    area: "streams",
    file: "src/core/stream_consumer.ts",
    original:
      `    if (this.#received + items.length > this.#granted) return false;`,
    replacement: `    if (this.#received + items.length < 0) return false;`,
    breaks:
      "a peer may send a stream's items beyond the credit granted: the consumer buffers without bound",
    tests: [STREAMS],
  },
  {
    name: "stream-producer-ignores-credit",
    area: "streams",
    file: "src/core/stream_producer.ts",
    original: `        if (this.#credit === 0 || this.host.congested) {`,
    replacement: `        if (this.host.congested) {`,
    breaks:
      "a producer pulls from its iterator regardless of the consumer's credit",
    tests: [STREAMS],
  },
  {
    name: "stream-credit-unclamped",
    area: "streams",
    file: "src/core/stream_producer.ts",
    original:
      `    this.#credit = Math.min(this.#credit + items, STREAM_WINDOW_ITEMS);`,
    replacement: `    this.#credit = this.#credit + items;`,
    breaks: "a peer granting 2^53 credit makes the producer send without bound",
    tests: [STREAMS],
  },
  {
    name: "stream-cancel-ignored",
    area: "streams",
    file: "src/core/streams.ts",
    original: `    this.#producers.get(id)?.cancel(`,
    replacement: `    this.#producers.get(-id)?.cancel(`,
    breaks:
      "leaving a for await loop does not stop the producer: its finally never runs",
    tests: [STREAMS],
  },
];
