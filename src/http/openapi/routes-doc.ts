import type { ErrorCode } from "../../errors/index.js";
import * as answers from "./schemas.js";

type Schema = Record<string, unknown>;

/** What the OpenAPI document says of one route, beside what the route itself declares (its access). */
export interface RouteDoc {
  readonly summary: string;
  readonly tag: string;
  /** Path parameters and what each is. */
  readonly params?: Readonly<Record<string, string>>;
  /** Query parameters: their schema (with a description). */
  readonly query?: Readonly<Record<string, Schema>>;
  /** Media types the body may have; absent: no body. */
  readonly body?: readonly string[];
  /** The body may be left out. */
  readonly bodyOptional?: boolean;
  /** Success answers by status: a JSON schema, or the media type of a body that is not JSON. */
  readonly answers: Readonly<
    Record<number, { readonly description: string; readonly schema?: Schema; readonly media?: string }>
  >;
  /** Codes the route itself may answer (authentication's and the framework's are added for every route). */
  readonly errors: readonly ErrorCode[];
}

const BODY = ["text/plain", "application/json", "application/x-www-form-urlencoded"];
const WAIT = {
  type: "string",
  description: "seconds (at most 300) to hold the answer until every function has settled",
};
const TAIL = { type: "string", description: "only the last this many bytes" };
const PUBLISH_REFUSALS: readonly ErrorCode[] = [
  "TOPIC_NOT_FOUND",
  "CATALOG_NOT_LOADED",
  "RESERVED_PARAMETER",
  "TEMPLATE_MISSING_VALUE",
  "PARAMETER_INVALID",
  "ENV_VALUE_TOO_LARGE",
  "OBJECT_TOO_LARGE",
  "TOO_MANY_REQUESTS",
  "STORE_UNAVAILABLE",
];
const REVISION_REFUSALS: readonly ErrorCode[] = [
  "CATALOG_INVALID",
  "MANIFEST_INVALID",
  "PATH_ESCAPE",
  "GIT_FAILED",
  "GIT_AUTH_FAILED",
];

