import { GitfaasError, isGitfaasError } from "../errors/index.js";

/**
 * What a caller refused with STORE_UNAVAILABLE is told to wait before trying again: long enough for
 * Redis to reconnect, short enough that a caller comes back soon after space is freed on a full disk.
 */
export const STORE_RETRY_AFTER_SECONDS = 5;

/**
 * Adapters turn their own faults (SQLITE_FULL, a Redis timeout…) into this, so that the HTTP layer and
 * the status outbox know "try again later" without knowing SQLite's or Redis's error names.
 */
export function storeUnavailable(message: string, cause: unknown): GitfaasError {
  return new GitfaasError(
    "STORE_UNAVAILABLE",
    `the store cannot take this now (${message}); try again later`,
    { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
    { cause },
  );
}

export function isStoreUnavailable(error: unknown): boolean {
  return isGitfaasError(error) && error.code === "STORE_UNAVAILABLE";
}
