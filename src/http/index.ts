export {
  buildServer,
  type CatalogSource,
  type HttpOptions,
  type LogSource,
  type SourceState,
} from "./server.js";
export { statusForCode } from "./errors.js";
export { AccessControl, SCOPES, type AccessToken, type Scope } from "./auth.js";
export { DEFAULT_REQUEST_LIMITS, type RequestLimits, type WebhookVerifier } from "./server.js";
