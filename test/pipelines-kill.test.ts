import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RedisStore, type RequestRecord, type Store } from "../src/store/index.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { startRedisServer } from "./support/redis-server.js";
import { replicaProcess } from "./support/replica-process.js";

/**
 * Issue 12: next steps fire exactly once with three replicas on one Redis, each running lambdas on its
 * local runtime, when one of them is killed with SIGKILL mid-run, and when one dies after storing a
 * function's finish but before claiming its next steps.
 */
const redis = await startRedisServer();
after(() => redis.stop());
const work = await tempDir("pipelines-kill");
after(() => rm(work, { recursive: true, force: true }));
const gate = join(work, "gate");
const repo = join(work, "repo");
await writeTree(repo, {
  "config.json": JSON.stringify({
    topics: [
      {
        name: "work",
        configs: ["gated.yaml", "quick.yaml"],
        onSuccess: ["after"],
        onFailure: ["alarm"],
        join: "report",
      },
      { name: "after", configs: ["echo.yaml"] },
      { name: "alarm", configs: ["echo.yaml"] },
      { name: "report", configs: ["echo.yaml"] },
      { name: "x", configs: ["gated.yaml"], onSuccess: ["y"] },
      { name: "y", configs: ["echo.yaml"] },
      // Once a year: no tick falls due while the test runs, only the one the test claims.
      {
        name: "yearly",
        configs: ["echo.yaml"],
        schedule: { cron: "0 0 1 1 *", timezone: "UTC", body: { n: 7 } },
      },
    ],
  }),
  // Runs until the gate opens, never answering; ends once its folder is gone (the test ended).
  "gated.yaml": nodeJob(
    "gated",
    `const { existsSync } = await import("node:fs");
const dir = process.env.GATE.slice(0, process.env.GATE.lastIndexOf("/"));
while (!existsSync(process.env.GATE) && existsSync(dir)) await new Promise((resolve) => setTimeout(resolve, 50));`,
    { GATE: '"{{gate}}"' },
  ),
  "quick.yaml": nodeJob("quick", respondWith("({ quick: true })")),
  "echo.yaml": nodeJob("echo", respondWith("JSON.parse(payload)")),
});
after(() => writeFile(gate, "").catch(() => undefined));

const prefix = `pipelines-kill-${randomUUID()}:`;
const shared = { store: "redis", "redis-url": redis.url, "redis-key-prefix": prefix, "replica-lease": "1" };
const env = { GITFAAS_REDIS_PASSWORD: redis.password };
const b = await startServer({ ...shared, repo }, { env });
after(() => b.cleanup());
const c = await startServer({ ...shared, repo }, { env });
after(() => c.cleanup());

const publish = async (url: string, topic: string): Promise<string> => {
  const published = await http(url, "POST", `/publish/${topic}?gate=${encodeURIComponent(gate)}`);
  assert.equal(published.status, 202, published.text);
  return published.json.requestUid as string;
};

/** Reads the run through B until `holds` (each read waits for a change of the run, up to 2 s). */
async function runUntil(root: string, holds: (run: RequestRecord[]) => boolean): Promise<RequestRecord[]> {
  for (;;) {
    const run = await b.store.listTree(root);
    if (holds(run)) return run;
    await http(b.url, "GET", `/requests/${root}/tree?wait=2`);
  }
}

async function finished(root: string): Promise<void> {
  const read = await http(b.url, "GET", `/requests/${root}/tree?wait=60`);
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json.finished, true, read.text);
}

/** Every replica left hears every finish of the run again and sweeps: nothing may fire twice. */
async function heardAgain(root: string): Promise<void> {
  const uids = (await b.store.listTree(root)).flatMap((request) =>
    request.functions.map((fn) => fn.functionUid),
  );
  await Promise.all(uids.flatMap((uid) => [b, c].map((replica) => replica.nextSteps.functionFinished(uid))));
  await Promise.all([b.nextSteps.sweep(), c.nextSteps.sweep()]);
}

const topicsOf = (run: RequestRecord[]) => run.map((request) => request.topic).sort();

