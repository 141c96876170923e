import type { FastifyReply } from "fastify";
import type { ErrorCode } from "../errors/index.js";

/** Status for each error code; anything unlisted is a server error. */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  EMPTY_BODY: 400,
  RESERVED_PARAMETER: 400,
  TEMPLATE_MISSING_VALUE: 400,
  UNSUPPORTED_CONTENT_TYPE: 406,
  BODY_TOO_LARGE: 413,
  ENV_VALUE_TOO_LARGE: 413,
  OBJECT_TOO_LARGE: 413,
  NOT_FOUND: 404,
  TOPIC_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
  FUNCTION_NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  WEBHOOK_UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  WEBHOOK_DISABLED: 403,
  TOO_MANY_REQUESTS: 429,
  TOO_MANY_PARAMETERS: 400,
  PARAMETER_TOO_LONG: 414,
  SHUTTING_DOWN: 503,
  NOT_READY: 503,
  STORE_UNAVAILABLE: 503,
  BANNED_KIND: 403,
  NAMESPACE_FORBIDDEN: 403,
  CATALOG_INVALID: 422,
  MANIFEST_INVALID: 422,
  PATH_ESCAPE: 422,
  UNSUPPORTED_KIND: 422,
  UNSUPPORTED_MANIFEST: 422,
  CATALOG_NOT_LOADED: 503,
  GIT_FAILED: 502,
  GIT_AUTH_FAILED: 502,
  RUNTIME_FAILED: 502,
  KUBERNETES_INVALID: 422,
  KUBERNETES_FORBIDDEN: 403,
  KUBERNETES_CONFLICT: 409,
  KUBERNETES_NOT_FOUND: 404,
  KUBERNETES_UNREACHABLE: 502,
  KUBERNETES_FAILED: 502,
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code as ErrorCode] ?? 500;
}

export function sendError(
  reply: FastifyReply,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(statusForCode(code)).send({ error: true, code, message, ...extra });
}
