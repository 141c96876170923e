export {
  formatProblem,
  lintCatalog,
  loadCatalog,
  type Catalog,
  NO_NEXT_STEPS,
  type LintProblem,
  type NextSteps,
  type Topic,
} from "./catalog.js";
export type { TopicParams } from "./params.js";
export type { ScheduleCatchUp, ScheduleConcurrency, TopicSchedule } from "./schedule.js";
