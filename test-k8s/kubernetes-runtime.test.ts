import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { http, startServer, tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import {
  apps,
  batch,
  core,
  createNamespace,
  deleteNamespace,
  restartApiServer,
  serviceAccountKubeconfig,
  until,
} from "./support/cluster.js";

type Running = Awaited<ReturnType<typeof startServer>>;

function job(
  name: string,
  options: {
    backoffLimit?: number;
    spec?: string;
    podAnnotations?: Record<string, string>;
    podSpec?: string;
  } = {},
) {
  const annotations = Object.entries({ "gitfaas.dev/fake-run-duration": "1s", ...options.podAnnotations })
    .map(([key, value]) => `\n        ${key}: "${value}"`)
    .join("");
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
spec:
  backoffLimit: ${options.backoffLimit ?? 0}
${options.spec ?? ""}  template:
    metadata:
      annotations:${annotations}
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
${options.podSpec ?? ""}`;
}

/** A Pod no Job owns: its phase is its function's whole story. (JSON is YAML.) */
function pod(name: string, annotations: Record<string, string>) {
  const main = { name: "main", image: "busybox", command: ["sh", "-c", "echo hi"] };
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `${name}-{{RANDOM}}`, annotations },
    spec: { restartPolicy: "Never", containers: [main] },
  });
}

const MANIFESTS: Record<string, string> = {
  "ok.yaml": job("ok"),
  "fails.yaml": job("fails", {
    backoffLimit: 1,
    podAnnotations: { "gitfaas.dev/fake-exit-code": "1" },
  }),
  "ttl.yaml": job("ttl", { spec: "  ttlSecondsAfterFinished: 1\n" }),
  "slow.yaml": job("slow", { podAnnotations: { "gitfaas.dev/fake-run-duration": "25s" } }),
  "volume.yaml": job("volume", {
    podAnnotations: { "gitfaas.dev/fake-run-duration": "3s" },
    spec: "  ttlSecondsAfterFinished: 1\n",
    podSpec: `      volumes:
        - name: scratch
          ephemeral:
            volumeClaimTemplate:
              spec:
                accessModes: ["ReadWriteOnce"]
                resources:
                  requests:
                    storage: 1Mi
`,
  }),
  "brief.yaml": job("brief", { podAnnotations: { "gitfaas.dev/fake-run-duration": "3s" } }),
  "bare.yaml": pod("bare", { "gitfaas.dev/fake-start-delay": "1s", "gitfaas.dev/fake-run-duration": "3s" }),
  "bare-waiting.yaml": pod("waiting", { "gitfaas.dev/fake-start-delay": "10m" }),
  "other-namespace.yaml": job("other").replace(
    "metadata:\n  name:",
    "metadata:\n  namespace: kube-system\n  name:",
  ),
  "service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80}]\n",
  "invalid.yaml": job("bad_name"),
  // A typo'd field: sent as written, so the API server refuses it rather than the client dropping it.
  "typo.yaml": job("typo", { spec: "  ttlSecondsAfterFinishd: 1\n" }),
  "typo-fixed-name.yaml": job("typo", { spec: "  ttlSecondsAfterFinishd: 1\n" }).replace(
    "name: typo-{{RANDOM}}",
    "name: typo-fixed",
  ),
  // The same Job twice in one manifest: {{RANDOM}} is one value per manifest, so the second create collides.
  "twins.yaml": `${job("twin")}---\n${job("twin")}`,
  "deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {{replicas}}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
`,
};

const TOPICS = Object.keys(MANIFESTS).map((file) => ({ name: file.replace(".yaml", ""), configs: [file] }));

let namespace: string;
let repo: string;
let workDir: string;
let gitfaas: Running;
let unscoped: Running;
let common: Record<string, string>;

before(async () => {
  namespace = await createNamespace("gitfaas-e2e");
  workDir = await tempDir("k8s");
  repo = join(workDir, "repo");
  await writeTree(repo, { "config.json": JSON.stringify({ topics: TOPICS }), ...MANIFESTS });
  const kubeconfig = await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig"));
  common = { repo, runtime: "kubernetes", kubeconfig, namespace };
  gitfaas = await startServer(common);
  // The same service account with gitfaas's namespace policy off: only RBAC stands in the way.
  unscoped = await startServer({ ...common, scope: "clusterWide", "banned-kinds": "Role" });
  const status = await http(gitfaas.url, "GET", "/status");
  assert.equal(status.json.lastError, null, status.text);
});

after(async () => {
  await gitfaas?.cleanup();
  await unscoped?.cleanup();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
});

async function publish(server: Running, topic: string, query = "") {
  const answer = await http(server.url, "POST", `/publish/${topic}${query}`, "hello", "text/plain");
  assert.equal(answer.status, 202, answer.text);
  return answer.json as {
    requestUid: string;
    error: boolean;
    applies: { error: boolean; code: string | null; message: string; functionUid: string }[];
  };
}

async function functionOf(
  server: Running,
  requestUid: string,
  done: (fn: FunctionView) => boolean,
  timeoutMs = 60_000,
) {
  return until(
    `request ${requestUid}`,
    async () => {
      const answer = await http(server.url, "GET", `/response/${requestUid}`);
      const fn = (answer.json.functions as FunctionView[])[0]!;
      return done(fn) ? fn : undefined;
    },
    timeoutMs,
  );
}

interface FunctionView {
  functionUid: string;
  status: string;
  attempts: number;
  reason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

async function podsOf(requestUid: string) {
  const list = await core.listNamespacedPod({
    namespace,
    labelSelector: `gitfaas.dev/request-uid=${requestUid}`,
  });
  return list.items;
}

async function jobsOf(requestUid: string) {
  const list = await batch.listNamespacedJob({
    namespace,
    labelSelector: `gitfaas.dev/request-uid=${requestUid}`,
  });
  return list.items;
}

test("publish creates the Job in gitfaas's namespace with tracking labels on Job and pods; it succeeds", async () => {
  const published = await publish(gitfaas, "ok");
  assert.equal(published.error, false, JSON.stringify(published.applies));
  assert.match(published.applies[0]!.message, new RegExp(`Job/ok-[0-9a-f-]{36} in ${namespace}`));
  const [created] = await jobsOf(published.requestUid);
  assert.ok(created, "the Job exists");
  const labels = created.metadata?.labels ?? {};
  assert.equal(labels["gitfaas.dev/request-uid"], published.requestUid);
  assert.equal(labels["gitfaas.dev/function-id"], published.applies[0]!.functionUid.slice(0, 38));
  assert.equal(labels["gitfaas.dev/topic"], "ok");
  assert.equal(
    created.metadata?.annotations?.["gitfaas.dev/function-uid"],
    published.applies[0]!.functionUid,
  );
  assert.equal(created.spec?.template.metadata?.labels?.["gitfaas.dev/request-uid"], published.requestUid);
  // Named from {{RANDOM}}, so it cannot exist yet: created in one write rather than applied.
  const managers = (created.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
  assert.ok(managers.includes("gitfaas/Update"), managers.join(", "));
  assert.ok(!managers.includes("gitfaas/Apply"), managers.join(", "));
  const pods = await until("the Job's pod", async () => {
    const list = await core.listNamespacedPod({
      namespace,
      labelSelector: `gitfaas.dev/request-uid=${published.requestUid}`,
    });
    return list.items.length > 0 ? list.items : undefined;
  });
  assert.equal(
    pods[0]!.metadata?.labels?.["gitfaas.dev/function-id"],
    published.applies[0]!.functionUid.slice(0, 38),
  );

  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "succeeded");
  assert.equal(fn.attempts, 1);
  assert.ok(fn.startedAt && fn.finishedAt);
});

/** The function whose running pod has this address, as gitfaas's runtime knows it. */
function functionAt(server: Running, address: string): string | undefined {
  return (server.runtime as { functionAt?: (address: string) => string | undefined }).functionAt?.(address);
}

test("a Job's pod is followed while it runs: running, and its address names its function until it ends", async () => {
  const published = await publish(gitfaas, "brief");
  const functionUid = published.applies[0]!.functionUid;
  await functionOf(gitfaas, published.requestUid, (f) => f.status === "running");
  const [running] = await podsOf(published.requestUid);
  const address = running?.status?.podIP;
  assert.ok(address, "the running pod has an address");
  await until(
    "its address to name its function",
    async () => functionAt(gitfaas, address) === functionUid || undefined,
  );
  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "succeeded");
  assert.equal(fn.attempts, 1);
  assert.ok(fn.startedAt && fn.finishedAt);
  // The cluster may give the address to another pod at once: it names nobody once the pod has ended.
  await until(
    "its address to be given back",
    async () => functionAt(gitfaas, address) === undefined || undefined,
  );
});

test("a bare Pod: pending, running with its address, succeeded; one deleted before it ran ends failed", async () => {
  const published = await publish(gitfaas, "bare");
  const functionUid = published.applies[0]!.functionUid;
  const running = await functionOf(gitfaas, published.requestUid, (f) => f.status === "running");
  assert.ok(running.startedAt);
  const address = (await podsOf(published.requestUid))[0]?.status?.podIP;
  assert.ok(address);
  await until(
    "its address to name its function",
    async () => functionAt(gitfaas, address) === functionUid || undefined,
  );
  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "succeeded");
  assert.equal(fn.attempts, 1);
  assert.ok(fn.finishedAt);

  const waiting = await publish(gitfaas, "bare-waiting");
  const [pending] = await until("the waiting pod", async () => {
    const pods = await podsOf(waiting.requestUid);
    return pods.length > 0 ? pods : undefined;
  });
  assert.equal(pending!.status?.phase, "Pending");
  await core.deleteNamespacedPod({ name: pending!.metadata!.name!, namespace, gracePeriodSeconds: 0 });
  const deleted = await functionOf(gitfaas, waiting.requestUid, (f) => f.status === "failed");
  assert.match(deleted.reason ?? "", /Pod deleted before it finished/);
});

