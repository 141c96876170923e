import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { CoreV1Api } from "@kubernetes/client-node";
import { LeanKubeConfig } from "../src/runtime/kubernetes/lean-kubeconfig.js";
import { fromKubernetesError } from "../src/runtime/kubernetes/errors.js";

/** A stand-in API server that answers pod lists, counts connections, and can cut one answer short. */
async function apiServer(): Promise<{
  url: string;
  connections: () => number;
  cutNext: () => void;
  close: () => void;
}> {
  let connections = 0;
  let cut = false;
  const server = http.createServer((request, response) => {
    assert.equal(request.headers.authorization, "Bearer not-a-secret");
    const body = JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items: [] });
    if (cut) {
      cut = false;
      response.writeHead(200, { "content-type": "application/json", "content-length": body.length * 2 });
      response.write(body);
      response.socket?.destroy();
      return;
    }
    response.setHeader("content-type", "application/json");
    response.end(body);
  });
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    cutNext: () => (cut = true),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function configFor(server: string, answerTimeoutMs?: number): LeanKubeConfig {
  const config = new LeanKubeConfig(undefined, answerTimeoutMs);
  config.loadFromString(
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "not-a-secret" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u", namespace: "ns" } }],
      "current-context": "c",
    }),
  );
  return config;
}

test("requests share a keep-alive pool rather than a connection each; a pool destroyed is replaced by the next request", async () => {
  const server = await apiServer();
  const config = configFor(server.url);
  const core = config.makeApiClient(CoreV1Api);
  try {
    for (let i = 0; i < 10; i++)
      assert.deepEqual((await core.listNamespacedPod({ namespace: "ns" })).items, []);
    // undici's pool may open a second connection while the first is still being released.
    const pooled = server.connections();
    assert.ok(pooled <= 2, `${pooled} connections for 10 requests in a row`);
    await config.destroyPool();
    assert.deepEqual((await core.listNamespacedPod({ namespace: "ns" })).items, []);
    assert.equal(server.connections(), pooled + 1);
  } finally {
    await config.destroyPool();
    server.close();
  }
});

test("an answer cut short, or no API server at all, is KUBERNETES_UNREACHABLE", async () => {
  const server = await apiServer();
  const config = configFor(server.url);
  const core = config.makeApiClient(CoreV1Api);
  try {
    server.cutNext();
    const cut = await core.listNamespacedPod({ namespace: "ns" }).then(
      () => assert.fail("a cut answer was taken"),
      (error: unknown) => fromKubernetesError(error, "list"),
    );
    assert.equal(cut.code, "KUBERNETES_UNREACHABLE", cut.message);
  } finally {
    await config.destroyPool();
    server.close();
  }
  const refused = await configFor(server.url)
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: "ns" })
    .then(
      () => assert.fail("a closed server answered"),
      (error: unknown) => fromKubernetesError(error, "list"),
    );
  assert.equal(refused.code, "KUBERNETES_UNREACHABLE", refused.message);
  assert.match(refused.message, /ECONNREFUSED/);
});

test(
  "an API server that takes a call and never answers fails it as KUBERNETES_UNREACHABLE (headers timeout)",
  { timeout: 20_000 },
  async () => {
    const held: http.ServerResponse[] = [];
    const server = http.createServer((_request, response) => void held.push(response));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const config = configFor(`http://127.0.0.1:${port}`, 200);
    try {
      const silent = await config
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: "ns" })
        .then(
          () => assert.fail("a silent server answered"),
          (error: unknown) => fromKubernetesError(error, "list"),
        );
      assert.equal(silent.code, "KUBERNETES_UNREACHABLE", silent.message);
      assert.match(silent.message, /UND_ERR_HEADERS_TIMEOUT/);
      assert.equal(held.length, 1);
    } finally {
      await config.destroyPool();
      server.closeAllConnections();
      server.close();
    }
  },
);
