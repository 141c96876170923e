import type { Readable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { readRequest, type Dispatcher } from "../dispatch/index.js";
import { GitfaasError, describeError, isGitfaasError } from "../errors/index.js";
import { isFunctionUid, isRequestUid } from "../ids/index.js";
import type { Logger } from "../logging/index.js";
import type { FunctionRecord, Store } from "../store/index.js";
import { AccessControl, type Scope } from "./auth.js";
import { sendError, statusForCode } from "./errors.js";

/** What the HTTP layer needs to know of the repository being served, without knowing it is git. */
export interface CatalogSource {
  /** Syncs now; resolves after the sync. */
  refresh(): Promise<SourceState>;
  state(): SourceState;
}

export interface SourceState {
  readonly revision: string | null;
  readonly lastSyncAt: Date | null;
  readonly lastError: {
    readonly revision: string | null;
    readonly code: string;
    readonly message: string;
    readonly at: Date;
  } | null;
  readonly topics: readonly string[];
}

/** A function's output, streamed; `size` (bytes) where known before reading. */
export interface LogStream {
  readonly size: number | undefined;
  readonly stream: Readable;
}

export interface LogSource {
  /** `tail`: only the last this many bytes. */
  logs(functionUid: string, range?: { readonly tail?: number }): Promise<LogStream | undefined>;
  ping(): Promise<void>;
}

/** Checks a git server's push notification; the HTTP layer only routes it. */
export interface WebhookVerifier {
  /** Throws WEBHOOK_UNAUTHORIZED for a bad or missing signature. */
  verify(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
  ): { event: string; branch: string | null };
  /** The branch being served: a push elsewhere changes nothing. */
  readonly branch: string;
}

export interface RequestLimits {
  readonly maxQueryParameters: number;
  readonly maxParameterLength: number;
  /** Longest time a request may take, `?wait` included. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  maxQueryParameters: 32,
  maxParameterLength: 8192,
  requestTimeoutMs: 330_000,
};

export interface HttpOptions {
  readonly dispatcher: Dispatcher;
  readonly store: Store;
  readonly source: CatalogSource;
  readonly runtime: LogSource;
  readonly bodyLimitBytes: number;
  readonly logger: Logger;
  /** The longest `?wait=` honoured, in seconds. */
  readonly maxWaitSeconds?: number;
  /** Bearer tokens by scope; unset or empty: open (the local quickstart). */
  readonly access?: AccessControl;
  /** Unset: POST /webhooks/git answers 403. */
  readonly webhooks?: WebhookVerifier;
  readonly limits?: RequestLimits;
  /** Aborted at shutdown: waiting readers get what is known so far instead of holding the close. */
  readonly shutdown?: AbortSignal;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** The token scope a route needs; routes without one are open. */
    scope?: Scope;
  }
}

type BodyKind = "text" | "json" | "none";

function bodyKind(request: FastifyRequest): BodyKind | undefined {
  const header = request.headers["content-type"];
  if (header === undefined || header.trim() === "") return "none";
  const type = header.split(";")[0]?.trim().toLowerCase();
  if (type === "text/plain") return "text";
  if (type === "application/json" || (type?.startsWith("application/") && type.endsWith("+json")))
    return "json";
  return undefined;
}

/** Reads a text or JSON body as bytes; JSON must parse, other media types are refused with 406. */
function readBody(request: FastifyRequest): { body: Buffer; contentType: string } {
  const kind = bodyKind(request);
  if (kind === undefined) {
    throw new GitfaasError(
      "UNSUPPORTED_CONTENT_TYPE",
      `content type '${request.headers["content-type"]}' is not accepted: send text/plain, application/json or no body`,
    );
  }
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (kind === "json") {
    try {
      JSON.parse(body.toString("utf8"));
    } catch (error) {
      throw new GitfaasError("INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
    }
    return { body, contentType: "application/json" };
  }
  return { body, contentType: "text/plain" };
}

function queryParams(request: FastifyRequest, limits: RequestLimits): Record<string, string> {
  const entries = Object.entries((request.query ?? {}) as Record<string, string | string[]>);
  if (entries.length > limits.maxQueryParameters) {
    throw new GitfaasError(
      "TOO_MANY_PARAMETERS",
      `${entries.length} query parameters; at most ${limits.maxQueryParameters} are accepted`,
    );
  }
  const params: Record<string, string> = {};
  for (const [name, value] of entries) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    if (name.length + first.length > limits.maxParameterLength) {
      throw new GitfaasError(
        "PARAMETER_TOO_LONG",
        `query parameter '${name.slice(0, 64)}' is longer than ${limits.maxParameterLength} characters; send large values in the body`,
      );
    }
    params[name] = first;
  }
  return params;
}