test("a failing pod with backoffLimit 1: two attempts, then failed with the Job's reason", async () => {
  const published = await publish(gitfaas, "fails");
  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "failed", 90_000);
  assert.equal(fn.attempts, 2);
  assert.match(fn.reason ?? "", /BackoffLimitExceeded/);
});

test("ttlSecondsAfterFinished removes the Job and its pods; the status stays", async () => {
  const published = await publish(gitfaas, "ttl");
  await until(
    "the Job to be removed",
    async () => ((await jobsOf(published.requestUid)).length === 0 ? true : undefined),
    90_000,
  );
  await until(
    "its pods to be removed",
    async () => {
      const list = await core.listNamespacedPod({
        namespace,
        labelSelector: `gitfaas.dev/request-uid=${published.requestUid}`,
      });
      return list.items.length === 0 ? true : undefined;
    },
    90_000,
  );
  const fn = await functionOf(gitfaas, published.requestUid, () => true);
  assert.equal(fn.status, "succeeded");
});

test("an ephemeral volume claim is created with the pod and removed with it", async () => {
  const published = await publish(gitfaas, "volume");
  const claim = await until("the pod's claim", async () => {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `gitfaas.dev/request-uid=${published.requestUid}`,
    });
    const pod = pods.items[0];
    if (!pod) return undefined;
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace });
    return claims.items.find((c) => c.metadata?.name === `${pod.metadata?.name}-scratch`);
  });
  assert.equal(claim.metadata?.ownerReferences?.[0]?.kind, "Pod");
  await functionOf(gitfaas, published.requestUid, (f) => f.status === "succeeded", 90_000);
  await until(
    "the claim to be removed",
    async () => {
      const claims = await core.listNamespacedPersistentVolumeClaim({ namespace });
      const left = claims.items.find((c) => c.metadata?.name === claim.metadata?.name);
      return left === undefined || left.metadata?.deletionTimestamp ? true : undefined;
    },
    90_000,
  );
});

