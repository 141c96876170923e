import { isGitfaasError } from "../errors/index.js";
import { isStoreUnavailable } from "../store/index.js";

/** Refusals that pass: what was refused is published later from its claim, not refused for good. */
const TRANSIENT = new Set(["STORE_UNAVAILABLE", "TOO_MANY_REQUESTS", "CATALOG_NOT_LOADED", "SHUTTING_DOWN"]);

export function isTransientRefusal(error: unknown): boolean {
  return isStoreUnavailable(error) || (isGitfaasError(error) && TRANSIENT.has(error.code));
}
