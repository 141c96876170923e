import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { FlowcontrolApiserverV1Api } from "@kubernetes/client-node";
import { http, startServer, tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import {
  admin,
  createNamespace,
  deleteNamespace,
  serviceAccountKubeconfig,
  until,
} from "./support/cluster.js";

/**
 * API Priority and Fairness throttles gitfaas's ServiceAccount: its Job writes go to a priority level
 * with a single seat that rejects (429) rather than queues. A burst of publishes must still end with
 * every function succeeded: the writes pushed back are retried after Retry-After in the background.
 */

const flowcontrol = admin.makeApiClient(FlowcontrolApiserverV1Api);
const BURST = 40;

const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: burst-{{RANDOM}}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-run-duration: "1s"
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "echo hi"]
`;

type Running = Awaited<ReturnType<typeof startServer>>;

let namespace: string;
let workDir: string;
let gitfaas: Running;
let throttle: string;

before(async () => {
  namespace = await createNamespace("gitfaas-pushback");
  throttle = namespace;
  workDir = await tempDir("k8s-pushback");
  const repo = join(workDir, "repo");
  await writeTree(repo, {
    "config.json": JSON.stringify({ topics: [{ name: "burst", configs: ["job.yaml"] }] }),
    "job.yaml": JOB,
  });
  const kubeconfig = await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig"));
  await flowcontrol.createPriorityLevelConfiguration({
    body: {
      metadata: { name: throttle },
      spec: {
        type: "Limited",
        // One share of the server's seats, none lent or borrowed, and no queue: beyond one or two
        // Job writes at a time, the API server answers 429.
        limited: {
          nominalConcurrencyShares: 1,
          lendablePercent: 0,
          borrowingLimitPercent: 0,
          limitResponse: { type: "Reject" },
        },
      },
    },
  });
  await flowcontrol.createFlowSchema({
    body: {
      metadata: { name: throttle },
      spec: {
        priorityLevelConfiguration: { name: throttle },
        matchingPrecedence: 500,
        distinguisherMethod: { type: "ByUser" },
        rules: [
          {
            subjects: [{ kind: "ServiceAccount", serviceAccount: { name: "gitfaas", namespace } }],
            // Writes of Jobs only: gitfaas's watches and lists keep their usual level.
            resourceRules: [
              {
                verbs: ["create", "patch"],
                apiGroups: ["batch"],
                resources: ["jobs"],
                namespaces: [namespace],
              },
            ],
          },
        ],
      },
    },
  });
  // The API server applies new flow schemas asynchronously: wait until it reports ours in use.
  await until("the FlowSchema to be in use", async () => {
    const schema = await flowcontrol.readFlowSchemaStatus({ name: throttle });
    const dangling = schema.status?.conditions?.find((c) => c.type === "Dangling");
    return dangling?.status === "False" ? true : undefined;
  });
  gitfaas = await startServer({ repo, runtime: "kubernetes", kubeconfig, namespace });
});

after(async () => {
  // The other e2e tests must not be throttled.
  await flowcontrol.deleteFlowSchema({ name: throttle }).catch(() => undefined);
  await flowcontrol.deletePriorityLevelConfiguration({ name: throttle }).catch(() => undefined);
  await gitfaas?.cleanup();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
});

async function throttledWrites(): Promise<number> {
  const text = (await http(gitfaas.url, "GET", "/metrics")).text;
  return text
    .split("\n")
    .filter(
      (line) =>
        line.startsWith("gitfaas_kubernetes_apply_errors_total{") && line.includes("KUBERNETES_THROTTLED"),
    )
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

interface Applied {
  requestUid: string;
  applies: { error: boolean; code: string | null; message: string }[];
}

test("a burst throttled by API Priority and Fairness: writes answered 429 are retried, every function succeeds", async (t) => {
  const answers = await Promise.all(
    Array.from({ length: BURST }, () => http(gitfaas.url, "POST", "/publish/burst", "hello", "text/plain")),
  );
  for (const answer of answers) assert.equal(answer.status, 202, answer.text);
  const published = answers.map((answer) => answer.json as unknown as Applied);
  for (const report of published) assert.equal(report.applies[0]?.error, false, JSON.stringify(report));

  const pending = published.filter((report) => report.applies[0]?.message.startsWith("pending: "));
  assert.ok(pending.length > 0, "no publish was pushed back: the FlowSchema did not throttle the burst");
  assert.match(
    pending[0]!.applies[0]!.message,
    /the API server (asked to retry after \d+s|pushed back) \(429\)/,
  );
  const throttled = await throttledWrites();
  assert.ok(throttled >= pending.length, "each 429 is counted");
  t.diagnostic(`${pending.length} of ${BURST} publishes pushed back; ${throttled} writes answered 429`);

  // Every function ends succeeded (not failed at once): its Job was written after all and ran.
  for (const report of published) {
    const fn = await until(
      `request ${report.requestUid} to finish`,
      async () => {
        const answer = await http(gitfaas.url, "GET", `/response/${report.requestUid}?wait=30`);
        const only = (answer.json.functions as { status: string; reason: string | null }[])[0]!;
        return only.status === "succeeded" || only.status === "failed" ? only : undefined;
      },
      180_000,
    );
    assert.equal(fn.status, "succeeded", JSON.stringify(fn));
  }
  const retried = await http(gitfaas.url, "GET", `/response/${pending[0]!.requestUid}`);
  const reason = (retried.json.functions as { reason: string | null }[])[0]!.reason ?? "";
  assert.match(reason, /accepted by the API server after \d+ retr/);
});
