import { createHash } from "node:crypto";
import { isPlainObject, kindIn, templatesOf, type KubeObject, type PlainObject } from "./kube.js";

/** Label and annotation keys gitfaas puts on everything it applies, so objects can be traced to a request. */
export const TRACKING = {
  requestUid: "gitfaas.dev/request-uid",
  functionId: "gitfaas.dev/function-id",
  topic: "gitfaas.dev/topic",
  functionUidAnnotation: "gitfaas.dev/function-uid",
  topicAnnotation: "gitfaas.dev/topic",
} as const;

export interface Tracking {
  requestUid: string;
  functionUid: string;
  topic: string;
}

/** `f-` + a UUID: the part of a function UID that fits a label value. */
const FUNCTION_ID_LENGTH = 38;
const LABEL_VALUE = /^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_LABEL_VALUE = 63;

/** A topic as a label value: itself when Kubernetes accepts it, else a stable short digest of it. */
export function topicLabelValue(topic: string): string {
  if (topic.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(topic)) return topic;
  return createHash("sha256").update(topic, "utf8").digest("hex").slice(0, 16);
}

/**
 * Kinds that run once per publish: their pods are the function's run, so the pod template carries
 * the publish's labels too (the runtime follows those pods). Anything else is long-lived (Deployment,
 * StatefulSet, DaemonSet, ReplicaSet, CronJob…): a per-publish label inside its template would roll it
 * out at every publish, even with identical values, which `kubectl apply` of the original never did.
 */
const RUN_ONCE_KINDS: readonly string[] = ["Job", "Pod"];

/**
 * Labels and annotates `objects` with the request, function and topic, on the object and, for kinds
 * that run once, on its pod templates (so pods can be selected too), and returns them. Ours win over
 * user labels with the same key. In place: give it objects of this publish only (freshly rendered) —
 * a deep copy of each cost more than the rest of the marking.
 */
export function addTracking(objects: KubeObject[], tracking: Tracking): KubeObject[] {
  const labels = {
    [TRACKING.requestUid]: tracking.requestUid,
    [TRACKING.functionId]: tracking.functionUid.slice(0, FUNCTION_ID_LENGTH),
    [TRACKING.topic]: topicLabelValue(tracking.topic),
  };
  const annotations = {
    [TRACKING.functionUidAnnotation]: tracking.functionUid,
    [TRACKING.topicAnnotation]: tracking.topic,
  };
  // The API server bumps a Deployment's generation on any change of its annotations (they are copied
  // to its ReplicaSets), so a long-lived object carries no per-publish annotation: its function UID is
  // its function-id and request-uid labels joined by "-".
  const stableAnnotations = { [TRACKING.topicAnnotation]: tracking.topic };
  return objects.map((object) => {
    if (!kindIn(object.kind, RUN_ONCE_KINDS)) {
      mark(object, labels, stableAnnotations);
      return object;
    }
    mark(object, labels, annotations);
    for (const template of templatesOf(object)) mark(template, labels, annotations);
    return object;
  });
}

function mark(
  holder: PlainObject,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): void {
  const metadata = isPlainObject(holder.metadata) ? holder.metadata : {};
  holder.metadata = metadata;
  metadata.labels = { ...(isPlainObject(metadata.labels) ? metadata.labels : {}), ...labels };
  metadata.annotations = {
    ...(isPlainObject(metadata.annotations) ? metadata.annotations : {}),
    ...annotations,
  };
}
