/**
 * Every failure the product reports has a stable `code`. The HTTP layer maps codes to a status;
 * callers and tests match on codes, never on message text.
 */
import type { ErrorCode } from "./registry.js";

export { ERROR_CODES, ERROR_REGISTRY, isErrorCode, statusOf, type ErrorCode } from "./registry.js";

export class GitfaasError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (missing names, file and line…), safe to show to callers. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = "GitfaasError";
    this.code = code;
    this.details = details;
  }
}

export function isGitfaasError(error: unknown): error is GitfaasError {
  return error instanceof GitfaasError;
}

/** A message fit to show a caller: ours as written, anything else reduced to its message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
