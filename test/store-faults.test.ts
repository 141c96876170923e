import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../src/logging/index.js";
import { STORE_RETRY_AFTER_SECONDS } from "../src/store/index.js";
import {
  http,
  nodeJob,
  startServer,
  tempDir,
  writeTree,
  type HttpAnswer,
} from "./support/gitfaas-fixture.js";
import { startRedisServer } from "./support/redis-server.js";
import { mountSmallDisk } from "./support/tmpfs.js";

// A lambda that runs until its go file exists, then ends without answering.
const repo = await tempDir("repo");
const signals = await tempDir("signals");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "slow", configs: ["slow.yaml"] }] }),
  "slow.yaml": nodeJob(
    "slow",
    `const { existsSync } = await import("node:fs");
while (!existsSync(process.env.GO)) await new Promise((resolve) => setTimeout(resolve, 50));`,
    { GO: '"{{go}}"' },
  ),
});
after(() => rm(repo, { recursive: true, force: true }));
after(() => rm(signals, { recursive: true, force: true }));

/** A logger whose messages can be waited on: the event a test waits for instead of sleeping. */
function listeningLogger(): { logger: Logger; heard: (message: string) => Promise<unknown> } {
  const events = new EventEmitter();
  const note = (_fields: object, message?: string): void => {
    if (message) events.emit(message);
  };
  const logger: Logger = { debug: note, info: note, warn: note, error: note, child: () => logger };
  return { logger, heard: (message) => once(events, message) };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function assertUnavailable(answer: HttpAnswer): void {
  assert.equal(answer.status, 503, answer.text);
  assert.equal(answer.json.code, "STORE_UNAVAILABLE");
  assert.equal(answer.headers.get("retry-after"), String(STORE_RETRY_AFTER_SECONDS));
}

interface Outage {
  readonly begin: () => Promise<void>;
  readonly end: () => Promise<void>;
}

/**
 * One function runs; the store goes down; publish and POST /response are refused with 503 and
 * nothing runs; the function ends meanwhile; the store comes back; its status is written and a
 * waiting reader gets it.
 */
async function outageScenario(
  server: Awaited<ReturnType<typeof startServer>>,
  outage: Outage,
  heard: (message: string) => Promise<unknown>,
): Promise<void> {
  const go = join(signals, randomUUID());
  const published = await http(server.url, "POST", `/publish/slow?go=${go}`);
  assert.equal(published.status, 202, published.text);
  const requestUid = published.json.requestUid as string;
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;
  const statusOf = async () =>
    ((await http(server.url, "GET", `/response/${requestUid}`)).json.functions as { status: string }[])[0]!
      .status;
  await until("the function to run", async () => (await statusOf()) === "running");

  await outage.begin();
  const ready = await http(server.url, "GET", "/readyz");
  assert.equal(ready.status, 503, ready.text);
  assert.match(ready.json.message!, /store/);
  assertUnavailable(await http(server.url, "POST", `/publish/slow?go=${go}`));
  assertUnavailable(await http(server.url, "POST", `/response/${functionUid}`, "late", "text/plain"));
  // The refused publish started nothing: a run folder is made before a publish answers.
  assert.deepEqual(await readdir(join(server.dataDir, "runs")), [functionUid]);

  const kept = heard("status kept until the store takes it");
  await writeFile(go, "");
  await kept;
  await outage.end();
  await until("/readyz", async () => (await http(server.url, "GET", "/readyz")).status === 200);
  const waited = await http(server.url, "GET", `/response/${requestUid}?wait=20`);
  assert.equal(waited.status, 200, waited.text);
  assert.equal((waited.json.functions as { status: string }[])[0]!.status, "succeeded", waited.text);
}

test(
  "sqlite on a full disk: 503 STORE_UNAVAILABLE, /readyz not ready; a status reported meanwhile is written once space is freed",
  { timeout: 90_000 },
  async (t) => {
    const disk = await mountSmallDisk("16m");
    if (typeof disk === "string") return t.skip(disk);
    const { logger, heard } = listeningLogger();
    const server = await startServer({ repo }, { dataDir: join(disk.dir, "data"), logger });
    try {
      await outageScenario(server, { begin: () => disk.fill(), end: () => disk.free() }, heard);
    } finally {
      await server.close();
      await disk.unmount();
    }
  },
);

test(
  "redis stopped: 503 STORE_UNAVAILABLE, /readyz not ready; a status reported meanwhile is written once redis is back",
  { timeout: 90_000 },
  async () => {
    const redis = await startRedisServer({ persistent: true });
    const { logger, heard } = listeningLogger();
    const server = await startServer(
      { repo, store: "redis", "redis-url": redis.url, "redis-key-prefix": `faults-${randomUUID()}:` },
      { env: { GITFAAS_REDIS_PASSWORD: redis.password }, logger },
    );
    try {
      await outageScenario(server, { begin: () => redis.kill(), end: () => redis.restart() }, heard);
    } finally {
      await server.cleanup();
      await redis.stop();
    }
  },
);
