export {
  BUILT_IN_VALUES,
  Dispatcher,
  type ApplyReport,
  type ReportedObject,
  type DispatcherOptions,
  type PublishInput,
  type PublishReport,
  type ServedCatalog,
} from "./dispatcher.js";
export { isSettled, readRequest, storeAnswer } from "./responses.js";
export type { DispatchEvents } from "./events.js";
export { TopicAdmission, type AdmissionLimits } from "./admission.js";
export { ReplicaLease, replicaIdOf, type ReplicaLeaseOptions } from "./replica-lease.js";
export { NO_TRACING, type DispatchTracing, type PublishTrace, type StartOutcome } from "./tracing.js";
