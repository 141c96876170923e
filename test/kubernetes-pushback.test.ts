import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import {
  PUSHBACK_DELAYS,
  KubernetesRuntime,
  pushbackOf,
  retryAfterMs,
  type PushbackClock,
  type StatusReport,
} from "../src/runtime/index.js";
import { silentLogger } from "../src/logging/index.js";
import type { KubeObject } from "../src/templating/index.js";

const policy = { budgetMs: 60_000, firstDelayMs: 500, maxDelayMs: 8_000 };
const NOW = Date.parse("2026-01-01T00:00:00Z");

function answered(
  code: number,
  headers: Record<string, string> = {},
  body: unknown = {},
): ApiException<unknown> {
  return new ApiException(code, "Unsuccessful HTTP Request", body, headers);
}

const decide = (error: unknown, more: { attempt?: number; random?: number; repeatable?: boolean } = {}) =>
  pushbackOf(
    {
      error,
      attempt: more.attempt ?? 1,
      repeatable: more.repeatable ?? true,
      now: NOW,
      random: more.random ?? 0,
    },
    policy,
  );

test("Retry-After is read as seconds or as an HTTP date, and is a minimum the jitter only adds to", () => {
  assert.equal(retryAfterMs("2", NOW), 2000);
  assert.equal(retryAfterMs(" 0 ", NOW), 0);
  assert.equal(retryAfterMs(new Date(NOW + 7000).toUTCString(), NOW), 7000);
  assert.equal(retryAfterMs(new Date(NOW - 7000).toUTCString(), NOW), 0, "a date past is now");
  assert.equal(retryAfterMs("soon", NOW), undefined);
  assert.equal(retryAfterMs("-3", NOW), undefined);
  assert.equal(retryAfterMs(undefined, NOW), undefined);

  const asked = decide(answered(429, { "retry-after": "2" }), { attempt: 5, random: 0 });
  assert.deepEqual(asked, { delayMs: 2000, reason: "the API server asked to retry after 2s (429)" });
  const byDate = decide(answered(503, { "Retry-After": new Date(NOW + 3000).toUTCString() }));
  assert.equal(byDate?.delayMs, 3000);
  const jittered = decide(answered(429, { "retry-after": "2" }), { random: 0.999 });
  assert.ok(jittered && jittered.delayMs >= 2000 && jittered.delayMs <= 2400, String(jittered?.delayMs));
});

test("without Retry-After the wait doubles per retry up to the cap, its jitter bounded to a fifth", () => {
  const delays = [1, 2, 3, 4, 5, 6, 9].map((attempt) => decide(answered(503), { attempt })?.delayMs);
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
  for (const random of [0, 0.5, 0.999]) {
    const delay = decide(answered(500), { attempt: 9, random })?.delayMs ?? -1;
    assert.ok(delay >= 8000 && delay <= 9600, `${delay} for random ${random}`);
  }
  assert.match(decide(answered(503))?.reason ?? "", /pushed back \(503\); retrying in 0\.5s/);
});

test("5xx and no answer are retried; a refusal (4xx other than 429, a schema refusal) is not", () => {
  for (const code of [500, 502, 503, 504]) assert.ok(decide(answered(code)), `${code} retried`);
  const unreachable = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  assert.ok(decide(unreachable), "no answer retried");
  const headersTimeout = Object.assign(new Error("timeout"), { code: "UND_ERR_HEADERS_TIMEOUT" });
  assert.ok(decide(headersTimeout), "a timeout retried");
  for (const code of [400, 401, 403, 404, 409, 410, 422])
    assert.equal(decide(answered(code, { "retry-after": "1" })), undefined, `${code} not retried`);
  const schema = answered(
    500,
    {},
    {
      message:
        "failed to create typed patch object (ns/x; batch/v1, Kind=Job): .spec.x: field not declared in schema",
    },
  );
  assert.equal(decide(schema), undefined, "a schema refusal is the manifest's fault");
  assert.equal(decide(new TypeError("a bug")), undefined, "a bug is not the API server pushing back");
});

