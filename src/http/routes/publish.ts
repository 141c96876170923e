import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../dispatch/index.js";
import { GitfaasError } from "../../errors/index.js";
import { publishOnce, replayRequest } from "../../pipelines/index.js";
import type { Store } from "../../store/index.js";
import { queryParams, readBody, requestUidParam, type RequestLimits } from "../input.js";
import type { RunSource } from "../ports.js";

export interface PublishRoutesOptions {
  readonly dispatcher: Dispatcher;
  readonly store: Store;
  readonly limits: RequestLimits;
  readonly runs: RunSource;
}

/** Sent by a lambda publishing on behalf of its function: links the new request to that function. */
export const PARENT_HEADER = "gitfaas-parent";
/** W3C Trace Context: the publish continues the caller's trace (an invalid one is replaced, not refused). */
export const TRACEPARENT_HEADER = "traceparent";

/** `POST /publish/<topic>`: runs every manifest of the topic with the message. */
export async function publishRoutes(app: FastifyInstance, options: PublishRoutesOptions): Promise<void> {
  app.post<{ Params: { topic: string } }>(
    "/publish/:topic",
    { config: { access: "publish" } },
    async (request, reply) => {
      const { body, contentType } = readBody(request);
      const parent = request.headers[PARENT_HEADER];
      if (Array.isArray(parent))
        throw new GitfaasError("INVALID_PARENT", "Gitfaas-Parent may be given once only");
      const params = queryParams(request, options.limits);
      const lineage =
        parent === undefined
          ? await options.runs.lineageFromAddress(request.ip)
          : await options.runs.lineageFor(parent.trim());
      const input = {
        topic: request.params.topic,
        body,
        contentType,
        params,
        ...(lineage ? { lineage } : {}),
        ...traceparentOf(request.headers[TRACEPARENT_HEADER]),
      };
      const key = request.headers["idempotency-key"];
      if (typeof key !== "string") return reply.code(202).send(await options.dispatcher.publish(input));
      const once = await publishOnce(options.store, key, input, (given) => options.dispatcher.publish(given));
      if (once.repeated) reply.header("idempotent-replayed", "true");
      return reply.code(202).send(once.report);
    },
  );

  app.post<{ Params: { requestUid: string }; Querystring: { failed?: string } }>(
    "/requests/:requestUid/replay",
    { config: { access: "publish" } },
    async (request, reply) => {
      const requestUid = requestUidParam(request.params.requestUid);
      const failed = request.query.failed;
      if (failed !== undefined && failed !== "true" && failed !== "false")
        throw new GitfaasError("BAD_REQUEST", "failed must be true or false");
      const report = await replayRequest(options.store, options.dispatcher, requestUid, failed === "true");
      return reply.code(202).send({ ...report, replayOf: requestUid });
    },
  );
}

/** Two traceparent headers are invalid (W3C): a new trace is started then, as for any invalid value. */
function traceparentOf(header: string | string[] | undefined): { traceparent?: string } {
  return typeof header === "string" ? { traceparent: header } : {};
}
