import { TRACKING } from "../../templating/index.js";

/** The label the job controller puts on each pod of a Job (Kubernetes 1.27+). */
const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";
const TRACKED = TRACKING.functionId;

/**
 * The tracked objects gitfaas follows for statuses, in three sets, each chosen by the API server (label
 * and field selectors) so that no event is sent only to be dropped:
 * - `jobs`: every tracked Job; its status tells how its function ends (retries included);
 * - `job pods`: a Job's pods only while they run (`status.phase=Running`): the attempt's start, and the
 *   address a lambda publishes from. A pod leaving that set (it ended, or was deleted) arrives as a
 *   deletion and gives its address back; the Job tells the rest. Followed whole, each Job's pod sent
 *   five events (two pending, running, ended, finalizer removed): most of a function's watch cost;
 * - `pods`: tracked pods no Job owns (a bare Pod's phase is its whole story), all their events.
 * The pods of a Job on a cluster older than 1.27 lack the job-name label: they fall in `pods`, where
 * they are read as a Job's pods all the same.
 */
export const WATCHED_SETS = {
  jobs: { kind: "Job", labelSelector: TRACKED, fieldSelector: undefined },
  "job pods": {
    kind: "Pod",
    labelSelector: `${TRACKED},${JOB_NAME_LABEL}`,
    fieldSelector: "status.phase=Running",
  },
  pods: { kind: "Pod", labelSelector: `${TRACKED},!${JOB_NAME_LABEL}`, fieldSelector: undefined },
} as const;

export type WatchedSet = keyof typeof WATCHED_SETS;

/** Where a set is listed and watched: one namespace's objects, or (undefined) every namespace's. */
export function watchedPath(set: WatchedSet, namespace: string | undefined): string {
  const inNamespace = namespace === undefined ? "" : `/namespaces/${namespace}`;
  return WATCHED_SETS[set].kind === "Job"
    ? `/apis/batch/v1${inNamespace}/jobs`
    : `/api/v1${inNamespace}/pods`;
}
