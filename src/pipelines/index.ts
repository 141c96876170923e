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
