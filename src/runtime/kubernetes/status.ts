import type { KubernetesObject, V1Job, V1Pod } from "@kubernetes/client-node";
import { TRACKING } from "../../templating/index.js";
import type { StatusReport } from "../port.js";

function functionUidOf(metadata: { annotations?: Record<string, string> } | undefined): string | undefined {
  return metadata?.annotations?.[TRACKING.functionUidAnnotation];
}

/**
 * What the watches keep of a Job or Pod: what its function's status is told from (gitfaas's
 * function-uid annotation, owners, status) and what following it takes (kind, name, namespace,
 * resourceVersion). The watch cache holds every tracked object for as long as it exists; the spec (with
 * the rendered payload in it), the managed fields and other annotations are most of an object's weight
 * and of no use here. With 20 000 of the bench's Jobs watched, gitfaas's resident memory was 280 MB with
 * whole objects kept, 192 MB with these.
 */
export function statusFieldsOf<T extends KubernetesObject>(object: T): T {
  // Not a Kubernetes object: left as it is, for the watch to refuse.
  const metadata = object.metadata;
  if (metadata === undefined) return object;
  const functionUid = functionUidOf(metadata);
  const slim = {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      uid: metadata.uid,
      resourceVersion: metadata.resourceVersion,
      ownerReferences: metadata.ownerReferences,
      annotations: functionUid === undefined ? undefined : { [TRACKING.functionUidAnnotation]: functionUid },
    },
    status: (object as { status?: unknown }).status,
  };
  return slim as unknown as T;
}

function toDate(value: Date | string | undefined): Date | null {
  if (value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A Job's function status: its conditions decide the end; active or ready pods mean it runs. */
export function statusOfJob(job: V1Job): StatusReport | undefined {
  const functionUid = functionUidOf(job.metadata);
  if (!functionUid) return undefined;
  const status = job.status ?? {};
  const attempts = (status.failed ?? 0) + (status.succeeded ?? 0) + (status.active ?? 0);
  const startedAt = toDate(status.startTime);
  const condition = (type: string) => status.conditions?.find((c) => c.type === type && c.status === "True");
  const complete = condition("Complete");
  if (complete) {
    return {
      functionUid,
      status: "succeeded",
      attempts,
      startedAt,
      finishedAt: toDate(status.completionTime) ?? toDate(complete.lastTransitionTime),
    };
  }
  const failed = condition("Failed");
  if (failed) {
    return {
      functionUid,
      status: "failed",
      attempts,
      startedAt,
      finishedAt: toDate(failed.lastTransitionTime),
      reason: [failed.reason, failed.message].filter(Boolean).join(": ") || "Failed",
    };
  }
  if ((status.active ?? 0) > 0 && ((status.ready ?? 0) > 0 || startedAt !== null)) {
    return { functionUid, status: (status.ready ?? 0) > 0 ? "running" : "pending", attempts, startedAt };
  }
  return { functionUid, status: "pending", attempts, startedAt };
}

/** A pod a Job made: the Job tells how its function ends. */
export function ownedByJob(pod: V1Pod): boolean {
  return (pod.metadata?.ownerReferences ?? []).some((owner) => owner.kind === "Job");
}

/**
 * A pod's function status. A Job's pods only say "running" (the Job decides how it ends, retries
 * included); a bare pod's phase is the whole story.
 */
export function statusOfPod(pod: V1Pod): StatusReport | undefined {
  const functionUid = functionUidOf(pod.metadata);
  if (!functionUid) return undefined;
  const phase = pod.status?.phase;
  const startedAt = toDate(pod.status?.startTime);
  if (phase === "Running") return { functionUid, status: "running", startedAt };
  if (ownedByJob(pod)) return undefined;
  if (phase === "Succeeded" || phase === "Failed") {
    const finishedAt =
      (pod.status?.containerStatuses ?? [])
        .map((c) => toDate(c.state?.terminated?.finishedAt))
        .filter((d): d is Date => d !== null)
        .sort((a, b) => b.getTime() - a.getTime())[0] ?? new Date();
    return {
      functionUid,
      status: phase === "Succeeded" ? "succeeded" : "failed",
      attempts: 1,
      startedAt,
      finishedAt,
      reason: phase === "Failed" ? (pod.status?.reason ?? pod.status?.message ?? "pod failed") : null,
    };
  }
  return { functionUid, status: "pending", startedAt };
}
