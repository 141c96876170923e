import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../src/pipelines/index.js";
import { http, nodeJob, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { startRedisServer } from "./support/redis-server.js";

/** A clock the test moves; it never wakes the scheduler by itself: the test calls `tick()`. */
class ManualClock implements Clock {
  constructor(private at: Date) {}
  now(): Date {
    return this.at;
  }
  every(): () => void {
    return () => undefined;
  }
  set(at: string): void {
    this.at = new Date(at);
  }
}

let repo: string;
let runs: string;

/** A lambda that writes one line to `<runs>/<name>`, then waits for `<runs>/<name>.release` when told to. */
const recorder = (name: string, hold: boolean) =>
  nodeJob(
    name,
    `
import { appendFileSync, existsSync } from "node:fs";
const file = ${JSON.stringify("RUNS_DIR")} + "/${name}";
appendFileSync(file, process.env.WHO + "\\n");
while (${hold} && !existsSync(file + ".release")) await new Promise((resolve) => setTimeout(resolve, 50));
`,
    { WHO: '"{{who}}"' },
  );

before(async () => {
  repo = await tempDir("schedules-repo");
  runs = await tempDir("schedules-runs");
  const every5 = { cron: "*/5 * * * *", timezone: "Europe/Oslo", params: { who: "cron" } };
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "held", configs: ["held.yaml"], schedule: { ...every5, concurrency: "forbid" } },
        { name: "shared", configs: ["shared.yaml"], schedule: every5 },
        { name: "late", configs: ["late.yaml"], schedule: { ...every5, catchUp: "last" } },
        { name: "missed", configs: ["missed.yaml"], schedule: every5 },
      ],
    }),
    "held.yaml": recorder("held", true).replace("RUNS_DIR", runs),
    "shared.yaml": recorder("shared", false).replace("RUNS_DIR", runs),
    "late.yaml": recorder("late", false).replace("RUNS_DIR", runs),
    "missed.yaml": recorder("missed", false).replace("RUNS_DIR", runs),
  });
});

after(async () => {
  await rm(repo, { recursive: true, force: true });
  await rm(runs, { recursive: true, force: true });
});

async function linesOf(name: string): Promise<number> {
  const text = await readFile(join(runs, name), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).length;
}

async function finished(url: string, requestUid: string): Promise<void> {
  const answer = await http(url, "GET", `/response/${requestUid}?wait=30`);
  assert.equal(answer.status, 200, answer.text);
}

const outcomeOf = (outcomes: { topic: string; outcome: string; requestUid?: string }[], topic: string) =>
  outcomes.find((item) => item.topic === topic);

test("forbid: a tick is skipped while the previous scheduled run is unfinished; /status shows next and last", async () => {
  const clock = new ManualClock(new Date("2026-03-01T10:01:00Z"));
  const server = await startServer({ repo }, { clock });
  try {
    assert.deepEqual(await server.scheduler.tick(), []);
    clock.set("2026-03-01T10:05:00Z");
    const first = outcomeOf(await server.scheduler.tick(), "held");
    assert.equal(first?.outcome, "published");
    clock.set("2026-03-01T10:10:00Z");
    assert.equal(outcomeOf(await server.scheduler.tick(), "held")?.outcome, "skipped");
    await writeFile(join(runs, "held.release"), "");
    await finished(server.url, first?.requestUid ?? "");
    clock.set("2026-03-01T10:15:00Z");
    assert.equal(outcomeOf(await server.scheduler.tick(), "held")?.outcome, "published");

    const status = await http(server.url, "GET", "/status");
    const held = (status.json.schedules as { topic: string; next: string; lastFire: { at: string } }[]).find(
      (schedule) => schedule.topic === "held",
    );
    assert.equal(held?.next, "2026-03-01T10:20:00.000Z");
    assert.equal(held?.lastFire.at, "2026-03-01T10:15:00.000Z");
  } finally {
    await server.cleanup();
  }
});

test("catchUp: after downtime, 'last' runs the latest missed tick once, 'none' skips them", async () => {
  const dataDir = await tempDir("schedules-data");
  try {
    const clock = new ManualClock(new Date("2026-03-02T10:01:00Z"));
    const first = await startServer({ repo }, { clock, dataDir });
    await first.scheduler.tick();
    clock.set("2026-03-02T10:05:00Z");
    const fired = await first.scheduler.tick();
    assert.equal(outcomeOf(fired, "late")?.outcome, "published");
    assert.equal(outcomeOf(fired, "missed")?.outcome, "published");
    await first.cleanup();

    // Down from 10:05 to 10:27: the ticks of 10:10 to 10:25 were missed.
    clock.set("2026-03-02T10:27:00Z");
    const second = await startServer({ repo }, { clock, dataDir });
    try {
      const caught = await second.scheduler.tick();
      assert.deepEqual(
        caught.map(({ topic, outcome, at }) => [topic, outcome, at.toISOString()]),
        [["late", "published", "2026-03-02T10:25:00.000Z"]],
      );
      assert.deepEqual(await second.scheduler.tick(), []);
    } finally {
      await second.cleanup();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("exactly once across three replicas on one redis-server: one claims the tick, two find it taken", async () => {
  const redis = await startRedisServer();
  const flags = {
    repo,
    store: "redis",
    "redis-url": redis.url,
    "redis-key-prefix": `sched-${randomUUID()}:`,
  };
  const clocks = [0, 1, 2].map(() => new ManualClock(new Date("2026-03-03T10:01:00Z")));
  const replicas = [];
  try {
    for (const clock of clocks)
      replicas.push(await startServer(flags, { clock, env: { GITFAAS_REDIS_PASSWORD: redis.password } }));
    const before = await linesOf("shared");
    await Promise.all(replicas.map((replica) => replica.scheduler.tick()));
    for (const clock of clocks) clock.set("2026-03-03T10:05:00Z");
    const ticks = await Promise.all(replicas.map((replica) => replica.scheduler.tick()));
    const shared = ticks.map((outcomes) => outcomeOf(outcomes, "shared"));
    assert.deepEqual(shared.map((item) => item?.outcome).sort(), ["published", "taken", "taken"]);
    const published = shared.find((item) => item?.outcome === "published");
    // Every replica has answered for the tick; the one request has finished: its one line is written.
    await finished(replicas[0]!.url, published?.requestUid ?? "");
    assert.equal((await linesOf("shared")) - before, 1);
  } finally {
    for (const replica of replicas) await replica.cleanup();
    await redis.stop();
  }
});
