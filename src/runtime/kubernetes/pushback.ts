import { setTimeout as sleepFor } from "node:timers/promises";
import { ApiException } from "@kubernetes/client-node";
import { fromKubernetesError } from "./errors.js";

/**
 * When the API server pushes back (429 from API Priority and Fairness, a 5xx, no answer), a write is
 * tried again later rather than failed at once: this decides whether and when.
 */
export interface PushbackPolicy {
  /** Total time a function's writes keep being tried after the first pushback; 0: never retried. */
  readonly budgetMs: number;
  /** Backoff of the first retry without Retry-After; doubled per retry up to `maxDelayMs`. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
}

/** The backoff; the budget is a setting (--kubernetes-retry-budget, src/settings holds its default). */
export const PUSHBACK_DELAYS: Omit<PushbackPolicy, "budgetMs"> = { firstDelayMs: 500, maxDelayMs: 30_000 };

/** Time as the retries see it; a test passes one whose sleeps end when it says. */
export interface PushbackClock {
  now(): number;
  /** Resolves after `ms`, or rejects once `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemPushbackClock: PushbackClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepFor(ms, undefined, { signal, ref: false }),
};

export interface Pushback {
  /** How long to wait before the next try. */
  readonly delayMs: number;
  /** For people: what the API server said, and the wait (`the API server asked to retry after 2s (429)`). */
  readonly reason: string;
}

export interface PushbackInput {
  readonly error: unknown;
  /** 1 for the first retry. */
  readonly attempt: number;
  /**
   * Whether sending the same request again is harmless even if the failed one was in fact carried out.
   * A create by generateName is not: a second create makes a second object.
   */
  readonly repeatable: boolean;
  readonly now: number;
  /** In [0, 1): spreads retries of a burst so they do not come back at the same instant. */
  readonly random: number;
}

/** Part of a delay added at random (at most), so that a burst pushed back together comes back spread. */
const JITTER = 0.2;

/**
 * The wait before trying again, or undefined when trying again cannot help (a refusal, 4xx other than
 * 429) or could do harm (a write that may have been carried out, when repeating it is not harmless).
 * A 429 is never carried out (API Priority and Fairness rejects before the request is served); a 5xx or
 * a lost connection may hide a write that happened.
 */
export function pushbackOf(input: PushbackInput, policy: PushbackPolicy): Pushback | undefined {
  const { error } = input;
  let what: string;
  let retryAfter: number | undefined;
  if (error instanceof ApiException) {
    const status = error.code;
    const throttled = status === 429;
    const serverError = status >= 500 && status <= 599;
    if (!throttled && !serverError) return undefined;
    // A schema refusal comes as a 500 yet is the manifest's fault: it will be refused again.
    if (fromKubernetesError(error, "").code === "KUBERNETES_INVALID") return undefined;
    if (!throttled && !input.repeatable) return undefined;
    retryAfter = retryAfterMs(headerOf(error.headers, "retry-after"), input.now);
    what = String(status);
  } else {
    const failure = fromKubernetesError(error, "");
    if (failure.code !== "KUBERNETES_UNREACHABLE" || !input.repeatable) return undefined;
    what = "no answer";
  }
  const backoff = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, input.attempt - 1));
  // Retry-After is honoured as a minimum; jitter only ever adds to it.
  const base = retryAfter ?? backoff;
  const delayMs = Math.round(base + base * JITTER * input.random);
  const reason =
    retryAfter === undefined
      ? `the API server pushed back (${what}); retrying in ${seconds(delayMs)}`
      : `the API server asked to retry after ${seconds(retryAfter)} (${what})`;
  return { delayMs, reason };
}

/** Retry-After as delay-seconds or as an HTTP date (RFC 9110 §10.2.3), in ms from `now`; never negative. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, at - now);
}

function headerOf(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
