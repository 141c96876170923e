import swagger from "@fastify/swagger";
import type { FastifyInstance, RouteOptions } from "fastify";
import { ERROR_CODES, statusOf, type ErrorCode } from "../../errors/index.js";
import { VERSION } from "../../version/index.js";
import type { RouteAccess } from "../../access/index.js";
import { ROUTE_DOCS, type RouteDoc } from "./routes-doc.js";
import { ERROR_ANSWER } from "./schemas.js";

export { ROUTE_DOCS } from "./routes-doc.js";

type Schema = Record<string, unknown>;

/** The name of the bearer scheme in the document's components. */
const BEARER = "bearer";

/** Codes any route may answer: the framework's, and ours for what no route expects. */
const EVERY_ROUTE: readonly ErrorCode[] = ["INTERNAL"];
const WITH_TOKEN: readonly ErrorCode[] = ["UNAUTHORIZED", "FORBIDDEN"];

/** The error answer, its `code` narrowed to those listed. */
function errorAnswer(codes: readonly ErrorCode[]): Schema {
  const properties = ERROR_ANSWER.properties as Schema;
  return {
    ...ERROR_ANSWER,
    properties: { ...properties, code: { enum: codes } },
    description: codes.join(", "),
  };
}

/** Success answers, then the codes the route may answer grouped by status, then any other 4xx/5xx. */
function responsesOf(doc: RouteDoc, access: RouteAccess): Schema {
  const responses: Schema = {};
  for (const [status, answer] of Object.entries(doc.answers)) {
    const media = answer.media ?? "application/json";
    responses[status] = {
      description: answer.description,
      content: { [media]: { schema: answer.schema ?? { type: "string" } } },
    };
  }
  const codes = [...doc.errors, ...(access === "public" ? [] : WITH_TOKEN), ...EVERY_ROUTE];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes))
    byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  for (const [status, listed] of byStatus) responses[String(status)] = errorAnswer(listed);
  const any = errorAnswer(ERROR_CODES);
  responses["4xx"] = { ...any, description: "any other refusal (malformed request, limits…)" };
  responses["5xx"] = { ...any, description: "any other failure" };
  return responses;
}

function objectOf(entries: Readonly<Record<string, Schema>>, required: boolean): Schema {
  return { type: "object", properties: entries, ...(required ? { required: Object.keys(entries) } : {}) };
}

/** The route's schema, built from its documentation and its access: for the document only. */
function schemaOf(doc: RouteDoc | undefined, access: RouteAccess): Schema {
  const security = access === "public" ? [] : [{ [BEARER]: [access] }];
  if (!doc)
    return { security, response: responsesOf({ summary: "", tag: "", answers: {}, errors: [] }, access) };
  const params = doc.params
    ? objectOf(
        Object.fromEntries(
          Object.entries(doc.params).map(([name, description]) => [name, { type: "string", description }]),
        ),
        true,
      )
    : undefined;
  return {
    summary: doc.summary,
    tags: [doc.tag],
    security,
    ...(params ? { params } : {}),
    ...(doc.query ? { querystring: objectOf(doc.query, false) } : {}),
    ...(doc.body ? { consumes: doc.body, body: { description: "the message: text, JSON, or none" } } : {}),
    response: responsesOf(doc, access),
  };
}

/** @fastify/swagger marks every body required; a publish may have none. */
function optionalBodies<T extends { paths?: object }>(document: T): T {
  const paths = (document.paths ?? {}) as Record<
    string,
    Record<string, { requestBody?: { required?: boolean } }>
  >;
  for (const [key, doc] of Object.entries(ROUTE_DOCS)) {
    if (!doc.bodyOptional) continue;
    const [method = "", url = ""] = key.split(" ");
    const body = paths[url.replace(/:(\w+)/g, "{$1}")]?.[method.toLowerCase()]?.requestBody;
    if (body) body.required = false;
  }
  return document;
}

/**
 * Describes every route in an OpenAPI 3.1 document (GET /openapi.json). Call before any route is
 * registered. Route schemas come from ROUTE_DOCS and the route's own `access`; they only describe:
 * handlers read bodies and parameters themselves (with our error codes) and build complete answers,
 * so validation is off and answers are serialized as they are (a response schema would otherwise
 * drop every field it does not list).
 */
export function describeRoutes(app: FastifyInstance): void {
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.addHook("onRoute", (route: RouteOptions) => {
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    const key = `${method === "HEAD" ? "GET" : method} ${route.url}`;
    route.schema = { ...schemaOf(ROUTE_DOCS[key], route.config?.access ?? "public"), ...route.schema };
  });
  void app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "gitfaas",
        version: VERSION,
        description: "Topics from a git repository: publish, every manifest runs, collect the answers.",
      },
      components: {
        securitySchemes: {
          [BEARER]: {
            type: "http",
            scheme: "bearer",
            description:
              "A token from --auth-tokens-file; the scopes listed are those the route needs (one suffices).",
          },
        },
      },
    },
    exposeHeadRoutes: true,
    transformObject: (document) =>
      optionalBodies("openapiObject" in document ? document.openapiObject : document.swaggerObject),
  });
}
