import { spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
} from "@kubernetes/client-node";

/** The admin view of the local control plane that `npm run cluster:up` started. */
export function adminConfig(): KubeConfig {
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error("KUBECONFIG is not set: run these tests through `npm run test:k8s`");
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

export const admin = adminConfig();
export const core = admin.makeApiClient(CoreV1Api);
export const batch = admin.makeApiClient(BatchV1Api);
export const apps = admin.makeApiClient(AppsV1Api);
export const rbac = admin.makeApiClient(RbacAuthorizationV1Api);

export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/**
 * A ServiceAccount bound to the very Role the Helm chart ships (charts/gitfaas/files/rbac-rules.yaml), and a
 * kubeconfig that authenticates as it with a token from the TokenRequest API.
 */
export async function serviceAccountKubeconfig(namespace: string, file: string): Promise<string> {
  const rules = parse(
    await readFile(
      join(import.meta.dirname, "..", "..", "charts", "gitfaas", "files", "rbac-rules.yaml"),
      "utf8",
    ),
  ) as V1PolicyRule[];
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "gitfaas" } } });
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name: "gitfaas" }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: "gitfaas" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "gitfaas" },
      subjects: [{ kind: "ServiceAccount", name: "gitfaas", namespace }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name: "gitfaas",
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no cluster");
  const caData =
    cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString("base64") : undefined);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "local", cluster: { server: cluster.server, "certificate-authority-data": caData } }],
    users: [{ name: "gitfaas", user: { token: token.status?.token } }],
    contexts: [{ name: "gitfaas", context: { cluster: "local", user: "gitfaas", namespace } }],
    "current-context": "gitfaas",
  };
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/**
 * Kills kube-apiserver and starts it again with the very command line it ran with: every watch
 * drops mid-stream and must be resumed. (A SIGTERM would do too, but the API server then drains
 * open watches for a minute before it exits.)
 */
export async function restartApiServer(downMs: number): Promise<void> {
  const state = process.env.GITFAAS_CLUSTER_DIR ?? "/tmp/gitfaas-cluster";
  const pidFile = join(state, "run", "kube-apiserver.pid");
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  process.kill(pid, "SIGKILL");
  await until("kube-apiserver to exit", async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, downMs));
  const log = openSync(join(state, "logs", "kube-apiserver.log"), "a");
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  await until(
    "kube-apiserver to be ready again",
    async () => ((await core.listNamespace()) ? true : undefined),
    120_000,
  );
}
