import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { silentLogger } from "../src/logging/index.js";
import { KubeConfig } from "@kubernetes/client-node";
import { KubernetesRuntime, type KubernetesRuntimeOptions, type StatusReport } from "../src/runtime/index.js";
import { GuardedWatch, silenceTimer } from "../src/runtime/kubernetes/guarded-watch.js";
import { statusFieldsOf } from "../src/runtime/kubernetes/status.js";
import { tempDir } from "./support/gitfaas-fixture.js";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";

/** A kubernetes runtime whose API server is `server` (a stand-in), started listening here. */
async function runtimeAgainst(
  server: http.Server,
  name: string,
  options: Partial<KubernetesRuntimeOptions> = {},
): Promise<{ runtime: KubernetesRuntime; dir: string }> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return runtimeFor(`http://127.0.0.1:${(server.address() as { port: number }).port}`, name, options);
}

/** A kubernetes runtime whose API server answers at `server`, with its kubeconfig in a new folder. */
async function runtimeFor(
  server: string,
  name: string,
  options: Partial<KubernetesRuntimeOptions> = {},
): Promise<{ runtime: KubernetesRuntime; dir: string }> {
  const dir = await tempDir(name);
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
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
    ...options,
  });
  return { runtime, dir };
}

const FUNCTION_UID = "f-11111111-1111-4111-8111-111111111111-r-22222222-2222-4222-8222-222222222222";