test("another namespace: refused by policy, and with the policy off, by RBAC (403 from the API server)", async () => {
  const byPolicy = await publish(gitfaas, "other-namespace");
  assert.equal(byPolicy.applies[0]!.code, "NAMESPACE_FORBIDDEN");
  const byRbac = await publish(unscoped, "other-namespace");
  assert.equal(byRbac.applies[0]!.error, true);
  assert.equal(byRbac.applies[0]!.code, "KUBERNETES_FORBIDDEN");
  assert.match(byRbac.applies[0]!.message, /403.*forbidden.*kube-system/i);
  assert.doesNotMatch(byRbac.applies[0]!.message, /\n\s+at /);
  const leaked = await batch.listNamespacedJob({
    namespace: "kube-system",
    labelSelector: "gitfaas.dev/request-uid",
  });
  assert.equal(leaked.items.length, 0);
});

test("banned kinds are never sent to the cluster", async () => {
  const published = await publish(gitfaas, "service");
  assert.equal(published.applies[0]!.code, "BANNED_KIND");
  const services = await core.listNamespacedService({ namespace });
  assert.equal(services.items.length, 0);
});

test("an invalid manifest reports the API server's 422 text", async () => {
  const published = await publish(gitfaas, "invalid");
  assert.equal(published.applies[0]!.code, "KUBERNETES_INVALID");
  assert.match(published.applies[0]!.message, /422/);
  assert.match(published.applies[0]!.message, /bad_name/);
  assert.match(published.applies[0]!.message, /RFC 1123/);
});

