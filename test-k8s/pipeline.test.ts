import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { http, startServer, tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import {
  batch,
  createNamespace,
  deleteNamespace,
  serviceAccountKubeconfig,
  until,
} from "./support/cluster.js";

/**
 * A chained pipeline on the Kubernetes runtime, with KWOK's fake pods (cluster/kwok-stages.yaml): their
 * exit code and run time come from pod annotations, and no process runs, so no lambda posts an answer
 * (an onSuccess step then publishes an empty body).
 */
function job(name: string, options: { backoffLimit?: number; exitCode?: string } = {}): string {
  const exit = options.exitCode ? `\n        gitfaas.dev/fake-exit-code: "${options.exitCode}"` : "";
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
spec:
  backoffLimit: ${options.backoffLimit ?? 0}
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-run-duration: "1s"${exit}
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "echo hi"]
          env:
            - name: PAYLOAD
              value: "{{PAYLOAD}}"
`;
}

const CONFIG = {
  topics: [
    { name: "a", configs: ["a.yaml"], onSuccess: ["b"] },
    { name: "b", configs: ["b.yaml"], onFailure: ["dead"] },
    { name: "dead", configs: ["dead.yaml"] },
  ],
};

const MANIFESTS = {
  "a.yaml": job("a"),
  // Fails every attempt: the first and one retry.
  "b.yaml": job("b", { backoffLimit: 1, exitCode: "1" }),
  "dead.yaml": job("dead"),
};

interface Fn {
  functionUid: string;
  path: string;
  status: string;
  attempts: number;
  reason: string | null;
  next: { kind: string; topic: string; state: string; requestUid: string | null }[];
  children: Req[];
}
interface Req {
  requestUid: string;
  topic: string;
  depth: number;
  functions: Fn[];
}
interface Tree {
  finished: boolean;
  totals: { requests: number; functions: Record<string, number> };
  root: Req;
}

let namespace: string;
let workDir: string;
let gitfaas: Awaited<ReturnType<typeof startServer>>;

before(async () => {
  namespace = await createNamespace("gitfaas-pipeline");
  workDir = await tempDir("k8s-pipeline");
  const repo = join(workDir, "repo");
  await writeTree(repo, { "config.json": JSON.stringify(CONFIG), ...MANIFESTS });
  const kubeconfig = await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig"));
  gitfaas = await startServer({ repo, runtime: "kubernetes", kubeconfig, namespace });
  const status = await http(gitfaas.url, "GET", "/status");
  assert.equal(status.json.lastError, null, status.text);
});

after(async () => {
  await gitfaas?.cleanup();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
});

/** The run's tree once it has finished: every function ended and every next step settled. */
async function finishedTree(requestUid: string): Promise<Tree> {
  return until(
    "the run to finish",
    async () => {
      const read = await http(gitfaas.url, "GET", `/requests/${requestUid}/tree?wait=30`);
      assert.equal(read.status, 200, read.text);
      const tree = read.json as unknown as Tree;
      return tree.finished ? tree : undefined;
    },
    180_000,
  );
}

function requestsOf(node: Req): Req[] {
  return [node, ...node.functions.flatMap((fn) => fn.children.flatMap(requestsOf))];
}

async function payloadOf(functionUid: string): Promise<string> {
  const read = await http(gitfaas.url, "GET", `/payload/${functionUid}`);
  assert.equal(read.status, 200, read.text);
  return read.text;
}

test("a → onSuccess b → b's Job fails after its retry → onFailure publishes one dead-letter report", async () => {
  const published = await http(gitfaas.url, "POST", "/publish/a", '{"order":7}', "application/json");
  assert.equal(published.status, 202, published.text);
  const root = published.json.requestUid as string;
  const tree = await finishedTree(root);

  const [a] = tree.root.functions;
  assert.equal(a?.status, "succeeded", JSON.stringify(tree));
  assert.deepEqual(
    a.next.map((step) => [step.kind, step.topic, step.state]),
    [["onSuccess", "b", "published"]],
  );
  const [bRequest] = a.children;
  assert.equal(bRequest?.topic, "b");
  assert.equal(bRequest.depth, 1);
  // No process ran in a's pod, so nothing was answered: b is published with an empty body.
  assert.equal(await payloadOf(bRequest.functions[0]!.functionUid), "");

  const [b] = bRequest.functions;
  assert.equal(b?.status, "failed");
  assert.equal(b.attempts, 2);
  assert.match(b.reason ?? "", /BackoffLimitExceeded/);
  assert.deepEqual(
    b.next.map((step) => [step.kind, step.topic, step.state]),
    [["onFailure", "dead", "published"]],
  );

  const dead = requestsOf(tree.root).filter((request) => request.topic === "dead");
  assert.equal(dead.length, 1, JSON.stringify(tree));
  assert.deepEqual(b.children, dead);
  assert.equal(dead[0]!.depth, 2);
  assert.equal(dead[0]!.functions[0]?.status, "succeeded");
  const report = JSON.parse(await payloadOf(dead[0]!.functions[0]!.functionUid)) as Record<string, unknown>;
  assert.deepEqual(
    { ...report, reason: undefined, payload: undefined },
    {
      requestUid: bRequest.requestUid,
      functionUid: b.functionUid,
      topic: "b",
      path: "b.yaml",
      reason: undefined,
      attempts: 2,
      payload: undefined,
    },
  );
  assert.match(String(report.reason), /BackoffLimitExceeded/);
  assert.equal(report.payload, `${gitfaas.url}/payload/${b.functionUid}`);
  assert.deepEqual(tree.totals.functions, { pending: 0, running: 0, succeeded: 2, failed: 1 });

  // The report reached the cluster: the one dead-letter Job was rendered with it as its payload.
  const jobs = await batch.listNamespacedJob({ namespace, labelSelector: "gitfaas.dev/topic=dead" });
  assert.equal(jobs.items.length, 1);
  const env = jobs.items[0]?.spec?.template.spec?.containers[0]?.env ?? [];
  const payload = env.find((each) => each.name === "PAYLOAD")?.value ?? "";
  assert.deepEqual(JSON.parse(Buffer.from(payload, "base64").toString("utf8")), report);
});
