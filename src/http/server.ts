import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { readRequest, type Dispatcher } from "../dispatch/index.js";
import { GitfaasError, isGitfaasError } from "../errors/index.js";
import { isFunctionUid, isRequestUid } from "../ids/index.js";
import type { Logger } from "../logging/index.js";
import type { FunctionRecord, Store } from "../store/index.js";
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

export interface LogSource {
  logs(functionUid: string): Promise<string | undefined>;
  ping(): Promise<void>;
}

export interface HttpOptions {
  readonly dispatcher: Dispatcher;
  readonly store: Store;
  readonly source: CatalogSource;
  readonly runtime: LogSource;
  readonly bodyLimitBytes: number;
  readonly logger: Logger;
  /** The longest `?wait=` honoured, in seconds. */
  readonly maxWaitSeconds?: number;
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

function queryParams(request: FastifyRequest): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, string | string[]>)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) params[name] = first;
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

export function buildServer(options: HttpOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes,
    logger: false,
    // Topics and UIDs are case-sensitive and may carry dots; keep the path as sent.
    routerOptions: { ignoreTrailingSlash: true },
  });
  const maxWait = options.maxWaitSeconds ?? 300;

  // Every body is read as bytes; routes decide what media types they take.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    if (isGitfaasError(error)) {
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

  app.post<{ Params: { topic: string } }>("/publish/:topic", async (request, reply) => {
    const { body, contentType } = readBody(request);
    const report = await options.dispatcher.publish({
      topic: request.params.topic,
      body,
      contentType,
      params: queryParams(request),
    });
    return reply.code(202).send(report);
  });

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
    async (request) => {
      const { requestUid } = request.params;
      if (!isRequestUid(requestUid)) {
        throw new GitfaasError("REQUEST_NOT_FOUND", `'${requestUid}' is not a request UID`);
      }
      const waitMs = parseWait(request.query.wait, maxWait) * 1000;
      const found = await readRequest(options.store, requestUid, waitMs);
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

  app.get<{ Params: { functionUid: string } }>("/logs/:functionUid", async (request, reply) => {
    const output = await options.runtime.logs(request.params.functionUid);
    if (output === undefined) {
      throw new GitfaasError("FUNCTION_NOT_FOUND", `no output kept for '${request.params.functionUid}'`);
    }
    return reply.type("text/plain; charset=utf-8").send(output);
  });

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

  app.get("/refresh", async (_request, reply: FastifyReply) => {
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

  app.get("/status", async () => ({ error: false, ...stateView(options.source.state()) }));

  app.get("/healthz", async () => ({ error: false, status: "alive" }));

  app.get("/readyz", async (_request, reply) => {
    const state = options.source.state();
    if (state.revision === null) {
      return sendError(reply, "CATALOG_NOT_LOADED", "no valid catalog is loaded yet");
    }
    await options.store.ping();
    await options.runtime.ping();
    return { error: false, status: "ready", revision: state.revision };
  });

  return app;
}
