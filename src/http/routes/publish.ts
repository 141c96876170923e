import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../dispatch/index.js";
import { GitfaasError } from "../../errors/index.js";
import { queryParams, readBody, type RequestLimits } from "../input.js";
import type { RunSource } from "../ports.js";

export interface PublishRoutesOptions {
  readonly dispatcher: Dispatcher;
  readonly limits: RequestLimits;
  readonly runs: RunSource;
}

/** Sent by a lambda publishing on behalf of its function: links the new request to that function. */
export const PARENT_HEADER = "gitfaas-parent";

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
      const lineage = parent === undefined ? undefined : await options.runs.lineageFor(parent.trim());
      const report = await options.dispatcher.publish({
        topic: request.params.topic,
        body,
        contentType,
        params,
        ...(lineage ? { lineage } : {}),
      });
      return reply.code(202).send(report);
    },
  );
}
