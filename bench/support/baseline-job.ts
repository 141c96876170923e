import { randomUUID } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { newFunctionUid, newRequestUid } from "../../src/ids/index.js";
import { TRACKING, addTracking, type KubeObject } from "../../src/templating/index.js";

const TRACKING_DOMAIN = TRACKING.functionId.split("/")[0]!;
/** As long as gitfaas's label domain, so that the objects weigh the same. */
const BASELINE_DOMAIN = "baseline.io";

/** What the bench publishes; gitfaas renders it into the Job `baselineJob` builds by hand. */
export const BENCH_JOB_MANIFEST = `apiVersion: batch/v1
kind: Job
metadata:
  name: bench-{{RANDOM}}
spec:
  suspend: true
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "echo hi"]
          env:
            - name: PAYLOAD
              value: "{{PAYLOAD}}"
            - name: FUNCTION_UID
              value: "{{FUNCTION_UID}}"
`;

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
