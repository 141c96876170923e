/**
 * Publish → Job created on the kubernetes runtime, against the local control plane, one JSON line per
 * figure. Baseline, measured in the same run on the same API server: the raw create of the same Job
 * (tracking labels and annotations included) through @kubernetes/client-node, as the same service
 * account over one pooled connection. A raw server-side apply is measured too, for reference. The ways
 * are measured in alternating rounds so that objects piling up in the cluster weigh on all alike.
 * gitfaas runs in its own process, as in production, called over a keep-alive HTTP/1.1 connection.
 * Jobs are created suspended so that the job controller and the fake kubelet don't load the 2 cores
 * while we measure the API path.
 *   npm run bench:k8s      (starts the local control plane if needed; BENCH_REQUESTS=500)
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { BatchV1Api, KubernetesObjectApi, PatchStrategy, type V1Job } from "@kubernetes/client-node";
import { loadKubeConfig } from "../src/runtime/index.js";
import { keepAliveCaller } from "./support/caller.js";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import { addTracking, TRACKING, type KubeObject } from "../src/templating/index.js";
import { emit, interleaved, round, type Measured } from "./support/measure.js";
import { startGitfaasProcess } from "./support/gitfaas-process.js";
import { tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import { createNamespace, deleteNamespace, serviceAccountKubeconfig } from "../test-k8s/support/cluster.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const TRACKING_DOMAIN = TRACKING.functionId.split("/")[0]!;
const BASELINE_DOMAIN = "baseline.io";

const JOB_YAML = `apiVersion: batch/v1
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
 * The Job gitfaas creates for one publish, tracking labels and annotations included, built by the same
 * code. Only the label keys' domain differs (same length), so that gitfaas's watches don't follow it.
 */
function rawJob(namespace: string): V1Job {
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

const namespace = await createNamespace("gitfaas-bench");
const workDir = await tempDir("bench-k8s");
const repo = join(workDir, "repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "job", configs: ["job.yaml"] }] }),
  "job.yaml": JOB_YAML,
});
const kubeconfig = await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig"));
// The baseline uses the client as gitfaas does: the same service account, one pooled connection.
const pooledConfig = loadKubeConfig(kubeconfig);
const batch = pooledConfig.makeApiClient(BatchV1Api);
const objects = KubernetesObjectApi.makeApiClient(pooledConfig);
const server = await startGitfaasProcess(
  {
    repo,
    runtime: "kubernetes",
    kubeconfig,
    namespace,
    "data-dir": join(workDir, "data"),
  },
  join(workDir, "gitfaas.log"),
);
const caller = keepAliveCaller(server.url);
const publish = async (): Promise<void> => {
  const answer = await caller.post("/publish/job", "hello", "text/plain");
  if (answer.status !== 202 || !answer.text.includes('"error":false'))
    throw new Error(`publish failed: ${answer.text}`);
};

try {
  // Warm both paths (TLS sessions, the API server's caches) before measuring.
  for (let i = 0; i < 10; i++) {
    await batch.createNamespacedJob({ namespace, body: rawJob(namespace) });
    await publish();
  }
  for (const concurrency of [1, 32]) {
    const measured = await interleaved(
      {
        raw: async () => {
          await batch.createNamespacedJob({ namespace, body: rawJob(namespace) });
        },
        // For reference: what gitfaas sends for a name not unique to the publish, a server-side apply,
        // which costs the API server more than a create (a read before the write).
        rawApply: async () => {
          await objects.patch(
            rawJob(namespace),
            undefined,
            undefined,
            "bench",
            true,
            PatchStrategy.ServerSideApply,
          );
        },
        gitfaas: publish,
      },
      REQUESTS,
      concurrency,
    );
    const { raw, rawApply, gitfaas } = measured as Record<"raw" | "rawApply" | "gitfaas", Measured>;
    emit(`publish_to_job_created_c${concurrency}`, {
      p50_ms: round(gitfaas.p50),
      p99_ms: round(gitfaas.p99),
      per_second: round(gitfaas.perSecond),
      baseline: "raw create of the same Job through @kubernetes/client-node, same service account",
      baseline_p50_ms: round(raw.p50),
      baseline_p99_ms: round(raw.p99),
      baseline_per_second: round(raw.perSecond),
      ratio_p50: round(gitfaas.p50 / raw.p50),
      added_p50_ms: round(gitfaas.p50 - raw.p50),
      target_ratio_p50: 1.3,
      raw_apply_p50_ms: round(rawApply.p50),
      raw_apply_per_second: round(rawApply.perSecond),
      ratio_p50_vs_raw_apply: round(gitfaas.p50 / rawApply.p50),
    });
  }
} finally {
  caller.close();
  await server.stop();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
}
