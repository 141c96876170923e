import { GitfaasError } from "../errors/index.js";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

// setTimeout silently fires at once for delays above this, which would turn polling into a busy loop.
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * "30s", "5m", "1h" or "500ms" → milliseconds. A bare number means minutes, as the original's
 * `pollingInterval` did. Zero, negative, fractional-millisecond or unreadable values are refused.
 */
export function parsePollInterval(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  const amount = match?.[1];
  if (match === null || amount === undefined) {
    throw invalid(text, "expected a duration such as 30s, 5m or 1h (a bare number means minutes)");
  }
  const unit = (match[2] ?? "m").toLowerCase();
  const ms = Number(amount) * (UNIT_MS[unit] ?? Number.NaN);
  if (!Number.isInteger(ms) || ms < 1)
    throw invalid(text, "the interval must be a whole, positive number of milliseconds");
  if (ms > LONGEST_TIMER_MS) throw invalid(text, "the interval must be at most 24 days");
  return ms;
}

function invalid(text: string, why: string): GitfaasError {
  return new GitfaasError("INVALID_SETTING", `invalid poll interval ${JSON.stringify(text)}: ${why}`, {
    setting: "pollInterval",
    value: text,
  });
}
