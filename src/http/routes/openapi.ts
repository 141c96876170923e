import type { FastifyInstance } from "fastify";

/** `GET /openapi.json`: the OpenAPI 3.1 document of every route (src/http/openapi). */
export async function openapiRoutes(app: FastifyInstance): Promise<void> {
  app.get("/openapi.json", { config: { access: "public" } }, async () => app.swagger());
}