test("an unknown field is refused by the API server, whether the object is created or applied", async () => {
  const created = await publish(gitfaas, "typo");
  assert.equal(created.applies[0]!.code, "KUBERNETES_INVALID", created.applies[0]!.message);
  assert.match(created.applies[0]!.message, /unknown field "spec.ttlSecondsAfterFinishd"/);
  assert.deepEqual(await jobsOf(created.requestUid), []);
  const applied = await publish(gitfaas, "typo-fixed-name");
  assert.equal(applied.applies[0]!.code, "KUBERNETES_INVALID", applied.applies[0]!.message);
  assert.match(applied.applies[0]!.message, /ttlSecondsAfterFinishd: field not declared in schema/);
  assert.deepEqual(await jobsOf(applied.requestUid), []);
});

test("a fresh name already taken falls back to server-side apply of the existing object", async () => {
  const published = await publish(gitfaas, "twins");
  assert.equal(published.error, false, JSON.stringify(published.applies));
  const jobs = await jobsOf(published.requestUid);
  assert.equal(jobs.length, 1);
  const managers = (jobs[0]!.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
  assert.ok(managers.includes("gitfaas/Update") && managers.includes("gitfaas/Apply"), managers.join(", "));
});

test("a Deployment is updated in place by server-side apply: an identical re-publish changes nothing, a changed value rolls it out once", async () => {
  const generation = async () => {
    const list = await apps.listNamespacedDeployment({ namespace });
    assert.equal(list.items.length, 1);
    return list.items[0]!;
  };
  const first = await publish(gitfaas, "deployment", "?replicas=1");
  assert.equal(first.error, false, JSON.stringify(first.applies));
  const again = await publish(gitfaas, "deployment", "?replicas=1");
  assert.equal(again.error, false, JSON.stringify(again.applies));
  // Per-publish labels stay on the Deployment's own metadata: its template, and so its pods, are as written.
  const unchanged = await generation();
  assert.equal(unchanged.metadata?.generation, 1);
  assert.equal(unchanged.metadata?.labels?.["gitfaas.dev/request-uid"], again.requestUid);
  assert.deepEqual(unchanged.spec?.template.metadata?.labels, { app: "web" });

  const changed = await publish(gitfaas, "deployment", "?replicas=3");
  assert.equal(changed.error, false, JSON.stringify(changed.applies));
  const rolled = await generation();
  assert.equal(rolled.spec?.replicas, 3);
  assert.equal(rolled.metadata?.generation, 2);
  const managers = (rolled.metadata?.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
  assert.ok(managers.includes("gitfaas/Apply"), managers.join(", "));
});

test("kube-apiserver restarted mid-run: watches resume and no status is lost", async () => {
  const published = await publish(gitfaas, "slow");
  await functionOf(gitfaas, published.requestUid, (f) => f.status === "running");
  await restartApiServer(2000);
  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "succeeded", 120_000);
  assert.equal(fn.attempts, 1);
  // And new work still flows after the restart.
  const after = await publish(gitfaas, "ok");
  await functionOf(gitfaas, after.requestUid, (f) => f.status === "succeeded");
});

test("a Job deleted before it finished ends its function as failed, so nobody waits for it forever", async () => {
  const published = await publish(gitfaas, "slow");
  await functionOf(gitfaas, published.requestUid, (f) => f.status === "running");
  const [created] = await jobsOf(published.requestUid);
  await batch.deleteNamespacedJob({
    name: created!.metadata!.name!,
    namespace,
    propagationPolicy: "Background",
  });
  const fn = await functionOf(gitfaas, published.requestUid, (f) => f.status === "failed");
  assert.match(fn.reason ?? "", /deleted before it finished/);
});

test("a Job deleted while gitfaas was stopped: at the next start its function ends failed", async () => {
  const dataDir = await tempDir("k8s-restart");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startServer(common, { dataDir });
  const published = await publish(first, "slow");
  await functionOf(first, published.requestUid, (f) => f.status === "running");
  await first.close();
  const [created] = await jobsOf(published.requestUid);
  await batch.deleteNamespacedJob({
    name: created!.metadata!.name!,
    namespace,
    propagationPolicy: "Background",
  });
  // Its pods too: one still terminating when gitfaas starts is seen, and its deletion tells the story.
  await until("the Job and its pods to be gone", async () =>
    (await jobsOf(published.requestUid)).length === 0 && (await podsOf(published.requestUid)).length === 0
      ? true
      : undefined,
  );
  const second = await startServer(common, { dataDir });
  after(() => second.close());
  const fn = await functionOf(second, published.requestUid, (f) => f.status === "failed");
  assert.match(fn.reason ?? "", /deleted while gitfaas was not watching/);
});
