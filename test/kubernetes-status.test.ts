import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { statusOfJob, statusOfPod } from "../src/runtime/kubernetes/status.js";

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
