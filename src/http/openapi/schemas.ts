/**
 * JSON Schemas of gitfaas's answers, for the OpenAPI document only: routes build their answers
 * themselves (see ./index.ts: schemas never validate nor serialize).
 */
type Schema = Record<string, unknown>;

const text = { type: "string" } as const;
const nullableText = { type: ["string", "null"] } as const;
const time = { type: ["string", "null"], format: "date-time" } as const;

/** An object whose listed properties are all required; others may be added later without breaking callers. */
export function object(properties: Record<string, unknown>, optional: readonly string[] = []): Schema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
  };
}

export const ERROR_ANSWER = object(
  {
    error: { const: true },
    code: text,
    message: text,
    details: { type: "object" },
  },
  ["details"],
);

const reportedObject = object({ kind: text, name: text, namespace: nullableText });

export const PUBLISH_REPORT = object(
  {
    requestUid: text,
    topic: text,
    revision: text,
    error: { type: "boolean" },
    replayOf: text,
    applies: {
      type: "array",
      items: object({
        error: { type: "boolean" },
        code: nullableText,
        path: text,
        message: text,
        functionUid: text,
        objects: { type: "array", items: reportedObject },
      }),
    },
  },
  ["replayOf"],
);

export const ANSWER_STORED = object({ error: { const: false }, message: text, functionUid: text });

const functionView = object({
  functionUid: { ...nullableText, description: "null for a caller without publish or admin" },
  index: { type: "integer" },
  topic: text,
  path: text,
  status: { enum: ["pending", "running", "succeeded", "failed"] },
  attempts: { type: "integer" },
  response: nullableText,
  respondedAt: time,
  startedAt: time,
  finishedAt: time,
  reason: nullableText,
  apply: {
    oneOf: [{ type: "null" }, object({ error: { type: "boolean" }, code: nullableText, message: text })],
  },
});

export const RESPONSES = object({
  error: { const: false },
  requestUid: text,
  topic: text,
  revision: text,
  replayOf: nullableText,
  responses: { type: "array", items: { ...nullableText, contentEncoding: "base64" } },
  functions: { type: "array", items: functionView },
});

export const TREE = object(
  {
    error: { const: false },
    requestUid: text,
    rootRequestUid: text,
    finished: { type: "boolean" },
    totals: { type: "object" },
    root: { type: ["object", "null"] },
    detached: { type: "array", items: { type: "object" } },
  },
  [],
);

const sourceState = {
  revision: nullableText,
  lastSyncAt: time,
  lastError: {
    oneOf: [
      { type: "null" },
      object({
        revision: nullableText,
        code: text,
        message: text,
        at: { type: "string", format: "date-time" },
      }),
    ],
  },
  topics: { type: "array", items: text },
};

export const REFRESHED = object({ error: { const: false }, ...sourceState });

export const WEBHOOK_ANSWER = object(
  { error: { const: false }, synced: { type: "boolean" }, reason: text, ...sourceState },
  ["reason", ...Object.keys(sourceState)],
);

export const STATUS = object({
  error: { const: false },
  version: text,
  ...sourceState,
  schedules: {
    type: "array",
    items: object({
      topic: text,
      cron: text,
      timezone: text,
      concurrency: text,
      catchUp: text,
      next: nullableText,
      lastFire: { oneOf: [{ type: "null" }, object({ at: text, requestUid: text })] },
    }),
  },
});

export const HEALTHY = object({ error: { const: false }, status: { const: "alive" } });
export const ALIVE = object({ alive: { const: true } });
export const READY = object({ error: { const: false }, status: { const: "ready" }, revision: text });