test("a write that may have happened is retried only where repeating it is harmless (not a generateName create)", () => {
  assert.ok(decide(answered(429), { repeatable: false }), "a 429 was never carried out");
  assert.equal(decide(answered(504), { repeatable: false }), undefined);
  assert.equal(decide(answered(500), { repeatable: false }), undefined);
  const cut = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
  assert.equal(decide(cut, { repeatable: false }), undefined);
});

// ---- the runtime against a stand-in API server that pushes back as told ----

type Answer = { status: number; headers?: Record<string, string>; store?: boolean };

/** Answers discovery, creates and applies of Jobs and ConfigMaps in "ns"; each write takes the next scripted answer. */
async function pushingServer(script: Answer[]) {
  const stored = new Map<string, unknown>();
  const writes: string[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { "content-type": "application/json", ...headers });
        response.end(JSON.stringify(body));
      };
      const path = (request.url ?? "").split("?")[0] ?? "";
      if (request.method === "GET" && (path === "/apis/batch/v1" || path === "/api/v1")) {
        const jobs = path === "/apis/batch/v1";
        send(200, {
          kind: "APIResourceList",
          groupVersion: jobs ? "batch/v1" : "v1",
          resources: [
            {
              name: jobs ? "jobs" : "configmaps",
              namespaced: true,
              kind: jobs ? "Job" : "ConfigMap",
              verbs: [],
            },
          ],
        });
        return;
      }
      const object = JSON.parse(Buffer.concat(chunks).toString() || "{}") as KubeObject;
      const name = object.metadata?.name ?? path.split("/").at(-1) ?? "";
      writes.push(`${request.method} ${name}`);
      const next = script.shift() ?? { status: 0 };
      const taken = request.method === "POST" && stored.has(name);
      if (next.status === 0 || next.store) stored.set(name, object);
      if (next.status !== 0) {
        send(
          next.status,
          { kind: "Status", message: "pushed back", reason: "TooManyRequests" },
          next.headers,
        );
        return;
      }
      if (taken) {
        send(409, { kind: "Status", reason: "AlreadyExists", message: `"${name}" already exists` });
        return;
      }
      send(request.method === "POST" ? 201 : 200, {
        ...object,
        metadata: { ...object.metadata, namespace: "ns" },
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const dir = mkdtempSync(join(tmpdir(), "gitfaas-pushback-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
      ],
      users: [{ name: "u", user: { token: "not-a-secret" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u", namespace: "ns" } }],
      "current-context": "c",
    }),
  );
  return {
    kubeconfig,
    writes,
    stored,
    close: () => {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A clock whose sleeps end at once (advancing it), or, when held, when the runtime stops. */
function steppedClock(hold = false): PushbackClock & { slept: number[] } {
  let now = NOW;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: (ms, signal) => {
      slept.push(ms);
      if (!hold) {
        now += ms;
        return Promise.resolve();
      }
      return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
  };
}

function runtimeFor(kubeconfig: string, clock: PushbackClock, budgetMs = 60_000) {
  const runtime = new KubernetesRuntime({
    kubeconfig,
    namespace: "ns",
    watchAllNamespaces: false,
    logger: silentLogger(),
    pushback: { ...PUSHBACK_DELAYS, budgetMs },
    clock,
    random: () => 0,
  });
  const reports: StatusReport[] = [];
  const ended = new Promise<StatusReport>((resolve) =>
    runtime.onStatus((report) => {
      reports.push(report);
      if (report.status !== "pending" || /accepted|stopped/.test(report.reason ?? "")) resolve(report);
    }),
  );
  return { runtime, reports, ended };
}

function launchOf(objects: KubeObject[], freshNames?: boolean[]) {
  return {
    functionUid: "f-1",
    requestUid: "r-1",
    topic: "t",
    path: "t/job.yaml",
    objects,
    revisionDir: "/nowhere",
    ...(freshNames ? { freshNames } : {}),
  };
}

const job = (name: string): KubeObject =>
  ({ apiVersion: "batch/v1", kind: "Job", metadata: { name }, spec: {} }) as unknown as KubeObject;
const configMap = (name: string): KubeObject =>
  ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: {} }) as unknown as KubeObject;

test("a 429 leaves the function pending with the reason; the write is retried after Retry-After in the background", async () => {
  const server = await pushingServer([
    { status: 0 },
    { status: 429, headers: { "retry-after": "2" } },
    { status: 429, headers: { "retry-after": "3" } },
  ]);
  const clock = steppedClock();
  const { runtime, reports, ended } = runtimeFor(server.kubeconfig, clock);
  try {
    const outcome = await runtime.apply(launchOf([configMap("settings"), job("work")]));
    assert.match(outcome.message, /^pending: the API server asked to retry after 2s \(429\)/);
    assert.match(outcome.message, /applied so far: ConfigMap\/settings/);
    const last = await ended;
    assert.equal(last.status, "pending");
    assert.match(last.reason ?? "", /accepted by the API server after 2 retries/);
    assert.deepEqual(clock.slept, [2000, 3000]);
    assert.deepEqual(
      reports.map((report) => report.reason),
      [
        "the API server asked to retry after 2s (429)",
        "the API server asked to retry after 3s (429)",
        "accepted by the API server after 2 retries",
      ],
    );
    // Applied once each: the ConfigMap is not written again when the Job is retried.
    assert.deepEqual(server.writes, ["PATCH settings", "PATCH work", "PATCH work", "PATCH work"]);
    assert.ok(server.stored.has("work"));
  } finally {
    await runtime.close();
    server.close();
  }
});

test("a create that timed out (504) yet happened is retried; its AlreadyExists counts as success for a fresh name", async () => {
  const server = await pushingServer([{ status: 504, store: true }]);
  const clock = steppedClock();
  const { runtime, reports, ended } = runtimeFor(server.kubeconfig, clock);
  try {
    const outcome = await runtime.apply(launchOf([configMap("cm-fresh")], [true]));
    assert.match(outcome.message, /^pending: the API server pushed back \(504\)/);
    await ended;
    assert.equal(reports.at(-1)?.status, "succeeded", "nothing runs: done once applied");
    assert.deepEqual(server.writes, ["POST cm-fresh", "POST cm-fresh", "PATCH cm-fresh"]);
  } finally {
    await runtime.close();
    server.close();
  }
});

test("pushed back past the budget, the function fails with KUBERNETES_THROTTLED and the API server's words", async () => {
  const always = Array.from({ length: 50 }, () => ({ status: 429, headers: { "retry-after": "4" } }));
  const server = await pushingServer(always);
  const clock = steppedClock();
  const { runtime, ended } = runtimeFor(server.kubeconfig, clock, 10_000);
  try {
    const outcome = await runtime.apply(launchOf([job("never")]));
    assert.match(outcome.message, /^pending: /);
    const last = await ended;
    assert.equal(last.status, "failed");
    assert.match(last.reason ?? "", /^KUBERNETES_THROTTLED: the API server kept pushing back for 10s/);
    assert.match(last.reason ?? "", /answered 429 TooManyRequests: pushed back/);
    // 4 s each: two waits fit in 10 s, a third would end past it.
    assert.deepEqual(clock.slept, [4000, 4000]);
  } finally {
    await runtime.close();
    server.close();
  }
});

test("a refusal is not retried, and with a budget of 0 neither is a pushback: apply throws", async () => {
  const server = await pushingServer([{ status: 403 }, { status: 429 }]);
  const clock = steppedClock();
  const { runtime } = runtimeFor(server.kubeconfig, clock, 0);
  try {
    await assert.rejects(runtime.apply(launchOf([job("a")])), { code: "KUBERNETES_FORBIDDEN" });
    await assert.rejects(runtime.apply(launchOf([job("b")])), { code: "KUBERNETES_THROTTLED" });
    assert.deepEqual(clock.slept, []);
  } finally {
    await runtime.close();
    server.close();
  }
});

test("at close the retries stop and the function stays pending, for the next start to settle", async () => {
  const server = await pushingServer([{ status: 503 }]);
  const clock = steppedClock(true);
  const { runtime, ended } = runtimeFor(server.kubeconfig, clock);
  try {
    await runtime.apply(launchOf([job("held")]));
    await runtime.close();
    const last = await ended;
    assert.equal(last.status, "pending");
    assert.match(last.reason ?? "", /gitfaas stopped while retrying/);
    assert.deepEqual(server.writes, ["PATCH held"]);
  } finally {
    server.close();
  }
});