const JOB = {
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

/**
 * An API server cannot be made to misbehave on cue, so this one is a stand-in for what a proxy or a
 * dead connection in the way does: it lists nothing; the first watch of each resource goes wrong as
 * told and stays open; later Job watches send an event the client fails to handle, then a real one,
 * later Pod watches nothing.
 */
async function misbehavingApiServer(
  firstWatch: "bare-status" | "silence",
): Promise<{ url: string; watchQueries: URLSearchParams[]; close: () => void }> {
  const watches = new Map<string, number>();
  const watchQueries: URLSearchParams[] = [];
  const server = http.createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    const url = new URL(request.url ?? "/", "http://x");
    const jobs = url.pathname.includes("/jobs");
    if (url.searchParams.get("watch") !== "true") {
      response.end(
        JSON.stringify({ kind: jobs ? "JobList" : "PodList", metadata: { resourceVersion: "1" }, items: [] }),
      );
      return;
    }
    watchQueries.push(url.searchParams);
    // One count per watched set: the job pods and the bare pods are two watches of one path.
    const set = `${url.pathname}?${url.searchParams.get("labelSelector")}&${url.searchParams.get("fieldSelector")}`;
    const count = (watches.get(set) ?? 0) + 1;
    watches.set(set, count);
    if (count === 1) {
      if (firstWatch === "bare-status")
        response.write(`${JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure" })}\n`);
      else response.flushHeaders();
      return;
    }
    if (!jobs) {
      response.flushHeaders();
      return;
    }
    response.write(`${JSON.stringify({ type: "ADDED", object: {} })}\n`);
    response.write(`${JSON.stringify({ type: "ADDED", object: JOB })}\n`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    watchQueries,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Runs the runtime against `server` until the Job's success is reported; returns what went unhandled. */
async function followUntilSucceeded(server: string, watchIdleMs?: number): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const { runtime, dir } = await runtimeFor(server, "watch", {
    rewatchDelayMs: 50,
    ...(watchIdleMs === undefined ? {} : { watchIdleMs }),
  });
  const reports: StatusReport[] = [];
  runtime.onStatus((report) => reports.push(report));
  const succeeded = () =>
    reports.some((report) => report.functionUid === FUNCTION_UID && report.status === "succeeded");
  try {
    await runtime.start();
    const deadline = Date.now() + 10_000;
    while (!succeeded() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // Leave a rejection, if any, time to surface.
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(succeeded(), `no success reported: ${JSON.stringify(reports)}`);
    return unhandled;
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await runtime.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test("a watch line that is no event ends that watch and it is watched again; an event the client cannot handle is logged; gitfaas does not crash", async () => {
  const server = await misbehavingApiServer("bare-status");
  try {
    assert.deepEqual(await followUntilSucceeded(server.url), []);
  } finally {
    server.close();
  }
});

test("a watch gone silent is ended and watched again; bookmarks are asked for", async () => {
  const server = await misbehavingApiServer("silence");
  try {
    assert.deepEqual(await followUntilSucceeded(server.url, 300), []);
    assert.ok(server.watchQueries.length >= 2);
    assert.ok(server.watchQueries.every((query) => query.get("allowWatchBookmarks") === "true"));
  } finally {
    server.close();
  }
});

test("a watch hands on what `keep` picks of each object, and ERROR events as they came", async () => {
  const big = {
    ...JOB,
    spec: { template: { spec: { containers: [{ name: "main", image: "x".repeat(5000) }] } } },
  };
  // As the API server sends it, with an empty metadata.
  const gone = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    code: 410,
    reason: "Expired",
  };
  const server = http.createServer((_request, response) => {
    response.setHeader("content-type", "application/json");
    response.write(`${JSON.stringify({ type: "ADDED", object: big })}\n`);
    response.write(`${JSON.stringify({ type: "DELETED", object: big })}\n`);
    response.end(`${JSON.stringify({ type: "ERROR", object: gone })}\n`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  const seen: [string, unknown][] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      void new GuardedWatch(config, silentLogger(), "jobs", { idleMs: 10_000, keep: statusFieldsOf })
        .watch(
          "/apis/batch/v1/namespaces/ns/jobs",
          {},
          (phase, object) => seen.push([phase, object]),
          () => resolve(),
        )
        .catch(reject);
    });
  } finally {
    server.close();
  }
  assert.deepEqual(seen, [
    ["ADDED", statusFieldsOf(JOB)],
    ["DELETED", statusFieldsOf(JOB)],
    ["ERROR", gone],
  ]);
  assert.equal((seen[0]?.[1] as { spec?: unknown }).spec, undefined);
});

/** A stand-in API server whose watches stay open and silent; `list` answers every other request. */
function listingApiServer(list: (url: URL, response: http.ServerResponse) => void): http.Server {
  return http.createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    const url = new URL(request.url ?? "/", "http://x");
    if (url.searchParams.get("watch") === "true") {
      response.flushHeaders();
      return;
    }
    list(url, response);
  });
}

test("the first list is taken in pages (limit, continue), and every Job of every page is reported", async () => {
  const jobs = Array.from({ length: 1200 }, (_, index) => {
    const requestUid = newRequestUid();
    return {
      ...JOB,
      metadata: {
        ...JOB.metadata,
        name: `j${index}`,
        annotations: { "gitfaas.dev/function-uid": newFunctionUid(requestUid) },
      },
    };
  });
  const lists: URLSearchParams[] = [];
  // Honours limit and continue as the API server does; without a limit it sends everything at once.
  const server = listingApiServer((url, response) => {
    const items = url.pathname.includes("/jobs") ? jobs : [];
    if (url.pathname.includes("/jobs")) lists.push(url.searchParams);
    const from = Number(url.searchParams.get("continue") ?? 0);
    const limit = Number(url.searchParams.get("limit") ?? items.length);
    const to = from + limit;
    const metadata = { resourceVersion: "7", ...(to < items.length ? { continue: String(to) } : {}) };
    response.end(JSON.stringify({ kind: "List", metadata, items: items.slice(from, to) }));
  });
  const { runtime, dir } = await runtimeAgainst(server, "paged-list");
  const reported = new Set<string>();
  runtime.onStatus((report) => reported.add(report.functionUid));
  try {
    // The first lists are in once start is over.
    await runtime.start();
    assert.deepEqual(
      lists.map((query) => [query.get("limit"), query.get("continue")]),
      [
        ["500", null],
        ["500", "500"],
        ["500", "1000"],
      ],
    );
    assert.equal(reported.size, jobs.length);
  } finally {
    await runtime.close();
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test(
  "a first list the API server refuses settles nothing as vanished; once a later list comes, the Job is reported and a function with no object is settled gone",
  { timeout: 20_000 },
  async () => {
    const vanished = "f-33333333-3333-4333-8333-333333333333-r-44444444-4444-4444-8444-444444444444";
    let jobLists = 0;
    const server = listingApiServer((url, response) => {
      const jobs = url.pathname.includes("/jobs");
      if (jobs && ++jobLists === 1) {
        response.statusCode = 500;
        response.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 500 }));
        return;
      }
      response.end(
        JSON.stringify({ kind: "List", metadata: { resourceVersion: "3" }, items: jobs ? [JOB] : [] }),
      );
    });
    const { runtime, dir } = await runtimeAgainst(server, "refused-list", { rewatchDelayMs: 50 });
    const reports: StatusReport[] = [];
    const reported = new Promise<void>((resolve) =>
      runtime.onStatus((report) => {
        reports.push(report);
        if (reports.length === 2) resolve();
      }),
    );
    try {
      await runtime.reconcile([
        { functionUid: FUNCTION_UID, status: "running", applied: true },
        { functionUid: vanished, status: "running", applied: true },
      ]);
      await runtime.start();
      await reported;
      assert.deepEqual(reports.map((report) => [report.functionUid, report.status]).sort(), [
        [FUNCTION_UID, "succeeded"],
        [vanished, "failed"],
      ]);
      assert.match(reports.find((report) => report.functionUid === vanished)?.reason ?? "", /gone/);
      assert.equal(jobLists, 2);
    } finally {
      await runtime.close();
      server.closeAllConnections();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test("a watch's silence timer ends it only after a whole period without a sound, however often it hears", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let clock = 0;
  let silences = 0;
  const timer = silenceTimer(
    1000,
    () => silences++,
    () => clock,
  );
  for (let heardAt = 400; heardAt <= 4000; heardAt += 400) {
    clock = heardAt;
    t.mock.timers.tick(400);
    timer.heard();
  }
  assert.equal(silences, 0, "heard every 400 ms for 4 s");
  clock += 999;
  t.mock.timers.tick(999);
  assert.equal(silences, 0);
  clock += 1;
  t.mock.timers.tick(1);
  assert.equal(silences, 1, "a whole second of silence");
  timer.stop();
});
