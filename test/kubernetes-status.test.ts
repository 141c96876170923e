import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { statusFieldsOf, statusOfJob, statusOfPod } from "../src/runtime/kubernetes/status.js";

const FUNCTION_UID = "f-11111111-1111-4111-8111-111111111111-r-22222222-2222-4222-8222-222222222222";
const metadata = { name: "j", annotations: { "gitfaas.dev/function-uid": FUNCTION_UID } };

test("job status: Complete → succeeded with attempts and times", () => {
  const job: V1Job = {
    metadata,
    status: {
      startTime: new Date("2026-01-01T00:00:00Z"),
      completionTime: new Date("2026-01-01T00:00:05Z"),
      succeeded: 1,
      failed: 1,
      conditions: [{ type: "Complete", status: "True" }],
    },
  };
  assert.deepEqual(statusOfJob(job), {
    functionUid: FUNCTION_UID,
    status: "succeeded",
    attempts: 2,
    startedAt: new Date("2026-01-01T00:00:00Z"),
    finishedAt: new Date("2026-01-01T00:00:05Z"),
  });
});

test("job status: Failed carries the reason; FailureTarget alone is not the end", () => {
  const failing: V1Job = {
    metadata,
    status: {
      failed: 2,
      active: 0,
      conditions: [{ type: "FailureTarget", status: "True", reason: "BackoffLimitExceeded" }],
    },
  };
  assert.equal(statusOfJob(failing)?.status, "pending");
  const failed: V1Job = {
    metadata,
    status: {
      failed: 2,
      conditions: [
        {
          type: "Failed",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
        },
      ],
    },
  };
  const report = statusOfJob(failed);
  assert.equal(report?.status, "failed");
  assert.equal(report?.attempts, 2);
  assert.match(report?.reason ?? "", /BackoffLimitExceeded: Job has reached/);
});

test("job status: ready pods mean running; objects without gitfaas's annotation are ignored", () => {
  assert.equal(
    statusOfJob({ metadata, status: { active: 1, ready: 1, startTime: new Date() } })?.status,
    "running",
  );
  assert.equal(statusOfJob({ metadata: { name: "other" }, status: { active: 1 } }), undefined);
});

test("pod status: a Job's pod only says running; a bare pod's phase ends it", () => {
  const jobPod: V1Pod = {
    metadata: {
      ...metadata,
      ownerReferences: [{ kind: "Job", name: "j", uid: "u", apiVersion: "batch/v1" }],
    },
    status: { phase: "Failed" },
  };
  assert.equal(statusOfPod(jobPod), undefined);
  assert.equal(statusOfPod({ ...jobPod, status: { phase: "Running" } })?.status, "running");
  const bare: V1Pod = { metadata, status: { phase: "Failed", reason: "Evicted" } };
  assert.equal(statusOfPod(bare)?.status, "failed");
  assert.equal(statusOfPod(bare)?.reason, "Evicted");
  assert.equal(statusOfPod({ metadata, status: { phase: "Succeeded" } })?.status, "succeeded");
});

test("what the watch cache keeps: status, owners, gitfaas's annotation and what following takes; no spec, managed fields or other annotations", () => {
  const owner = { kind: "Job", name: "j", uid: "u", apiVersion: "batch/v1" };
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "j-abcde",
      namespace: "ns",
      uid: "pod-uid",
      resourceVersion: "42",
      labels: { "gitfaas.dev/function-id": FUNCTION_UID.slice(0, 38) },
      annotations: { ...metadata.annotations, "example.com/note": "x".repeat(10_000) },
      ownerReferences: [owner],
      managedFields: [{ manager: "kube-controller-manager", operation: "Update" }],
    },
    spec: { containers: [{ name: "main", env: [{ name: "PAYLOAD", value: "y".repeat(100_000) }] }] },
    status: {
      phase: "Running",
      startTime: "2026-01-01T00:00:00Z",
      containerStatuses: [{ name: "main", state: { running: {} } }],
    },
  } as unknown as V1Pod;
  const kept = statusFieldsOf(pod);
  assert.deepEqual(kept, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "j-abcde",
      namespace: "ns",
      uid: "pod-uid",
      resourceVersion: "42",
      ownerReferences: [owner],
      annotations: { "gitfaas.dev/function-uid": FUNCTION_UID },
    },
    status: pod.status,
  });
  assert.ok(JSON.stringify(kept).length < 1000);
  assert.deepEqual(statusOfPod(kept), statusOfPod(pod));
  assert.equal(
    statusOfPod({ ...kept, status: { phase: "Failed" } }),
    undefined,
    "still known as a Job's pod",
  );

  const job: V1Job = {
    metadata: { ...metadata, namespace: "ns", resourceVersion: "7" },
    spec: { template: { spec: { containers: [{ name: "main", image: "busybox" }] } } },
    status: { failed: 2, conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }] },
  };
  assert.equal(statusFieldsOf(job).spec, undefined);
  assert.deepEqual(statusOfJob(statusFieldsOf(job)), statusOfJob(job));
  assert.equal(statusFieldsOf<V1Job>({ metadata: { name: "other" } }).metadata?.annotations, undefined);
  const noObject = {};
  assert.equal(statusFieldsOf(noObject), noObject, "what is no object is not made into one");
});
