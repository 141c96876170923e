import type { FastifyInstance } from "fastify";
import { GitfaasError } from "../../errors/index.js";
import type { CatalogSource, WebhookVerifier } from "../ports.js";
import { errorBody } from "../errors.js";
import { refusalCode, refusalStatus, stateView } from "./source-view.js";

export interface WebhookRoutesOptions {
  readonly source: CatalogSource;
  /** Unset: the route answers 403. */
  readonly webhooks: WebhookVerifier | undefined;
}

/**
 * `POST /webhooks/git`: a push to the served branch syncs at once. Public to the token scheme: a git
 * server cannot send our bearer tokens, so the request is checked by its signature instead.
 */
export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  app.post("/webhooks/git", { config: { access: "public" } }, async (request, reply) => {
    const webhooks = options.webhooks;
    if (!webhooks) {
      throw new GitfaasError(
        "WEBHOOK_DISABLED",
        "webhooks are off: set GITFAAS_WEBHOOK_SECRET or --webhook-secret-file",
      );
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const event = webhooks.verify(request.headers, body);
    if (event.event !== "push" || event.branch === null) {
      return reply
        .code(202)
        .send({ error: false, synced: false, reason: `nothing to do for a '${event.event}' event` });
    }
    if (event.branch !== webhooks.branch) {
      return reply.code(202).send({
        error: false,
        synced: false,
        reason: `push to '${event.branch}'; serving '${webhooks.branch}'`,
      });
    }
    const state = await options.source.refresh();
    const code = refusalCode(state);
    if (code !== undefined) {
      const refused = `revision ${state.lastError?.revision ?? "(unknown)"} was refused: ${state.lastError?.message ?? ""}`;
      return reply
        .code(refusalStatus(state))
        .send(errorBody(code, refused, { synced: true, ...stateView(state) }));
    }
    return { error: false, synced: true, ...stateView(state) };
  });
}
