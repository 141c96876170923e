import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../dispatch/index.js";
import { queryParams, readBody, type RequestLimits } from "../input.js";

export interface PublishRoutesOptions {
  readonly dispatcher: Dispatcher;
  readonly limits: RequestLimits;
}

/** `POST /publish/<topic>`: runs every manifest of the topic with the message. */
export async function publishRoutes(app: FastifyInstance, options: PublishRoutesOptions): Promise<void> {
  app.post<{ Params: { topic: string } }>(
    "/publish/:topic",
    { config: { access: "publish" } },
    async (request, reply) => {
      const { body, contentType } = readBody(request);
      const report = await options.dispatcher.publish({
        topic: request.params.topic,
        body,
        contentType,
        params: queryParams(request, options.limits),
      });
      return reply.code(202).send(report);
    },
  );
}
