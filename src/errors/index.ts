/**
 * Every failure the product reports has a stable `code`. The HTTP layer maps codes to a status;
 * callers and tests match on codes, never on message text.
 */
export type ErrorCode =
  // caller input
  | "BAD_REQUEST"
  | "INVALID_JSON"
  | "UNSUPPORTED_CONTENT_TYPE"
  | "EMPTY_BODY"
  | "BODY_TOO_LARGE"
  | "RESERVED_PARAMETER"
  | "TEMPLATE_MISSING_VALUE"
  | "ENV_VALUE_TOO_LARGE"
  | "OBJECT_TOO_LARGE"
  // lookups
  | "NOT_FOUND"
  | "TOPIC_NOT_FOUND"
  | "REQUEST_NOT_FOUND"
  | "FUNCTION_NOT_FOUND"
  // catalog and manifests
  | "CATALOG_INVALID"
  | "CATALOG_NOT_LOADED"
  | "MANIFEST_INVALID"
  | "PATH_ESCAPE"
  // policy
  | "BANNED_KIND"
  | "NAMESPACE_FORBIDDEN"
  // git
  | "GIT_FAILED"
  | "GIT_AUTH_FAILED"
  // runtime
  | "UNSUPPORTED_KIND"
  | "UNSUPPORTED_MANIFEST"
  | "RUNTIME_FAILED"
  | "KUBERNETES_INVALID"
  | "KUBERNETES_FORBIDDEN"
  | "KUBERNETES_CONFLICT"
  | "KUBERNETES_NOT_FOUND"
  | "KUBERNETES_UNREACHABLE"
  | "KUBERNETES_FAILED"
  // access
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "WEBHOOK_UNAUTHORIZED"
  | "WEBHOOK_DISABLED"
  | "TOO_MANY_REQUESTS"
  | "TOO_MANY_PARAMETERS"
  | "PARAMETER_TOO_LONG"
  | "SHUTTING_DOWN"
  | "NOT_READY"
  // settings and start-up
  | "INVALID_SETTING"
  | "STORE_IN_USE"
  // the store refuses or cannot take a write (a full disk, Redis unreachable): retry later
  | "STORE_UNAVAILABLE"
  | "INTERNAL";

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