test(
  "a replica killed with SIGKILL mid-run: its run's onSuccess, onFailure and join fire once each, through the two left",
  { timeout: 90_000 },
  async () => {
    const a = await replicaProcess({ repo, dataDir: join(work, "a"), flags: shared }, env);
    const root = await publish(a.url, "work");
    // Killed once the quick function's step is out and while the gated one runs on A.
    await runUntil(
      root,
      (run) =>
        run.some((request) => request.topic === "after") &&
        run.find((request) => request.requestUid === root)?.functions[0]?.status === "running",
    );
    await a.kill9();

    // B or C takes A's runs over once its lease expires, settles the gated one as failed, and the
    // request owes its onFailure and, all finished now, its join.
    await finished(root);
    await heardAgain(root);
    const run = await b.store.listTree(root);
    assert.deepEqual(topicsOf(run), ["after", "alarm", "report", "work"]);
    const [gated, quick] = run.find((request) => request.requestUid === root)?.functions ?? [];
    assert.equal(gated?.status, "failed");
    assert.match(gated?.reason ?? "", /stopped renewing its lease/);
    assert.equal(quick?.status, "succeeded");
    const report = run.find((request) => request.topic === "report")?.functions[0];
    const joined = JSON.parse(report?.response?.body.toString() ?? "null") as { status: string }[];
    assert.deepEqual(
      joined.map((entry) => entry.status),
      ["failed", "succeeded"],
    );
  },
);

test(
  "a replica killed after storing a finish, before claiming its next step: another replica's sweep fires it, once",
  { timeout: 90_000 },
  async () => {
    // Its lease outlives the test: no replica takes its runs over (which would fire the step anew).
    const dying = await replicaProcess(
      { repo, dataDir: join(work, "dying"), flags: { ...shared, "replica-lease": "3600" } },
      env,
    );
    const root = await publish(dying.url, "x");
    const [running] = (await runUntil(root, (run) => run[0]?.functions[0]?.status === "running"))[0]!
      .functions;
    // Its last writes, as its status outbox makes them (the same store call), then it dies before
    // hearing of them. The finish is dated over a lease ago, as a finish no replica took up in time.
    const store: Store = await RedisStore.connect({
      url: redis.url,
      password: redis.password,
      keyPrefix: prefix,
      expirationSeconds: 3600,
    });
    after(() => store.close());
    await store.putResponse(running!.functionUid, {
      body: Buffer.from('{"n":1}'),
      contentType: "application/json",
      at: new Date(),
    });
    await store.updateStatus(running!.functionUid, {
      status: "succeeded",
      finishedAt: new Date(Date.now() - 60_000),
    });
    await dying.kill9();

    const read = await http(b.url, "GET", `/requests/${root}/tree`);
    assert.equal(read.json.finished, false, read.text);
    assert.deepEqual(await b.store.listOwedSteps(new Date()), [running!.functionUid]);
    const fired = await Promise.all([b.nextSteps.sweep(), c.nextSteps.sweep()]);
    assert.equal(fired[0]! + fired[1]!, 1);
    await finished(root);
    await heardAgain(root);
    const run = await b.store.listTree(root);
    assert.deepEqual(topicsOf(run), ["x", "y"]);
    const y = run.find((request) => request.topic === "y")?.functions[0];
    assert.equal(y?.response?.body.toString(), '{"n":1}');
    assert.deepEqual(await b.store.listOwedSteps(new Date(Date.now() + 3_600_000)), []);
  },
);

test(
  "a replica killed after claiming a schedule's tick, before publishing it: another replica's sweep publishes it, once",
  { timeout: 90_000 },
  async () => {
    const dying = await replicaProcess({ repo, dataDir: join(work, "ticking"), flags: shared }, env);
    // Its scheduler's claim (the same store call), then it dies before publishing. Claimed over a lease
    // ago, as a tick no replica settled in time.
    const store: Store = await RedisStore.connect({
      url: redis.url,
      password: redis.password,
      keyPrefix: prefix,
      expirationSeconds: 3600,
    });
    after(() => store.close());
    const claim = {
      topic: "yearly",
      at: new Date("2026-01-01T00:00:00Z"),
      requestUid: `r-${randomUUID()}`,
      claimedAt: new Date(Date.now() - 60_000),
    };
    assert.equal(await store.claimScheduleTick(claim), true);
    await dying.kill9();

    const swept = (await Promise.all([b.scheduler.sweep(), c.scheduler.sweep()])).flat();
    assert.deepEqual(
      swept.map((tick) => [tick.outcome, tick.requestUid]),
      [["published", claim.requestUid]],
    );
    assert.deepEqual((await Promise.all([b.scheduler.sweep(), c.scheduler.sweep()])).flat(), []);
    assert.deepEqual(await b.store.lastScheduleFire("yearly"), {
      at: claim.at,
      requestUid: claim.requestUid,
    });
    await finished(claim.requestUid);
    const [answer] = (await b.store.getRequest(claim.requestUid))?.functions ?? [];
    assert.equal(answer?.response?.body.toString(), '{"n":7}');
    assert.deepEqual(await b.store.listStaleTicks(new Date(Date.now() + 3_600_000)), []);
  },
);
