import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { loadKubeConfig } from "../src/runtime/index.js";
import { RenderedObjectApi } from "../src/runtime/kubernetes/rendered-object-api.js";
import { tempDir } from "../test/support/gitfaas-fixture.js";
import { createNamespace, deleteNamespace, serviceAccountKubeconfig } from "./support/cluster.js";

let namespace: string;
let workDir: string;
let objects: RenderedObjectApi;
let destroy: () => Promise<void>;

before(async () => {
  namespace = await createNamespace("gitfaas-rendered");
  workDir = await tempDir("rendered");
  const config = loadKubeConfig(await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig")));
  objects = RenderedObjectApi.forConfig(config);
  destroy = () => config.destroyPool();
});

after(async () => {
  await destroy();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
});

/** A suspended Job (nothing runs) whose pod template carries a payload of 4 KiB. */
const job = (name: string) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, namespace },
  spec: {
    suspend: true,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "main", image: "busybox", env: [{ name: "PAYLOAD", value: "x".repeat(4096) }] }],
      },
    },
  },
});

test("a create or an apply is answered with the object's metadata only, not the object sent back", async () => {
  for (const written of [
    await objects.createRendered(job("created"), "gitfaas"),
    await objects.applyRendered(job("applied"), "gitfaas"),
  ]) {
    assert.equal(written.kind, "PartialObjectMetadata");
    assert.equal(written.metadata?.namespace, namespace);
    assert.ok(written.metadata?.uid);
    assert.equal((written as { spec?: unknown }).spec, undefined, "no spec (nor payload) sent back");
  }
});
