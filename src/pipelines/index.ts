export { childLineage, lineageFor, rootOf, tooDeep } from "./lineage.js";
export { DEFAULT_FIRING_LEASE_MS, NextSteps, decodedAnswer, type NextStepsOptions } from "./next-steps.js";
export { readTree, totalsOf, type ReadTreeOptions, type RunTree, type TreeTotals } from "./tree.js";
