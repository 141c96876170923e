import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { http, nodeJob, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { startRedisServer, type RedisServer } from "./support/redis-server.js";

type Running = Awaited<ReturnType<typeof startServer>>;

let repo: string;
let runs: string;

/** A lambda that writes one line per run to `<runs>/<name>`, then fails when `FAIL` is "yes". */
const recorder = (name: string, fail: string) =>
  nodeJob(
    name,
    `
import { appendFileSync } from "node:fs";
appendFileSync(process.env.RUNS + "/${name}", process.env.WHO + "\\n");
if (process.env.FAIL === "yes") process.exit(3);
await fetch(process.env.GITFAAS_URL + "/response/" + process.env.FUNCTION_UID, { method: "POST", body: "ok" });
`,
    { RUNS: JSON.stringify("RUNS_DIR"), WHO: '"{{who}}"', FAIL: `"${fail}"` },
  );

before(async () => {
  repo = await tempDir("pipelines-repo");
  runs = await tempDir("pipelines-runs");
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "once", configs: ["once.yaml"], params: { who: { type: "string", default: "nobody" } } },
        { name: "mixed", configs: ["good.yaml", "bad.yaml"] },
      ],
    }),
    "once.yaml": recorder("once", "no").replace("RUNS_DIR", runs),
    "good.yaml": recorder("good", "no").replace("RUNS_DIR", runs),
    "bad.yaml": recorder("bad", "{{fail}}").replace("RUNS_DIR", runs),
  });
});

after(async () => {
  await rm(repo, { recursive: true, force: true });
  await rm(runs, { recursive: true, force: true });
});

async function linesOf(name: string): Promise<string[]> {
  const text = await readFile(join(runs, name), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean);
}

async function settled(url: string, requestUid: string) {
  const answer = await http(url, "GET", `/response/${requestUid}?wait=30`);
  assert.equal(answer.status, 200, answer.text);
  return answer.json as { replayOf: string | null; functions: { path: string; status: string }[] };
}

test("Idempotency-Key: a repeat gets the first answer and runs nothing; another publish with the key is 422", async () => {
  const server = await startServer({ repo });
  try {
    const key = { "idempotency-key": randomUUID() };
    const first = await http(server.url, "POST", "/publish/once?who=ann", "hi", "text/plain", key);
    assert.equal(first.status, 202, first.text);
    await settled(server.url, first.json.requestUid as string);
    const again = await http(server.url, "POST", "/publish/once?who=ann", "hi", "text/plain", key);
    assert.equal(again.status, 202, again.text);
    assert.equal(again.json.requestUid, first.json.requestUid);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    const other = await http(server.url, "POST", "/publish/once?who=bob", "hi", "text/plain", key);
    assert.equal(other.status, 422, other.text);
    assert.equal(other.json.code, "IDEMPOTENCY_KEY_MISMATCH");
    // The first request has settled: a second run would have written its line before this read.
    assert.deepEqual(await linesOf("once"), ["ann"]);
  } finally {
    await server.cleanup();
  }
});

test("Idempotency-Key across three replicas on one Redis: one request runs, every 202 names it", async (t) => {
  let redis: RedisServer;
  try {
    redis = await startRedisServer();
  } catch (error) {
    t.skip(`no redis-server: ${(error as Error).message}`);
    return;
  }
  const replicas: Running[] = [];
  try {
    const flags = {
      repo,
      store: "redis",
      "redis-url": redis.url,
      "redis-key-prefix": `idem-${randomUUID()}:`,
    };
    for (let i = 0; i < 3; i++)
      replicas.push(await startServer(flags, { env: { GITFAAS_REDIS_PASSWORD: redis.password } }));
    const key = { "idempotency-key": randomUUID() };
    const answers = await Promise.all(
      replicas.map((replica) => http(replica.url, "POST", "/publish/once?who=cy", "x", "text/plain", key)),
    );
    const accepted = answers.filter((answer) => answer.status === 202);
    // A repeat that arrives while the first is under way is told so (409), never run.
    for (const answer of answers.filter((a) => a.status !== 202))
      assert.equal(answer.json.code, "IDEMPOTENCY_KEY_IN_PROGRESS");
    assert.ok(accepted.length >= 1);
    const uids = new Set(accepted.map((answer) => answer.json.requestUid));
    assert.equal(uids.size, 1);
    const [requestUid] = [...uids] as [string];
    await settled(replicas[2]!.url, requestUid);
    const later = await http(replicas[1]!.url, "POST", "/publish/once?who=cy", "x", "text/plain", key);
    assert.equal(later.json.requestUid, requestUid);
    assert.deepEqual(
      (await linesOf("once")).filter((who) => who === "cy"),
      ["cy"],
    );
  } finally {
    for (const replica of replicas) await replica.cleanup();
    await redis.stop();
  }
});

test("replay: the same body and values again as a new request linked by replayOf; ?failed=true runs only what failed", async () => {
  const server = await startServer({ repo });
  try {
    const first = await http(server.url, "POST", "/publish/mixed?who=dee&fail=yes", "b", "text/plain");
    assert.equal(first.status, 202, first.text);
    const original = first.json.requestUid as string;
    const done = await settled(server.url, original);
    // The good one has answered (it may still be exiting); the bad one has failed.
    assert.deepEqual(
      done.functions.filter((fn) => fn.status === "failed").map((fn) => fn.path),
      ["bad.yaml"],
    );
    assert.equal(done.replayOf, null);

    const failedOnly = await http(server.url, "POST", `/requests/${original}/replay?failed=true`);
    assert.equal(failedOnly.status, 202, failedOnly.text);
    assert.equal(failedOnly.json.replayOf, original);
    const rerun = await settled(server.url, failedOnly.json.requestUid as string);
    assert.deepEqual(
      rerun.functions.map((fn) => fn.path),
      ["bad.yaml"],
    );
    assert.equal(rerun.replayOf, original);

    const whole = await http(server.url, "POST", `/requests/${original}/replay`);
    assert.equal(whole.status, 202, whole.text);
    const all = await settled(server.url, whole.json.requestUid as string);
    assert.deepEqual(
      all.functions.map((fn) => fn.path),
      ["good.yaml", "bad.yaml"],
    );
    // The query values came back with the replays: `who` reached every run.
    assert.deepEqual(await linesOf("good"), ["dee", "dee"]);
    assert.deepEqual(await linesOf("bad"), ["dee", "dee", "dee"]);

    const good = await http(
      server.url,
      "POST",
      `/requests/${whole.json.requestUid as string}/replay?failed=true`,
    );
    assert.equal(good.status, 202);
    const unknown = await http(server.url, "POST", `/requests/r-${randomUUID()}/replay`);
    assert.equal(unknown.json.code, "REQUEST_NOT_FOUND");
  } finally {
    await server.cleanup();
  }
});
