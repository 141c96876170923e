/**
 * The one registry of error codes: each code's HTTP status and its one-line meaning. The README's
 * error table, the HTTP layer's statuses and the tests are all held to this list.
 */
export const ERROR_REGISTRY = {
  // caller input
  BAD_REQUEST: {
    status: 400,
    meaning: "the request is malformed (bad URL encoding, NUL bytes, bad header, bad wait or tail value)",
  },
  INVALID_JSON: { status: 400, meaning: "a JSON body does not parse" },
  EMPTY_BODY: { status: 400, meaning: "an answer was posted with no body" },
  RESERVED_PARAMETER: { status: 400, meaning: "a query parameter tries to set a built-in template value" },
  TEMPLATE_MISSING_VALUE: { status: 400, meaning: "a placeholder of the topic's manifests has no value" },
  PARAMETER_INVALID: {
    status: 400,
    meaning: "a query parameter breaks its topic's declaration, or is not declared",
  },
  TOO_MANY_PARAMETERS: { status: 400, meaning: "more query parameters than --max-query-parameters" },
  UNSUPPORTED_CONTENT_TYPE: { status: 406, meaning: "the body's media type is not text/plain, JSON or none" },
  METHOD_NOT_ALLOWED: { status: 405, meaning: "the route exists, not with this method (see Allow)" },
  REQUEST_TIMEOUT: { status: 408, meaning: "the request was not received in time" },
  BODY_TOO_LARGE: { status: 413, meaning: "the body is larger than --body-limit" },
  ENV_VALUE_TOO_LARGE: {
    status: 413,
    meaning: "a rendered environment value is over 128 KiB: use {{PAYLOAD_URL}}",
  },
  OBJECT_TOO_LARGE: { status: 413, meaning: "a rendered object is over 1.5 MB (etcd's limit)" },
  PARAMETER_TOO_LONG: { status: 414, meaning: "a query parameter, path segment or URL is too long" },
  EXPECTATION_FAILED: { status: 417, meaning: "an Expect header other than 100-continue" },
  HEADERS_TOO_LARGE: { status: 431, meaning: "the request's headers are too large" },
  INVALID_PARENT: {
    status: 400,
    meaning: "the Gitfaas-Parent header is not the UID of a live function",
  },
  PIPELINE_TOO_DEEP: {
    status: 422,
    meaning: "the publish would make a chain deeper than --pipeline-max-depth",
  },
  // lookups
  NOT_FOUND: { status: 404, meaning: "no such route" },
  TOPIC_NOT_FOUND: { status: 404, meaning: "no such topic in the served revision" },
  REQUEST_NOT_FOUND: { status: 404, meaning: "no such request (unknown, malformed or expired)" },
  FUNCTION_NOT_FOUND: { status: 404, meaning: "no such function (unknown, malformed or expired)" },
  // answers
  ANSWER_FINAL: { status: 409, meaning: "the function has finished: its answer can no longer be replaced" },
  // pipelines
  IDEMPOTENCY_KEY_MISMATCH: {
    status: 422,
    meaning: "the Idempotency-Key was used for another topic, body or parameters",
  },
  IDEMPOTENCY_KEY_IN_PROGRESS: {
    status: 409,
    meaning: "the first publish with this Idempotency-Key is under way (see Retry-After)",
  },
  REPLAY_UNAVAILABLE: { status: 409, meaning: "the request was kept without its query values" },
  NOTHING_FAILED: { status: 409, meaning: "a replay of what failed, where nothing failed" },
  // catalog and manifests
  CATALOG_INVALID: { status: 422, meaning: "config.json is invalid" },
  CATALOG_NOT_LOADED: { status: 503, meaning: "no valid revision has been served yet" },
  MANIFEST_INVALID: { status: 422, meaning: "a manifest is invalid" },
  PATH_ESCAPE: { status: 422, meaning: "a path leaves the repository (.., absolute, symlink)" },
  // policy
  BANNED_KIND: { status: 403, meaning: "the manifest has a kind gitfaas refuses to apply" },
  NAMESPACE_FORBIDDEN: { status: 403, meaning: "the manifest targets a namespace outside gitfaas's scope" },
  // git
  GIT_FAILED: { status: 502, meaning: "git could not fetch the repository" },
  GIT_AUTH_FAILED: { status: 502, meaning: "the git remote refused gitfaas's credentials" },
  // runtime
  UNSUPPORTED_KIND: { status: 422, meaning: "the local runtime runs Jobs and Pods only" },
  UNSUPPORTED_MANIFEST: { status: 422, meaning: "the local runtime cannot run this manifest as written" },
  RUNTIME_FAILED: { status: 502, meaning: "the runtime could not start the function" },
  KUBERNETES_INVALID: { status: 422, meaning: "the API server refused the object as invalid" },
  KUBERNETES_FORBIDDEN: { status: 403, meaning: "the API server refused gitfaas's service account" },
  KUBERNETES_CONFLICT: { status: 409, meaning: "the object conflicts with one that exists" },
  KUBERNETES_NOT_FOUND: { status: 404, meaning: "the API server does not know the kind or namespace" },
  KUBERNETES_UNREACHABLE: { status: 502, meaning: "the API server did not answer" },
  KUBERNETES_THROTTLED: {
    status: 503,
    meaning: "the API server asked gitfaas to slow down (429) past --kubernetes-retry-budget",
  },
  KUBERNETES_FAILED: { status: 502, meaning: "the API server answered with an error" },
  // access
  UNAUTHORIZED: { status: 401, meaning: "no bearer token, or an unknown one" },
  FORBIDDEN: { status: 403, meaning: "the bearer token lacks the route's scope" },
  WEBHOOK_UNAUTHORIZED: { status: 401, meaning: "a webhook's signature or token is missing or wrong" },
  WEBHOOK_DISABLED: { status: 403, meaning: "webhooks are off (no secret configured)" },
  TOO_MANY_REQUESTS: { status: 429, meaning: "the topic's queue is full (see Retry-After)" },
  // service state
  SHUTTING_DOWN: { status: 503, meaning: "gitfaas is stopping" },
  NOT_READY: { status: 503, meaning: "the store or the runtime does not answer" },
  STORE_UNAVAILABLE: {
    status: 503,
    meaning: "the store refuses writes or does not answer; nothing was recorded",
  },
  // settings and start-up (never an HTTP answer: the process does not start)
  INVALID_SETTING: { status: 500, meaning: "a setting is invalid; gitfaas does not start" },
  STORE_IN_USE: { status: 500, meaning: "another gitfaas holds the SQLite store; gitfaas does not start" },
  INTERNAL: { status: 500, meaning: "a bug or an unexpected failure; see gitfaas's log" },
} as const satisfies Record<string, { readonly status: number; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERROR_REGISTRY;

export const ERROR_CODES = Object.keys(ERROR_REGISTRY) as readonly ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_REGISTRY, code);
}

/** The HTTP status of a code; a code outside the registry is a bug, answered as INTERNAL's 500. */
export function statusOf(code: string): number {
  return isErrorCode(code) ? ERROR_REGISTRY[code].status : ERROR_REGISTRY.INTERNAL.status;
}