function functionView(fn: FunctionRecord) {
  return {
    functionUid: fn.functionUid,
    topic: fn.topic,
    path: fn.path,
    status: fn.status,
    attempts: fn.attempts,
    response: fn.response === null ? null : fn.response.body.toString("utf8"),
    respondedAt: fn.response?.at.toISOString() ?? null,
    startedAt: fn.startedAt?.toISOString() ?? null,
    finishedAt: fn.finishedAt?.toISOString() ?? null,
    reason: fn.reason,
    apply: fn.apply,
  };
}

function parseWait(text: string | undefined, max: number): number {
  if (text === undefined || text === "") return 0;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new GitfaasError("BAD_REQUEST", `wait must be a number of seconds, not '${text}'`);
  }
  return Math.min(seconds, max);
}

function parseTail(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new GitfaasError("BAD_REQUEST", `tail must be a non-negative whole number of bytes, not '${text}'`);
  }
  return bytes;
}

export function buildServer(options: HttpOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_REQUEST_LIMITS;
  const access = options.access ?? new AccessControl([]);
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    logger: false,
    // Topics and UIDs are case-sensitive and may carry dots; keep the path as sent.
    routerOptions: { ignoreTrailingSlash: true },
  });
  const maxWait = options.maxWaitSeconds ?? 300;

  // Every body is read as bytes; routes decide what media types they take.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.addHook("onRequest", async (request) => {
    const scope = request.routeOptions.config.scope;
    if (scope) access.check(request.headers.authorization, scope);
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    if (isGitfaasError(error)) {
      if (error.code === "UNAUTHORIZED") reply.header("www-authenticate", 'Bearer realm="gitfaas"');
      const retryAfter = error.details?.retryAfterSeconds;
      if (typeof retryAfter === "number") reply.header("retry-after", String(retryAfter));
      return sendError(reply, error.code, error.message, error.details ? { details: error.details } : {});
    }
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return sendError(
        reply,
        "BODY_TOO_LARGE",
        `the body is larger than the limit of ${options.bodyLimitBytes} bytes`,
      );
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: true, code: "BAD_REQUEST", message: error.message });
    }
    options.logger.error({ err: error, url: request.url }, "unexpected error");
    return sendError(reply, "INTERNAL", "internal error; see gitfaas's log");
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`),
  );

  app.post<{ Params: { topic: string } }>(
    "/publish/:topic",
    { config: { scope: "publish" } },
    async (request, reply) => {
      const { body, contentType } = readBody(request);
      const report = await options.dispatcher.publish({
        topic: request.params.topic,
        body,
        contentType,
        params: queryParams(request, limits),
      });
      return reply.code(202).send(report);
    },
  );

  app.post<{ Params: { functionUid: string } }>("/response/:functionUid", async (request, reply) => {
    const { functionUid } = request.params;
    if (!isFunctionUid(functionUid)) {
      throw new GitfaasError("FUNCTION_NOT_FOUND", `'${functionUid}' is not a function UID`);
    }
    const { body, contentType } = readBody(request);
    if (body.length === 0) throw new GitfaasError("EMPTY_BODY", "a response needs a body");
    await options.store.putResponse(functionUid, { body, contentType, at: new Date() });
    return reply.code(201).send({ error: false, functionUid });
  });

  app.get<{ Params: { requestUid: string }; Querystring: { wait?: string } }>(
    "/response/:requestUid",
    { config: { scope: "read" } },
    async (request) => {
      const { requestUid } = request.params;
      if (!isRequestUid(requestUid)) {
        throw new GitfaasError("REQUEST_NOT_FOUND", `'${requestUid}' is not a request UID`);
      }
      const waitMs = parseWait(request.query.wait, maxWait) * 1000;
      const found = await readRequest(options.store, requestUid, waitMs, options.shutdown);
      return {
        error: false,
        requestUid: found.requestUid,
        topic: found.topic,
        revision: found.revision,
        responses: found.functions.map((fn) =>
          fn.response === null ? null : fn.response.body.toString("base64"),
        ),
        functions: found.functions.map(functionView),
      };
    },
  );

  app.get<{ Params: { functionUid: string }; Querystring: { tail?: string } }>(
    "/logs/:functionUid",
    { config: { scope: "read" } },
    async (request, reply) => {
      const tail = parseTail(request.query.tail);
      const output = await options.runtime.logs(request.params.functionUid, { tail });
      if (output === undefined) {
        throw new GitfaasError("FUNCTION_NOT_FOUND", `no output kept for '${request.params.functionUid}'`);
      }
      // Streamed, never read whole: a log may be far larger than the memory gitfaas runs in.
      reply.type("text/plain; charset=utf-8");
      if (output.size !== undefined) reply.header("content-length", output.size);
      return reply.send(output.stream);
    },
  );

  app.get<{ Params: { functionUid: string } }>("/payload/:functionUid", async (request, reply) => {
    const { functionUid } = request.params;
    const payload = isFunctionUid(functionUid) ? await options.store.getPayload(functionUid) : undefined;
    if (!payload)
      throw new GitfaasError("FUNCTION_NOT_FOUND", `no payload for '${functionUid}' (unknown or expired)`);
    return reply.type(payload.contentType).send(payload.body);
  });

  const stateView = (state: SourceState) => ({
    revision: state.revision,
    lastSyncAt: state.lastSyncAt?.toISOString() ?? null,
    lastError: state.lastError ? { ...state.lastError, at: state.lastError.at.toISOString() } : null,
    topics: state.topics,
  });

  app.get("/refresh", { config: { scope: "admin" } }, async (_request, reply: FastifyReply) => {
    const state = await options.source.refresh();
    if (state.lastError) {
      return reply.code(statusForCode(state.lastError.code)).send({
        error: true,
        code: state.lastError.code,
        message: `revision ${state.lastError.revision ?? "(unknown)"} was refused: ${state.lastError.message}`,
        ...stateView(state),
      });
    }
    return { error: false, ...stateView(state) };
  });

  app.get("/status", { config: { scope: "admin" } }, async () => ({
    error: false,
    ...stateView(options.source.state()),
  }));

  app.post("/webhooks/git", async (request, reply) => {
    if (!options.webhooks) {
      throw new GitfaasError(
        "WEBHOOK_DISABLED",
        "webhooks are off: set GITFAAS_WEBHOOK_SECRET or --webhook-secret-file",
      );
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const event = options.webhooks.verify(request.headers, body);
    if (event.event !== "push" || event.branch === null) {
      return reply
        .code(202)
        .send({ error: false, synced: false, reason: `nothing to do for a '${event.event}' event` });
    }
    if (event.branch !== options.webhooks.branch) {
      return reply.code(202).send({
        error: false,
        synced: false,
        reason: `push to '${event.branch}'; serving '${options.webhooks.branch}'`,
      });
    }
    const state = await options.source.refresh();
    return reply.code(state.lastError ? statusForCode(state.lastError.code) : 200).send({
      error: state.lastError !== null,
      synced: true,
      ...stateView(state),
    });
  });

  app.get("/healthz", async () => ({ error: false, status: "alive" }));

  app.get("/readyz", async (_request, reply) => {
    const state = options.source.state();
    if (state.revision === null) {
      return sendError(reply, "CATALOG_NOT_LOADED", "no valid catalog is loaded yet");
    }
    for (const [what, check] of [
      ["store", () => options.store.ping()],
      ["runtime", () => options.runtime.ping()],
    ] as const) {
      try {
        await check();
      } catch (error) {
        return sendError(reply, "NOT_READY", `the ${what} does not answer: ${describeError(error)}`);
      }
    }
    return { error: false, status: "ready", revision: state.revision };
  });

  return app;
}
