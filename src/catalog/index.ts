export {
  formatProblem,
  lintCatalog,
  loadCatalog,
  type Catalog,
  type LintProblem,
  type Topic,
} from "./catalog.js";
export type { TopicParams } from "./params.js";
export type { ScheduleCatchUp, ScheduleConcurrency, TopicSchedule } from "./schedule.js";
