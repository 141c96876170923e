import type { FastifyInstance } from "fastify";

/** The Prometheus text exposition and its content type. */
export type MetricsSource = () => Promise<{ readonly contentType: string; readonly text: string }>;

export interface MetricsRoutesOptions {
  readonly exposition: MetricsSource;
}

/**
 * `GET /metrics`, in the Prometheus text format. Scope `admin`, as `/status`: it tells the same facts
 * (topics, served revision, refusals). With access control off (no tokens), anyone may scrape it;
 * with it on, Prometheus sends a token holding `admin` (see the README's scrape config).
 */
export async function metricsRoutes(app: FastifyInstance, options: MetricsRoutesOptions): Promise<void> {
  app.get("/metrics", { config: { access: "admin" } }, async (_request, reply) => {
    const { contentType, text } = await options.exposition();
    return reply.type(contentType).send(text);
  });
}
