import Fastify, { type FastifyInstance } from "fastify";
import type { Scope } from "../access/index.js";
import type { Dispatcher } from "../dispatch/index.js";
import { isGitfaasError } from "../errors/index.js";
import type { Logger } from "../logging/index.js";
import type { Store } from "../store/index.js";
import { AccessControl } from "./auth.js";
import { sendError } from "./errors.js";
import {
  answerClientError,
  answerExpectations,
  answerRoutingError,
  frameworkCode,
  frameworkMessage,
} from "./framework-errors.js";
import type { RequestLimits } from "./input.js";
import type { CatalogSource, LogSource, RunSource, WebhookVerifier } from "./ports.js";
import { RouteTable } from "./route-table.js";
import type { ScheduleView } from "../pipelines/index.js";
import { adminRoutes } from "./routes/admin.js";
import { metricsRoutes, type MetricsSource } from "./routes/metrics.js";
import { describeRoutes } from "./openapi/index.js";
import { openapiRoutes } from "./routes/openapi.js";
import { answerRoutes } from "./routes/answers.js";
import { publishRoutes } from "./routes/publish.js";
import { runRoutes } from "./routes/runs.js";
import { uiRoutes } from "./routes/ui.js";
import { webhookRoutes } from "./routes/webhooks.js";

export interface HttpOptions {
  readonly dispatcher: Dispatcher;
  readonly store: Store;
  readonly source: CatalogSource;
  readonly runtime: LogSource;
  /** Each schedule's next tick and last fire, for `/status`. */
  readonly schedules?: () => Promise<readonly ScheduleView[]>;
  readonly runs: RunSource;
  readonly bodyLimitBytes: number;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** The longest `?wait=` honoured, in seconds. */
  readonly maxWaitSeconds: number;
  /** Bearer tokens by scope; empty: open (the local quickstart). */
  readonly access: AccessControl;
  /** Unset: POST /webhooks/git answers 403. */
  readonly webhooks: WebhookVerifier | undefined;
  /** Aborted at shutdown: waiting readers get what is known so far instead of holding the close. */
  readonly shutdown?: AbortSignal;
  /** The Prometheus text exposition, for GET /metrics; unset: no such route. */
  readonly metrics?: MetricsSource;
  /** The built dashboard served at /ui; unset: dist/ui. */
  readonly uiDir?: string;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The scopes the caller holds (every scope when access control is off). */
    grants: ReadonlySet<Scope>;
  }
}

/**
 * Longest path segment the router takes: topics may be 253 characters, UIDs are 77; longer segments
 * are a 414 in our shape, not a route miss.
 */
const MAX_PATH_SEGMENT = 1024;
const NO_GRANTS: ReadonlySet<Scope> = new Set();

export interface GitfaasServer {
  readonly app: FastifyInstance;
  /** Every registered route with who may call it. */
  readonly routes: RouteTable;
}

export function buildServer(options: HttpOptions): GitfaasServer {
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes,
    requestTimeout: options.limits.requestTimeoutMs,
    logger: false,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerRoutingError,
    // Topics and UIDs are case-sensitive and may carry dots; keep the path as sent.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_SEGMENT },
  });
  answerExpectations(app.server);
  const routes = new RouteTable();
  routes.attach(app);
  // Before any route: each is described as it is registered.
  describeRoutes(app);

  // Every body is read as bytes; routes decide what media types they take.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  // Set for every request before any handler runs (a reference type cannot be a shared default).
  app.decorateRequest("grants", null as unknown as ReadonlySet<Scope>);
  app.addHook("onRequest", async (request) => {
    const access = request.routeOptions.config.access;
    // Unmatched requests (404/405) reach no route and need no token.
    request.grants =
      access === undefined || access === "public"
        ? NO_GRANTS
        : options.access.check(request.headers.authorization, access);
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    if (isGitfaasError(error)) {
      if (error.code === "UNAUTHORIZED") reply.header("www-authenticate", 'Bearer realm="gitfaas"');
      const retryAfter = error.details?.retryAfterSeconds;
      if (typeof retryAfter === "number") reply.header("retry-after", String(retryAfter));
      return sendError(reply, error.code, error.message, error.details ? { details: error.details } : {});
    }
    const code = frameworkCode(error);
    if (code === "BODY_TOO_LARGE") {
      return sendError(reply, code, `the body is larger than the limit of ${options.bodyLimitBytes} bytes`);
    }
    if (code !== undefined) return sendError(reply, code, frameworkMessage(code, error.message));
    options.logger.error({ err: error, url: request.url.split("?")[0] }, "unexpected error");
    return sendError(reply, "INTERNAL", "internal error; see gitfaas's log");
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const allowed = routes.methodsFor(path);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return sendError(
        reply,
        "METHOD_NOT_ALLOWED",
        `${request.method} is not allowed here; use ${allowed.join(" or ")}`,
      );
    }
    return sendError(reply, "NOT_FOUND", `no route ${request.method} ${path.slice(0, 200)}`);
  });

  void app.register(publishRoutes, {
    dispatcher: options.dispatcher,
    store: options.store,
    limits: options.limits,
    runs: options.runs,
  });
  void app.register(runRoutes, {
    runs: options.runs,
    maxWaitSeconds: options.maxWaitSeconds,
    shutdown: options.shutdown,
  });
  void app.register(answerRoutes, {
    store: options.store,
    logs: options.runtime,
    maxWaitSeconds: options.maxWaitSeconds,
    shutdown: options.shutdown,
  });
  void app.register(adminRoutes, {
    source: options.source,
    store: options.store,
    runtime: options.runtime,
    schedules: options.schedules,
  });
  void app.register(webhookRoutes, { source: options.source, webhooks: options.webhooks });
  if (options.metrics) void app.register(metricsRoutes, { exposition: options.metrics });
  void app.register(openapiRoutes);
  void app.register(uiRoutes, { dir: options.uiDir, authEnabled: options.access.enabled });
  return { app, routes };
}
