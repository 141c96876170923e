export type { KubeObject } from "./kube.js";
export {
  compileManifest,
  inspectManifest,
  lintManifest,
  missingValues,
  renderManifest,
  type CompiledDocument,
  type CompiledManifest,
  type ManifestProblem,
  type NamespaceSource,
  type TemplateNode,
  type TextPart,
} from "./compile.js";
export { naturalScalar } from "./natural.js";
export { DEFAULT_BANNED_KINDS, enforcePolicy, lintPolicy, type Policy } from "./policy.js";
export { TRACKING, addTracking, topicLabelValue, type Tracking } from "./tracking.js";
export { MAX_ENV_ENTRY_BYTES, MAX_OBJECT_BYTES, checkSizeLimits } from "./limits.js";
export { TRACEPARENT_ENV, addTraceparent } from "./traceparent.js";
