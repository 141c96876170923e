export { buildServer, type GitfaasServer, type HttpOptions } from "./server.js";
export type {
  CatalogSource,
  LogSource,
  LogStream,
  RunSource,
  SourceState,
  TopicDescription,
  WebhookVerifier,
} from "./ports.js";
export type { RequestLimits } from "./input.js";
export { type RegisteredRoute, RouteTable } from "./route-table.js";
export { AccessControl, SCOPES, type AccessToken, type RouteAccess, type Scope } from "./auth.js";
