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
