/**
 * What a gitfaas lambda needs: its payload, its answer, publishing child requests.
 *
 * No dependencies (Node's own fetch). Every function reads the environment gitfaas gives the lambda
 * when it is called (not at import); those that need `FUNCTION_UID` throw {@link NotInGitfaasError}
 * when it is missing.
 */

/** Where gitfaas is when `GITFAAS_URL` is not set: its Service in the cluster, as in the original. */
export const DEFAULT_GITFAAS_URL = "http://gitfaas:5000";

/** Milliseconds `respond`, `publish` and a `PAYLOAD_URL` fetch keep retrying, all attempts together. */
export const DEFAULT_TIMEOUT_MS = 60_000;

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const FUNCTION_UID = new RegExp(`^f-${UUID}-(r-${UUID})$`);
const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 8_000;
const ATTEMPT_TIMEOUT_MS = 30_000;

/** Query values of a publish. */
export type Params = Readonly<Record<string, string | number | boolean>>;

/** Options of the calls that retry. */
export interface CallOptions {
  /** All attempts together, in milliseconds (default {@link DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** Base of every error this package throws. */
export class GitfaasError extends Error {
  override name = "GitfaasError";
}

/** Not run by gitfaas: `FUNCTION_UID` is not set (the manifest gives it as `{{FUNCTION_UID}}`). */
export class NotInGitfaasError extends GitfaasError {
  override name = "NotInGitfaasError";
}

/**
 * gitfaas refused the call, or could not be reached before the time ran out. `status` is the HTTP
 * status (`undefined` when gitfaas never answered), `code` the error code of its JSON answer
 * (`STORE_UNAVAILABLE`, `FUNCTION_NOT_FOUND`…) when it gave one.
 */
export class GitfaasHttpError extends GitfaasError {
  override name = "GitfaasHttpError";
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The function had already finished when this lambda first tried to answer: the answer was not stored. */
export class AnswerFinalError extends GitfaasHttpError {
  override name = "AnswerFinalError";
}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === "" ? undefined : value;
}

/** `GITFAAS_URL` without its trailing slash, else {@link DEFAULT_GITFAAS_URL}. */
export function gitfaasUrl(): string {
  return (env("GITFAAS_URL") ?? DEFAULT_GITFAAS_URL).replace(/\/+$/, "");
}

/** This function's UID, `f-<uuid>-r-<uuid>` (`FUNCTION_UID`): where it answers. */
export function functionUid(): string {
  const uid = env("FUNCTION_UID");
  if (!uid) {
    throw new NotInGitfaasError(
      'FUNCTION_UID is not set: this runs outside gitfaas (the manifest gives it with value: "{{FUNCTION_UID}}")',
    );
  }
  return uid;
}

/** The request this function belongs to: `REQUEST_UID`, else the `r-<uuid>` end of the function UID. */
export function requestUid(): string {
  const given = env("REQUEST_UID");
  if (given) return given;
  const uid = functionUid();
  const match = FUNCTION_UID.exec(uid);
  if (!match?.[1]) {
    throw new GitfaasError(`FUNCTION_UID '${uid}' is not f-<uuid>-r-<uuid>, and REQUEST_UID is not set`);
  }
  return match[1];
}

let payloadCache: Promise<Uint8Array> | undefined;

/**
 * The published body: `PAYLOAD` (base64) when it is not empty, else fetched from `PAYLOAD_URL` (retried
 * like {@link respond}), else empty. Read once, then kept.
 */
export function payload(): Promise<Uint8Array> {
  payloadCache ??= (async () => {
    const encoded = env("PAYLOAD");
    if (encoded) return new Uint8Array(Buffer.from(encoded, "base64"));
    const url = env("PAYLOAD_URL");
    if (url) return (await call("GET", url, undefined, {}, DEFAULT_TIMEOUT_MS, false)).body;
    return new Uint8Array();
  })();
  // A failed fetch is not kept: the next call tries again.
  payloadCache.catch(() => (payloadCache = undefined));
  return payloadCache;
}

/** The payload decoded as UTF-8. */
export async function payloadText(): Promise<string> {
  return new TextDecoder().decode(await payload());
}

/** The payload parsed as JSON; `null` for an empty payload. */
export async function payloadJson<T = unknown>(): Promise<T | null> {
  const text = await payloadText();
  return text === "" ? null : (JSON.parse(text) as T);
}

/**
 * Posts this function's answer (`POST /response/<function uid>`): a `Uint8Array` or string as text/plain,
 * anything else as its JSON.
 *
 * Retried with backoff on connection errors, timeouts, 429 and 5xx (`Retry-After` honoured) for at most
 * `timeoutMs` in all; then {@link GitfaasHttpError}. Idempotent: gitfaas replaces the answer of a running
 * function, so posting the same answer again is harmless; a `409 ANSWER_FINAL` counts as done when an
 * earlier attempt may have been stored before the function finished (it timed out, lost its connection,
 * or got a 5xx that was not gitfaas's own refusal), otherwise it throws {@link AnswerFinalError} (the
 * answer was never stored). Another 4xx throws {@link GitfaasHttpError} at once.
 */
export async function respond(value: unknown, options: CallOptions = {}): Promise<void> {
  const [body, contentType] = encode(value);
  const url = `${gitfaasUrl()}/response/${encodeURIComponent(functionUid())}`;
  await call(
    "POST",
    url,
    body,
    { "content-type": contentType },
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    true,
  );
}

/**
 * Publishes `body` on `topic` as a child of this function; resolves to the new request's UID.
 *
 * A `Uint8Array` or string goes as text/plain, `undefined` as no body, anything else as its JSON; `params`
 * become the query values. Sends `Gitfaas-Parent: <function uid>` (the run's tree links the child to this
 * function), `traceparent`/`tracestate` from `TRACEPARENT`/`TRACESTATE` when set, `Authorization: Bearer
 * $GITFAAS_TOKEN` when set, and a fresh `Idempotency-Key`, so the retries (as for {@link respond}) run the
 * topic once. A refusal, or a publish some of whose manifests failed to apply, throws {@link GitfaasHttpError}.
 */
export async function publish(
  topic: string,
  body?: unknown,
  params: Params = {},
  options: CallOptions = {},
): Promise<string> {
  const headers: Record<string, string> = {
    "gitfaas-parent": functionUid(),
    "idempotency-key": crypto.randomUUID(),
  };
  const traceparent = env("TRACEPARENT");
  if (traceparent) headers.traceparent = traceparent;
  const tracestate = env("TRACESTATE");
  if (tracestate) headers.tracestate = tracestate;
  const token = env("GITFAAS_TOKEN");
  if (token) headers.authorization = `Bearer ${token}`;
  let data: Uint8Array | undefined;
  if (body !== undefined) [data, headers["content-type"]] = encode(body);
  const query = new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  const url = `${gitfaasUrl()}/publish/${encodeURIComponent(topic)}${query ? `?${query}` : ""}`;
  const answer = await call("POST", url, data, headers, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
  const parsed = JSON.parse(new TextDecoder().decode(answer.body)) as {
    error?: boolean;
    requestUid?: unknown;
    applies?: { error?: boolean; message?: string }[];
  };
  if (parsed.error || typeof parsed.requestUid !== "string") {
    const failed = (parsed.applies ?? []).filter((a) => a.error).map((a) => a.message);
    throw new GitfaasHttpError(
      `publishing on ${topic} (${String(parsed.requestUid)}) failed: ${JSON.stringify(failed.length ? failed : parsed)}`,
      answer.status,
    );
  }
  return parsed.requestUid;
}

function encode(value: unknown): [Uint8Array, string] {
  if (value instanceof Uint8Array) return [value, "text/plain; charset=utf-8"];
  if (typeof value === "string") return [new TextEncoder().encode(value), "text/plain; charset=utf-8"];
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`${typeof value} has no JSON form`);
  return [new TextEncoder().encode(json), "application/json"];
}

/** Milliseconds to wait from a `Retry-After` header (seconds or an HTTP date). */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

function codeOf(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** One HTTP call, retried on connection errors, 429 and 5xx within `timeoutMs` in all. */
async function call(
  method: string,
  url: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
  answer: boolean,
): Promise<{ status: number; body: Uint8Array }> {
  const deadline = Date.now() + timeoutMs;
  let pause = FIRST_PAUSE_MS;
  let maybeStored = false; // an earlier attempt may have reached gitfaas and been applied
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    let failure: GitfaasHttpError;
    let wait: number | undefined;
    try {
      const reply = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(Math.max(100, Math.min(ATTEMPT_TIMEOUT_MS, remaining))),
      });
      const data = new Uint8Array(await reply.arrayBuffer());
      if (reply.ok) return { status: reply.status, body: data };
      const text = new TextDecoder().decode(data);
      const code = codeOf(text);
      if (answer && reply.status === 409 && code === "ANSWER_FINAL") {
        if (maybeStored) return { status: reply.status, body: data };
        throw new AnswerFinalError(`${method} ${url}: 409 ${text}`, reply.status, code);
      }
      failure = new GitfaasHttpError(`${method} ${url}: ${reply.status} ${text}`, reply.status, code);
      const retryable = reply.status === 429 || reply.status >= 500 || code === "IDEMPOTENCY_KEY_IN_PROGRESS";
      if (!retryable) throw failure;
      maybeStored ||= code === undefined; // not gitfaas's own refusal (a proxy's 502…)
      wait = retryAfterMs(reply.headers.get("retry-after"));
    } catch (error) {
      if (error instanceof GitfaasError) throw error;
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      failure = new GitfaasHttpError(`${method} ${url}: ${String(error)}${cause}`);
      maybeStored = true;
    }
    if (wait === undefined) {
      wait = pause * (0.5 + Math.random() / 2);
      pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
    }
    if (Date.now() + wait >= deadline) {
      throw new GitfaasHttpError(
        `${failure.message} (gave up after ${attempt} attempts in ${timeoutMs} ms)`,
        failure.status,
        failure.code,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
