import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../src/logging/index.js";
import { KubernetesRuntime, type StatusReport } from "../src/runtime/index.js";
import { tempDir } from "./support/gitfaas-fixture.js";

const FUNCTION_UID = "f-11111111-1111-4111-8111-111111111111-r-22222222-2222-4222-8222-222222222222";

/**
 * An API server cannot be made to send a watch line that is no event, so this one is a stand-in: it
 * lists nothing; the first watch of each resource sends a bare Status (as a proxy in the way might) and
 * stays open; later Job watches send an event the client fails to handle, then a real one.
 */
function malformingApiServer(): http.Server {
  const watches = new Map<string, number>();
  return http.createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    const url = new URL(request.url ?? "/", "http://x");
    const jobs = url.pathname.includes("/jobs");
    if (url.searchParams.get("watch") !== "true") {
      response.end(
        JSON.stringify({ kind: jobs ? "JobList" : "PodList", metadata: { resourceVersion: "1" }, items: [] }),
      );
      return;
    }
    const count = (watches.get(url.pathname) ?? 0) + 1;
    watches.set(url.pathname, count);
    if (count === 1) {
      response.write(`${JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure" })}\n`);
      return;
    }
    if (!jobs) return;
    const job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: "j",
        namespace: "ns",
        resourceVersion: "2",
        annotations: { "gitfaas.dev/function-uid": FUNCTION_UID },
      },
      status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
    };
    response.write(`${JSON.stringify({ type: "ADDED", object: {} })}\n`);
    response.write(`${JSON.stringify({ type: "ADDED", object: job })}\n`);
  });
}

test("a watch line that is no event ends that watch and it is watched again; an event the client cannot handle is logged; gitfaas does not crash", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const server = malformingApiServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const dir = await tempDir("watch");
  const kubeconfig = join(dir, "kubeconfig");
  const { port } = server.address() as { port: number };
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]
current-context: c
`,
  );
  const runtime = new KubernetesRuntime({
    kubeconfig,
    namespace: "ns",
    watchAllNamespaces: false,
    logger: silentLogger(),
    rewatchDelayMs: 50,
  });
  const reports: StatusReport[] = [];
  runtime.onStatus((report) => reports.push(report));
  try {
    await runtime.start();
    const deadline = Date.now() + 10_000;
    while (!reports.some((report) => report.status === "succeeded") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Leave the rejection, if any, time to surface.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
    assert.ok(
      reports.some((report) => report.functionUid === FUNCTION_UID && report.status === "succeeded"),
      JSON.stringify(reports),
    );
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await runtime.close();
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
