import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RequestRecord } from "../src/store/index.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { startRedisServer } from "./support/redis-server.js";

/** Waits for the gate file, then answers `n + 1` of its JSON payload (or 1). */
const gated = `import { existsSync } from "node:fs";
while (!existsSync(process.env.GATE)) await new Promise((resolve) => setTimeout(resolve, 25));
${respondWith("({ n: (payload ? JSON.parse(payload).n : 0) + 1 })")}`;
const addOne = respondWith("({ n: JSON.parse(payload).n + 1 })");

test("three replicas on one Redis: each next step fires exactly once, also when a replica dies holding a claim", async () => {
  const redis = await startRedisServer();
  after(() => redis.stop());
  const repo = await tempDir("pipelines-replicas-repo");
  const gates = await tempDir("pipelines-replicas-gates");
  after(() => rm(repo, { recursive: true, force: true }));
  after(() => rm(gates, { recursive: true, force: true }));
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "first", configs: ["gated.yaml"], onSuccess: ["second"] },
        { name: "second", configs: ["add.yaml", "add.yaml"], join: "report" },
        { name: "report", configs: ["echo.yaml"] },
        { name: "x", configs: ["gated.yaml"], onSuccess: ["y"] },
        { name: "y", configs: ["add.yaml"] },
      ],
    }),
    "gated.yaml": nodeJob("gated", gated, { GATE: '"{{gate}}"' }),
    "add.yaml": nodeJob("add", addOne),
    "echo.yaml": nodeJob("echo", respondWith("JSON.parse(payload)")),
  });
  const flags = {
    repo,
    store: "redis",
    "redis-url": redis.url,
    "redis-key-prefix": `pipelines-${randomUUID()}:`,
  };
  const env = { env: { GITFAAS_REDIS_PASSWORD: redis.password } };
  const b = await startServer(flags, env);
  after(() => b.cleanup());
  // A's lambdas answer through B: the answer is stored by one replica, the status heard by another.
  const a = await startServer({ ...flags, "public-url": b.url }, env);
  after(() => a.cleanup());
  const c = await startServer(flags, env);

  const gate = join(gates, "open");
  const publish = async (topic: string): Promise<string> => {
    const published = await http(a.url, "POST", `/publish/${topic}?gate=${encodeURIComponent(gate)}`);
    assert.equal(published.status, 202, published.text);
    return published.json.requestUid as string;
  };
  const first = await publish("first");
  const x = await publish("x");

  // C hears x's function finish first, claims its next step, and dies before publishing it.
  const [xFunction] = (await c.store.getRequest(x))?.functions ?? [];
  assert.ok(xFunction);
  const claimed = `r-${randomUUID()}`;
  const won = await c.store.claimFiring({
    key: `${xFunction.functionUid}:onSuccess:y`,
    kind: "onSuccess",
    sourceRequestUid: x,
    sourceFunctionUid: xFunction.functionUid,
    topic: "y",
    childRequestUid: claimed,
    claimedAt: new Date(Date.now() - 3_600_000),
  });
  assert.equal(won, true);
  await c.cleanup();

  await writeFile(gate, "open");
  const finished = async (requestUid: string) => {
    const read = await http(b.url, "GET", `/requests/${requestUid}/tree?wait=60`);
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.finished, true, read.text);
  };
  // The claim C left holds x's run open until a sweep (A's or B's, timer or call) publishes it.
  await Promise.all([finished(first), a.nextSteps.sweep(), b.nextSteps.sweep()]);
  await finished(x);

  // Heard again by every replica at once (on Kubernetes each replica's watch reports every finish).
  const everyFunction = async (root: string) =>
    (await a.store.listTree(root)).flatMap((request) => request.functions.map((fn) => fn.functionUid));
  const uids = [...(await everyFunction(first)), ...(await everyFunction(x))];
  await Promise.all(uids.flatMap((uid) => [a, b].map((replica) => replica.nextSteps.functionFinished(uid))));
  await Promise.all([a.nextSteps.sweep(), b.nextSteps.sweep()]);

  const topicsOf = (requests: RequestRecord[]) => requests.map((request) => request.topic).sort();
  const firstRun = await b.store.listTree(first);
  assert.deepEqual(topicsOf(firstRun), ["first", "report", "second"]);
  const report = firstRun.find((request) => request.topic === "report");
  assert.deepEqual(
    JSON.parse(report?.functions[0]?.response?.body.toString() ?? "null").map(
      (entry: { answer: unknown }) => entry.answer,
    ),
    [{ n: 2 }, { n: 2 }],
  );
  const xRun = await b.store.listTree(x);
  assert.deepEqual(topicsOf(xRun), ["x", "y"]);
  // Published under the UID C claimed: the claim, not whoever took it over, names the child.
  assert.equal(xRun.find((request) => request.topic === "y")?.requestUid, claimed);
});