/** Every route's documentation, by `METHOD url` as the route declares it. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  "POST /publish/:topic": {
    summary: "Publish a message: every manifest of the topic runs, one function each",
    tag: "publish",
    params: { topic: "a topic of the served revision" },
    body: BODY,
    bodyOptional: true,
    answers: { 202: { description: "accepted: one entry per manifest", schema: answers.PUBLISH_REPORT } },
    errors: [
      "BAD_REQUEST",
      "INVALID_JSON",
      "UNSUPPORTED_CONTENT_TYPE",
      "BODY_TOO_LARGE",
      "TOO_MANY_PARAMETERS",
      "PARAMETER_TOO_LONG",
      "INVALID_PARENT",
      "PIPELINE_TOO_DEEP",
      "IDEMPOTENCY_KEY_MISMATCH",
      "IDEMPOTENCY_KEY_IN_PROGRESS",
      ...PUBLISH_REFUSALS,
    ],
  },
  "POST /requests/:requestUid/replay": {
    summary: "Publish a request's body and query values again, as a new request",
    tag: "publish",
    params: { requestUid: "the request to replay" },
    query: { failed: { enum: ["true", "false"], description: "only the manifests whose functions failed" } },
    answers: { 202: { description: "accepted, with replayOf", schema: answers.PUBLISH_REPORT } },
    errors: ["BAD_REQUEST", "REQUEST_NOT_FOUND", "REPLAY_UNAVAILABLE", "NOTHING_FAILED", ...PUBLISH_REFUSALS],
  },
  "POST /response/:functionUid": {
    summary: "A lambda's answer (no token: the function UID is the capability)",
    tag: "answers",
    params: { functionUid: "the function answering" },
    body: BODY,
    answers: { 201: { description: "stored", schema: answers.ANSWER_STORED } },
    errors: [
      "FUNCTION_NOT_FOUND",
      "EMPTY_BODY",
      "INVALID_JSON",
      "UNSUPPORTED_CONTENT_TYPE",
      "BODY_TOO_LARGE",
      "ANSWER_FINAL",
      "STORE_UNAVAILABLE",
    ],
  },
  "GET /response/:requestUid": {
    summary: "A request's answers and its functions",
    tag: "answers",
    params: { requestUid: "the request" },
    query: { wait: WAIT },
    answers: { 200: { description: "the answers, in apply order", schema: answers.RESPONSES } },
    errors: ["BAD_REQUEST", "REQUEST_NOT_FOUND"],
  },
  "GET /requests/:requestUid/tree": {
    summary: "A run as a whole: the request, the requests its functions published, and so on",
    tag: "answers",
    params: { requestUid: "any request of the run" },
    query: {
      wait: WAIT,
      since: {
        type: "string",
        description: "a tree `version` already seen: with wait, held until the tree differs from it",
      },
    },
    answers: { 200: { description: "the run from its root", schema: answers.TREE } },
    errors: ["BAD_REQUEST", "REQUEST_NOT_FOUND"],
  },
  "GET /payload/:functionUid": {
    summary: "The body the function's request was published with ({{PAYLOAD_URL}})",
    tag: "answers",
    params: { functionUid: "the function" },
    answers: { 200: { description: "the body, with its media type", media: "*/*" } },
    errors: ["FUNCTION_NOT_FOUND"],
  },
  "GET /logs/:functionUid": {
    summary: "The output of a function's runs (local runtime), streamed",
    tag: "answers",
    params: { functionUid: "the function" },
    query: { tail: TAIL },
    answers: { 200: { description: "the output", media: "text/plain" } },
    errors: ["BAD_REQUEST", "FUNCTION_NOT_FOUND"],
  },
  "GET /logs/:requestUid/:index": {
    summary: "The output of the function at this place in its request's apply order",
    tag: "answers",
    params: { requestUid: "the request", index: "the function's place, from 0" },
    query: { tail: TAIL },
    answers: { 200: { description: "the output", media: "text/plain" } },
    errors: ["BAD_REQUEST", "REQUEST_NOT_FOUND", "FUNCTION_NOT_FOUND"],
  },
  "GET /refresh": {
    summary: "Sync now; answers after the sync",
    tag: "operations",
    answers: { 200: { description: "the revision served", schema: answers.REFRESHED } },
    errors: REVISION_REFUSALS,
  },
  "GET /status": {
    summary: "Version, served revision, last sync, topics and schedules",
    tag: "operations",
    answers: { 200: { description: "the state", schema: answers.STATUS } },
    errors: [],
  },
  "GET /metrics": {
    summary: "Metrics in the Prometheus text format",
    tag: "operations",
    answers: { 200: { description: "the exposition", media: "text/plain" } },
    errors: [],
  },
  "GET /openapi.json": {
    summary: "This document",
    tag: "operations",
    answers: { 200: { description: "OpenAPI 3.1", schema: { type: "object" } } },
    errors: [],
  },
  "GET /topics": {
    summary: "The served revision's topics: manifests' paths, declared parameters, next steps, schedules",
    tag: "operations",
    answers: {
      200: { description: "the topics, and the scopes the caller holds", schema: { type: "object" } },
    },
    errors: ["CATALOG_NOT_LOADED"],
  },
  "GET /ui": {
    summary: "The operators' dashboard",
    tag: "dashboard",
    answers: { 200: { description: "the page", media: "text/html" } },
    errors: [],
  },
  "GET /ui/:file": {
    summary: "A file of the dashboard (script, style, icon)",
    tag: "dashboard",
    params: { file: "the file's name" },
    answers: { 200: { description: "the file", media: "*/*" } },
    errors: ["NOT_FOUND"],
  },
  "GET /healthz": {
    summary: "Alive",
    tag: "operations",
    answers: { 200: { description: "alive", schema: answers.HEALTHY } },
    errors: [],
  },
  "GET /alive": {
    summary: "Alive, as the original answered",
    tag: "operations",
    answers: { 200: { description: "alive", schema: answers.ALIVE } },
    errors: [],
  },
  "GET /readyz": {
    summary: "Ready: a valid catalog is loaded, the store and the runtime answer",
    tag: "operations",
    answers: { 200: { description: "ready", schema: answers.READY } },
    errors: ["CATALOG_NOT_LOADED", "NOT_READY"],
  },
  "POST /webhooks/git": {
    summary: "A git push event (GitHub, GitLab, Gitea), checked by its signature",
    tag: "operations",
    body: ["application/json"],
    answers: {
      200: { description: "synced", schema: answers.WEBHOOK_ANSWER },
      202: { description: "nothing to do (another event or branch)", schema: answers.WEBHOOK_ANSWER },
    },
    errors: ["WEBHOOK_DISABLED", "WEBHOOK_UNAUTHORIZED", "BAD_REQUEST", ...REVISION_REFUSALS],
  },
};
