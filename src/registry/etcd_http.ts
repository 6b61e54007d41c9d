/**
 * etcd's JSON gateway (`POST /v3/...` on a member's client URL, etcd 3.4 and
 * later) over `fetch`: failover between members, the auth token, a timeout
 * per request, and answers read line by line, bounded, checked before use.
 *
 * @module
 */

import { errorMessage, RegistryError } from "../errors.ts";

/** One JSON object of an answer. */
export type Json = Record<string, unknown>;

/** The longest answer line read (a range, or one batch of watch events). */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `text` as etcd's JSON carries keys and values: UTF-8 in base64. */
export const toBase64 = (text: string): string =>
  new TextEncoder().encode(text).toBase64();

/** The text of a base64 field of an answer; throws if it is none. */
export function fromBase64(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} is missing`);
  return utf8.decode(Uint8Array.fromBase64(value));
}

/** `value` if it is a JSON object; throws a `TypeError` naming `what`. */
export function object(value: unknown, what: string): Json {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return value as Json;
  }
  throw new TypeError(`${what} is not an object`);
}

/** `value` if it is a list, `[]` if left out (etcd omits empty fields). */
export function list(value: unknown): unknown[] {
  if (value === undefined || Array.isArray(value)) return value ?? [];
  throw new TypeError("a list is not a list");
}

/** `value` if it is an int64 as etcd writes them (in a string). */
export function int64(value: unknown, what: string): string {
  if (typeof value === "string" && /^-?\d{1,19}$/.test(value)) return value;
  throw new TypeError(`${what} ${String(value).slice(0, 40)} is not an int64`);
}

/** A failure every member would repeat: a refusal, a malformed answer. */
class Final extends Error {}

const malformed = (error: unknown) =>
  new Final(`sent a malformed answer (${errorMessage(error)}); is it etcd?`);

// etcd's refusals, and what to do about them.
const HINTS: [RegExp, string][] = [
  [/user name is empty/, "etcd has auth on: put user:password@ in the URL"],
  [/authentication failed|auth token/, "check the URL's user and password"],
  [/permission denied/, "grant the user read and write on the prefix"],
  [/^Not Found/, "is it the client URL of etcd 3.4 or later?"],
];

/** One line of an answer: its object (or `result`), or a throw. */
function check(line: string, status: number): Json {
  let answer: Json;
  try {
    answer = object(JSON.parse(line), "it");
    if (answer.error === undefined && status === 200) {
      return answer.result === undefined
        ? answer
        : object(answer.result, "its result");
    }
  } catch (error) {
    if (status === 200) throw malformed(error);
    answer = { error: line.slice(0, 200) };
  }
  const error = typeof answer.error === "object" && answer.error !== null
    ? answer.error as Json
    : answer;
  const code = Number(error.code ?? error.grpc_code);
  const message = String(error.message || error.error || `HTTP ${status}`)
    .slice(0, 500);
  // Unavailable, deadline exceeded, 5xx: no leader there, or overloaded.
  if (code === 14 || code === 4 || status >= 500) {
    throw new Error(`${message} (HTTP ${status})`);
  }
  const hint = HINTS.find(([pattern]) => pattern.test(message));
  throw new Final(`refused: ${message}${hint ? `; ${hint[1]}` : ""}`);
}

// The answer's lines, read with a reader that `signal` cancels (an aborted
// fetch does not always end a body being read, in Deno 2.9).
async function* answers(
  response: Response,
  signal: AbortSignal,
): AsyncGenerator<Json> {
  const reader = (response.body ?? new Blob().stream()).getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel);
  const text = new TextDecoder();
  let pending = "";
  try {
    signal.throwIfAborted();
    for (let read; !(read = await reader.read()).done;) {
      const chunk = text.decode(read.value, { stream: true });
      let start = 0;
      for (let end; (end = chunk.indexOf("\n", start)) >= 0; start = end + 1) {
        const line = pending + chunk.slice(start, end);
        pending = "";
        if (line.trim() !== "") yield check(line, response.status);
      }
      if (pending.length + chunk.length - start > MAX_LINE_CHARS) {
        throw malformed(`a line over ${MAX_LINE_CHARS} characters`);
      }
      pending += chunk.slice(start);
    }
    signal.throwIfAborted();
    if (pending.trim() !== "" || response.status !== 200) {
      yield check(pending, response.status);
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    cancel();
  }
}

type Credentials = { username: string; password: string };
const AUTH = "/v3/auth/authenticate";

/**
 * Requests to an etcd cluster. Each goes to the member that answered last;
 * if it cannot be reached, does not answer in time or has no leader, the
 * next one is tried. A refusal or a malformed answer is final, but for an
 * expired token, which is renewed once.
 */
export class EtcdClient {
  #current = 0;
  #token: Promise<string> | null = null;
  /** Set by the registry's close(): requests are refused from then on. */
  closed = false;

  /** Members' client URLs, credentials, timeout (ms), registry URL. */
  constructor(
    readonly hosts: string[],
    readonly auth: Credentials | undefined,
    readonly timeout: number,
    readonly url: string,
  ) {}

  /**
   * Sends one request; `read` checks and converts etcd's answer (its
   * throws count as a malformed answer). Throws a `RegistryError`.
   */
  call<T = Json>(
    what: string,
    path: string,
    body: Json,
    read: (answer: Json) => T = (answer) => answer as T,
  ): Promise<T> {
    return this.request(what, path, body, null, async (lines) => {
      const { value } = await lines.next();
      await lines.return(undefined);
      try {
        return read(value ?? {});
      } catch (error) {
        throw malformed(error);
      }
    });
  }

  /**
   * Sends one request, and gives `use` the answers, read until `stream`
   * aborts if given (the timeout then stops at the first byte), else
   * within the timeout. Throws a `RegistryError`.
   */
  async request<T>(
    what: string,
    path: string,
    body: Json,
    stream: AbortSignal | null,
    use: (answers: AsyncGenerator<Json>) => Promise<T> | T,
  ): Promise<T> {
    const { hosts, auth, timeout, url } = this;
    const failures: string[] = [];
    let renewed = false;
    let cause: unknown;
    for (let tried = 0, at = this.#current; tried < hosts.length;) {
      if (this.closed) {
        throw new RegistryError(`Cannot use registry ${url}: it is closed`);
      }
      const name = hosts[at].replace(/^https?:\/\//, "");
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeout);
      const token = auth && path !== AUTH
        ? this.#token ??= this.#authenticate(auth)
        : undefined;
      try {
        const response = await fetch(hosts[at] + path, {
          method: "POST",
          headers: token ? { authorization: await token } : {},
          body: JSON.stringify(body),
          signal: deadline.signal,
        });
        if (response.status === 401 && token && !renewed) {
          await response.body?.cancel(); // An expired token: renew it.
          renewed = true;
          if (this.#token === token) this.#token = null;
          continue;
        }
        if (stream) clearTimeout(timer);
        this.#current = at;
        return await use(answers(response, stream ?? deadline.signal));
      } catch (error) {
        if (error instanceof RegistryError || stream?.aborted) throw error;
        if (error instanceof Final) {
          throw new RegistryError(
            `Cannot ${what} at registry ${url}: etcd member ${name} ${error.message}`,
            { cause: error },
          );
        }
        cause = error;
        // What fetch says, in a few words ("connection refused").
        const reason = deadline.signal.aborted
          ? `no answer within ${timeout} ms`
          : errorMessage((error as { cause?: unknown })?.cause ?? error)
            .replace(/ \(os error \d+\)$/, "").replace(/^.*: /, "")
            .replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
        failures.push(`${name}: ${reason}`);
        at = (at + 1) % hosts.length;
        tried++;
      } finally {
        clearTimeout(timer);
      }
    }
    throw new RegistryError(
      `Cannot ${what} at registry ${url}: no etcd member could be reached (${
        failures.join("; ")
      }); is etcd running there?`,
      { cause },
    );
  }

  #authenticate({ username: name, password }: Credentials) {
    const token = this.call("authenticate", AUTH, { name, password }, (a) => {
      const { token } = a;
      if (typeof token === "string" && /^[\x21-\x7e]+$/.test(token)) {
        return token;
      }
      throw new TypeError("its token is not printable text");
    });
    token.catch(() => this.#token === token && (this.#token = null));
    return token;
  }
}
