export { MAX_IDEMPOTENCY_KEY_LENGTH, publishOnce, type OnceOutcome } from "./idempotency.js";
export { replayRequest } from "./replay.js";
export {
  Scheduler,
  systemClock,
  type Clock,
  type ScheduleView,
  type SchedulerOptions,
  type TickOutcome,
} from "./scheduler.js";
export { childLineage, lineageFor, rootOf, tooDeep } from "./lineage.js";
export { DEFAULT_FIRING_LEASE_MS, NextSteps, decodedAnswer, type NextStepsOptions } from "./next-steps.js";
export { readTree, totalsOf, type ReadTreeOptions, type RunTree, type TreeTotals } from "./tree.js";
