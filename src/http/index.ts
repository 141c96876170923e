export {
  buildServer,
  type CatalogSource,
  type HttpOptions,
  type LogSource,
  type SourceState,
} from "./server.js";
export { statusForCode } from "./errors.js";
