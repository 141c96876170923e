export {
  formatProblem,
  lintCatalog,
  loadCatalog,
  type Catalog,
  type LintProblem,
  type Topic,
} from "./catalog.js";
