import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Redis } from "ioredis";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import { RedisStore } from "../src/store/index.js";
import { http, nodeJob, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { replicaProcess } from "./support/replica-process.js";
import { startRedisServer } from "./support/redis-server.js";

/**
 * Replicas sharing one Redis, each running its lambdas on its local runtime: a replica killed with
 * SIGKILL stops renewing its lease, and another settles its runs, once.
 */
const redis = await startRedisServer();
after(() => redis.stop());
const work = await tempDir("lease");
after(() => rm(work, { recursive: true, force: true }));
const gate = join(work, "gate");
after(() => writeFile(gate, "").catch(() => undefined));
const repo = join(work, "repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "gated", configs: ["gated.yaml"] }] }),
  // Runs until the gate opens (at the end of the test), never answering before.
  "gated.yaml": nodeJob(
    "gated",
    `const { existsSync } = await import("node:fs");
// Ends once the gate opens, or once its folder is gone (the test ended): nothing is left running.
const dir = process.env.GATE.slice(0, process.env.GATE.lastIndexOf("/"));
while (!existsSync(process.env.GATE) && existsSync(dir)) await new Promise((resolve) => setTimeout(resolve, 50));`,
    { GATE: '"{{gate}}"' },
  ),
});

const prefix = "lease-test:";
const shared = { store: "redis", "redis-url": redis.url, "redis-key-prefix": prefix, "replica-lease": "1" };

/** A replica as its own process, so that it can be killed with SIGKILL. */
const replica = (dataDir: string) =>
  replicaProcess({ repo, dataDir, flags: shared }, { GITFAAS_REDIS_PASSWORD: redis.password });

test(
  "a replica killed mid-run: another settles its run as failed once its lease expires",
  { timeout: 60_000 },
  async () => {
    const dying = await replica(join(work, "a"));
    const survivor = await startServer(shared, {
      dataDir: join(work, "b"),
      env: { GITFAAS_REDIS_PASSWORD: redis.password },
    });
    after(() => survivor.close());

    const published = await http(dying.url, "POST", `/publish/gated?gate=${gate}`, "x", "text/plain");
    assert.equal(published.status, 202, published.text);
    const requestUid = published.json.requestUid as string;
    const status = async () =>
      (
        (await http(survivor.url, "GET", `/response/${requestUid}`)).json.functions as { status: string }[]
      )[0]!;
    while ((await status()).status !== "running") await new Promise((resolve) => setTimeout(resolve, 50));
    await dying.kill9();

    // Held until the function settles: nothing else would settle it, since its lambda never answers.
    const settled = await http(survivor.url, "GET", `/response/${requestUid}?wait=30`);
    const fn = (settled.json.functions as { status: string; reason: string | null }[])[0]!;
    assert.equal(fn.status, "failed", settled.text);
    assert.match(fn.reason ?? "", /stopped renewing its lease/);
  },
);

test("runs whose replica's lease expired are taken over by exactly one of the replicas asking at once", async () => {
  const keyPrefix = "lease-race:";
  const connect = () =>
    RedisStore.connect({ url: redis.url, password: redis.password, keyPrefix, expirationSeconds: 60 });
  const stores = await Promise.all([connect(), connect(), connect()]);
  after(() => Promise.all(stores.map((store) => store.close())));
  const [dead, ...living] = stores;
  const runs = Array.from({ length: 20 }, () => newFunctionUid(newRequestUid()));
  await dead!.leases.renew("dead", 60_000);
  for (const uid of runs) await dead!.leases.own("dead", uid);
  // Alive: nothing to take.
  assert.deepEqual(await living[0]!.leases.takeOverExpired("r0"), []);
  const admin = new Redis(redis.url, { password: redis.password });
  after(() => admin.quit());
  // The living hold their leases, as every replica renews its own before it takes over others'.
  await Promise.all(living.map((store, i) => store.leases.renew(`r${i}`, 60_000)));
  await admin.del(`${keyPrefix}lease:dead`);
  const [first, second] = await Promise.all(living.map((store, i) => store.leases.takeOverExpired(`r${i}`)));
  assert.deepEqual([...first!, ...second!].sort(), [...runs].sort());
  assert.ok(first!.length === 0 || second!.length === 0, "both replicas took runs of the same dead replica");
  assert.deepEqual(await living[0]!.leases.takeOverExpired("r0"), []);
});
