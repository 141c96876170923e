import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiException, CoreV1Api } from "@kubernetes/client-node";
import { LeanKubeConfig } from "../src/runtime/kubernetes/lean-kubeconfig.js";
import { tempDir } from "../test/support/gitfaas-fixture.js";
import { createNamespace, deleteNamespace, serviceAccountKubeconfig } from "./support/cluster.js";

let namespace: string;
let dir: string;
let serviceAccountToken: string;
let server: string;
let caData: string;

before(async () => {
  namespace = await createNamespace("gitfaas-credentials");
  dir = await tempDir("credentials");
  const saConfig = JSON.parse(
    await readFile(await serviceAccountKubeconfig(namespace, join(dir, "sa.kubeconfig")), "utf8"),
  ) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
    users: { user: { token: string } }[];
  };
  serviceAccountToken = saConfig.users[0]!.user.token;
  server = saConfig.clusters[0]!.cluster.server;
  caData = saConfig.clusters[0]!.cluster["certificate-authority-data"];
});

after(async () => {
  await deleteNamespace(namespace);
  await rm(dir, { recursive: true, force: true });
});

/**
 * A kubeconfig whose credential comes from an exec plugin (as on EKS or GKE): a script that hands out
 * whatever token the file holds and counts its runs. Its answer has no expiry: the client keeps such a
 * credential for good (since 2.0; 1.x ran the plugin for every request), so only gitfaas's 401 handling
 * makes it run again.
 */
async function execKubeconfig(): Promise<{ file: string; tokenFile: string; runs: () => Promise<number> }> {
  const tokenFile = join(dir, "token");
  const runsFile = join(dir, "runs");
  const plugin = join(dir, "credential-plugin.sh");
  await writeFile(runsFile, "");
  await writeFile(
    plugin,
    `echo run >> '${runsFile}'
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat '${tokenFile}')"
`,
  );
  const file = join(dir, "exec.kubeconfig");
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster: { server, "certificate-authority-data": caData } }],
      users: [
        {
          name: "plugin",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: "/bin/sh",
              args: [plugin],
              interactiveMode: "Never",
            },
          },
        },
      ],
      contexts: [{ name: "plugin", context: { cluster: "local", user: "plugin", namespace } }],
      "current-context": "plugin",
    }),
    { mode: 0o600 },
  );
  const runs = async () => (await readFile(runsFile, "utf8")).split("\n").filter(Boolean).length;
  return { file, tokenFile, runs };
}

test("credentials are worked out once for many requests, and again right after a 401", async () => {
  const { file, tokenFile, runs } = await execKubeconfig();
  await writeFile(tokenFile, "not-a-valid-token");
  // Reused for a minute here, so that only a 401 can make the plugin run again within the test.
  const config = new LeanKubeConfig(60_000);
  config.loadFromFile(file);
  const core = config.makeApiClient(CoreV1Api);
  try {
    await assert.rejects(
      core.listNamespacedPod({ namespace }),
      (error: unknown) => error instanceof ApiException && error.code === 401,
    );
    assert.equal(await runs(), 1);

    // The credential was renewed (as a plugin's would be): the 401 made gitfaas ask again.
    await writeFile(tokenFile, serviceAccountToken);
    await core.listNamespacedPod({ namespace });
    assert.equal(await runs(), 2);

    for (let i = 0; i < 5; i++) await core.listNamespacedPod({ namespace });
    assert.equal(await runs(), 2, "the credential is reused, not worked out per request");
  } finally {
    await config.destroyPool();
  }
});
