export { GitfaasMetrics, UNKNOWN_TOPIC, type FinishedStatus, type SyncView } from "./metrics.js";
