import { randomUUID } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { newFunctionUid, newRequestUid } from "../../src/ids/index.js";
import { TRACKING, addTracking, type KubeObject } from "../../src/templating/index.js";

const TRACKING_DOMAIN = TRACKING.functionId.split("/")[0]!;
/** As long as gitfaas's label domain, so that the objects weigh the same. */
const BASELINE_DOMAIN = "baseline.io";

/**
 * A Job manifest of the benches (JSON, which is YAML): busybox, no retry, the payload and function UID in
 * its environment. `spec` and the pod template's `metadata` are added as given.
 */
export function benchJobManifest(
  name: string,
  extra: { spec?: Record<string, unknown>; podMetadata?: Record<string, unknown> } = {},
): string {
  const env = [
    { name: "PAYLOAD", value: "{{PAYLOAD}}" },
    { name: "FUNCTION_UID", value: "{{FUNCTION_UID}}" },
  ];
  const main = { name: "main", image: "busybox", command: ["sh", "-c", "echo hi"], env };
  return JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `${name}-{{RANDOM}}` },
    spec: {
      ...extra.spec,
      backoffLimit: 0,
      template: {
        ...(extra.podMetadata === undefined ? {} : { metadata: extra.podMetadata }),
        spec: { restartPolicy: "Never", containers: [main] },
      },
    },
  });
}

/** What the bench publishes; gitfaas renders it into the Job `baselineJob` builds by hand. */
export const BENCH_JOB_MANIFEST = benchJobManifest("bench", { spec: { suspend: true } });

/**
 * The Job gitfaas creates for one publish of `BENCH_JOB_MANIFEST` with body "hello", tracking labels and
 * annotations included, built by the same code. Only the label keys' domain differs, so that gitfaas's
 * watches don't follow it.
 */
export function baselineJob(namespace: string): V1Job {
  const requestUid = newRequestUid();
  const functionUid = newFunctionUid(requestUid);
  const job: KubeObject = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: `raw-${randomUUID()}`, namespace },
    spec: {
      suspend: true,
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "busybox",
              command: ["sh", "-c", "echo hi"],
              env: [
                { name: "PAYLOAD", value: Buffer.from("hello").toString("base64") },
                { name: "FUNCTION_UID", value: functionUid },
              ],
            },
          ],
        },
      },
    },
  };
  const [tracked] = addTracking([job], { requestUid, functionUid, topic: "job" });
  const json = JSON.stringify(tracked).replaceAll(`"${TRACKING_DOMAIN}/`, `"${BASELINE_DOMAIN}/`);
  return JSON.parse(json) as V1Job;
}
