import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { parseSettings } from "../src/settings/index.js";
import { RedisStore, type Store } from "../src/store/index.js";
import { startRedisServer, type RedisServer } from "./support/redis-server.js";
import { pipelineStoreContract } from "./support/pipeline-store-contract.js";
import { newFunctionUid, newRequestUid, storeContract } from "./support/store-contract.js";

let server: RedisServer;
let admin: Redis;
before(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url, { password: server.password });
});
after(async () => {
  admin?.disconnect();
  await server?.stop();
});

/** A fresh key prefix per store, so tests sharing the server never see each other's keys. */
function newPrefix(): string {
  return `test:${randomUUID()}:`;
}

function connect(expirationSeconds: number, keyPrefix = newPrefix()): Promise<RedisStore> {
  return RedisStore.connect({ url: server.url, password: server.password, keyPrefix, expirationSeconds });
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== "0");
  return keys.sort();
}

function request(functionCount = 1, createdAt = new Date()) {
  const requestUid = newRequestUid();
  return {
    requestUid,
    topic: "t",
    revision: "r1",
    payload: Buffer.from("hello"),
    contentType: "text/plain",
    createdAt,
    functions: Array.from({ length: functionCount }, (_, i) => ({
      functionUid: newFunctionUid(requestUid),
      path: `f${i}.yaml`,
    })),
  };
}

const prefixes = new Map<Store, string>();

storeContract(
  "redis",
  async (expirationSeconds) => {
    const prefix = newPrefix();
    const store = await connect(expirationSeconds, prefix);
    prefixes.set(store, prefix);
    return store;
  },
  async (closed) => {
    const prefix = prefixes.get(closed)!;
    const members = await Promise.all(
      ["expiries", "unfinished"].map((index) => admin.zrange(`${prefix}${index}`, "0", "-1")),
    );
    return [...(await keysUnder(prefix)), ...members.flat()];
  },
);
pipelineStoreContract("redis", (expirationSeconds) => connect(expirationSeconds));

test("redis: the server refuses a missing or wrong password, and the error does not echo it", async () => {
  await assert.rejects(RedisStore.connect({ url: server.url, expirationSeconds: 60 }), /NOAUTH|auth/i);
  const wrong = `not-${server.password}`;
  await assert.rejects(
    RedisStore.connect({ url: server.url, password: wrong, expirationSeconds: 60 }),
    (error: Error) => {
      assert.match(error.message, /WRONGPASS|invalid/i);
      assert.ok(!error.message.includes(wrong));
      return true;
    },
  );
});

test("redis: payloads and responses are binary-safe", async () => {
  const store = await connect(60);
  try {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const req = { ...request(1), payload: Buffer.concat([every, every.reverse()]) };
    await store.createRequest(req);
    const uid = req.functions[0]!.functionUid;
    assert.deepEqual((await store.getPayload(uid))?.body, req.payload);
    const answer = Buffer.from([0, 0xff, 0xfe, 0x0a, 0x0d, 0x00, 0xc3, 0x28]);
    await store.putResponse(uid, { body: answer, contentType: "application/octet-stream", at: new Date() });
    const fn = (await store.getRequest(req.requestUid))?.functions[0];
    assert.deepEqual(fn?.response?.body, answer);
    assert.equal(fn?.response?.contentType, "application/octet-stream");
    assert.deepEqual((await store.getFunction(uid))?.response?.body, answer);
  } finally {
    await store.close();
  }
});

test("redis: every key of a request has its TTL, and an answer extends it to now + expiration", async () => {
  const prefix = newPrefix();
  const store = await connect(100, prefix);
  const shortLived = await connect(5, prefix);
  try {
    // Published 90 s ago with a 100 s expiration: 10 s left.
    const req = request(2, new Date(Date.now() - 90_000));
    await store.createRequest(req);
    const requestKeys = (await keysUnder(prefix)).filter((key) => !/:(unfinished|expiries)$/.test(key));
    assert.equal(requestKeys.length, 4, requestKeys.join(" ")); // request, its function list, 2 functions
    for (const key of requestKeys) {
      const ttl = await admin.pttl(key);
      assert.ok(ttl > 8_000 && ttl <= 10_000, `${key}: ${ttl}`);
    }

    await store.putResponse(req.functions[1]!.functionUid, {
      body: Buffer.from("late"),
      contentType: "text/plain",
      at: new Date(),
    });
    for (const key of requestKeys) {
      const ttl = await admin.pttl(key);
      assert.ok(ttl > 98_000 && ttl <= 100_000, `${key}: ${ttl}`);
    }
    const expiresAt = (await store.getRequest(req.requestUid))?.expiresAt.getTime() ?? 0;
    assert.ok(Math.abs(expiresAt - (Date.now() + 100_000)) < 2_000);

    // A replica with a shorter expiration never shortens a request's life.
    await shortLived.putResponse(req.functions[0]!.functionUid, {
      body: Buffer.from("again"),
      contentType: "text/plain",
      at: new Date(),
    });
    for (const key of requestKeys) assert.ok((await admin.pttl(key)) > 90_000, key);
    assert.equal((await store.getRequest(req.requestUid))?.expiresAt.getTime(), expiresAt);
  } finally {
    await shortLived.close();
    await store.close();
  }
});

test("redis: a watcher on one replica hears changes stored through another", async () => {
  const prefix = newPrefix();
  const [a, b] = await Promise.all([connect(60, prefix), connect(60, prefix)]);
  try {
    const req = request(1);
    await a.createRequest(req);
    const uid = req.functions[0]!.functionUid;
    let heard = 0;
    const stop = b.watchRequest(req.requestUid, () => heard++);
    // Once the subscription is active the watcher is woken (so a change just before it is never missed).
    const deadline = Date.now() + 5_000;
    while (heard === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const subscribed = heard;
    assert.ok(subscribed >= 1);
    for (const change of [
      () => a.recordApply(uid, { error: false, code: null, message: "started" }),
      () => a.updateStatus(uid, { status: "running", attempts: 1 }),
      () => a.putResponse(uid, { body: Buffer.from("x"), contentType: "text/plain", at: new Date() }),
    ]) {
      const before = heard;
      await change();
      while (heard === before && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(heard, before + 1);
    }
    // A watcher still registered on the same replica hears the change the stopped one would have.
    const heardByOther = new Promise<void>((resolve) => {
      const off = b.watchRequest(req.requestUid, () => {
        off();
        resolve();
      });
    });
    stop();
    const before = heard;
    await a.updateStatus(uid, { status: "succeeded" });
    await heardByOther;
    assert.equal(heard, before);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test("redis: concurrent status reports from replicas never move a status backwards", async () => {
  const prefix = newPrefix();
  const [a, b] = await Promise.all([connect(60, prefix), connect(60, prefix)]);
  try {
    const req = request(1);
    await a.createRequest(req);
    const uid = req.functions[0]!.functionUid;
    await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => a.updateStatus(uid, { status: "running", attempts: i })),
      b.updateStatus(uid, { status: "failed", reason: "first", finishedAt: new Date() }),
      ...Array.from({ length: 50 }, () => b.updateStatus(uid, { status: "pending" })),
      ...Array.from({ length: 50 }, () => a.updateStatus(uid, { status: "succeeded", reason: "second" })),
    ]);
    const fn = await b.getFunction(uid);
    assert.ok(fn?.status === "failed" || fn?.status === "succeeded");
    // Whichever finish landed first stays: the other one changed nothing.
    assert.equal(fn.reason, fn.status === "failed" ? "first" : "second");
    assert.deepEqual(await a.listUnfinished(), []);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test("redis: the unfinished index follows statuses and expiry; purge deletes every key of a request", async () => {
  const prefix = newPrefix();
  const store = await connect(60, prefix);
  try {
    const first = request(2);
    const second = request(1, new Date(Date.now() + 1));
    await store.createRequest(second);
    await store.createRequest(first);
    const unfinishedKey = `${prefix}unfinished`;
    assert.equal(await admin.zcard(unfinishedKey), 3);
    assert.deepEqual(
      (await store.listUnfinished()).map((f) => [f.functionUid, f.topic, f.index]),
      [
        [first.functions[0]!.functionUid, "t", 0],
        [first.functions[1]!.functionUid, "t", 1],
        [second.functions[0]!.functionUid, "t", 0],
      ],
    );
    await store.updateStatus(first.functions[0]!.functionUid, { status: "succeeded" });
    assert.equal(await admin.zcard(unfinishedKey), 2);

    // Redis drops the keys by TTL; the index forgets them at the next read.
    await admin.del(`${prefix}function:${second.functions[0]!.functionUid}`);
    assert.equal((await store.listUnfinished()).length, 1);
    assert.equal(await admin.zcard(unfinishedKey), 1);

    // purgeExpired, as SQLite, deletes whatever expires by `now` and counts the requests.
    assert.equal(await store.purgeExpired(new Date(Date.now() + 30_000)), 0);
    assert.equal(await store.purgeExpired(new Date(Date.now() + 61_000)), 2);
    assert.deepEqual(await keysUnder(prefix), []);
    assert.equal(await store.getRequest(first.requestUid), undefined);
  } finally {
    await store.close();
  }
});

test("redis: ping answers while connected (also while watching) and fails once closed", async () => {
  const store = await connect(60);
  await store.ping();
  let subscribed!: () => void;
  const active = new Promise<void>((resolve) => (subscribed = resolve));
  const stop = store.watchRequest(newRequestUid(), () => subscribed());
  await active;
  await store.ping();
  stop();
  await store.close();
  await assert.rejects(store.ping());
});

test("settings: --store redis, its URL and a password from the environment or a file only", async () => {
  const defaults = parseSettings({}, {});
  assert.equal(defaults.store, "sqlite");
  assert.deepEqual(defaults.redis, {
    url: "redis://127.0.0.1:6379",
    password: undefined,
    keyPrefix: "gitfaas:",
  });

  const fromEnv = parseSettings(
    { store: "redis", "redis-url": "redis://cache:6380/2", "redis-key-prefix": "x:" },
    { GITFAAS_REDIS_PASSWORD: "from-env" },
  );
  assert.equal(fromEnv.store, "redis");
  assert.deepEqual(fromEnv.redis, { url: "redis://cache:6380/2", password: "from-env", keyPrefix: "x:" });

  const dir = await mkdtemp(join(tmpdir(), "gitfaas-redis-settings-"));
  try {
    await writeFile(join(dir, "password"), "from-file\n");
    const fromFile = parseSettings(
      { store: "redis", "redis-password-file": join(dir, "password") },
      { GITFAAS_REDIS_PASSWORD: "from-env" },
    );
    assert.equal(fromFile.redis.password, "from-file");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  for (const url of ["redis://:s3cr3t@cache:6379", "redis://user:s3cr3t@cache:6379", "rediss://u:s3cr3t@h"]) {
    assert.throws(
      () => parseSettings({ store: "redis", "redis-url": url }, {}),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "INVALID_SETTING");
        assert.ok(!error.message.includes("s3cr3t"), error.message);
        return true;
      },
    );
  }
  assert.throws(() => parseSettings({ "redis-url": "http://cache:6379" }, {}), { code: "INVALID_SETTING" });
  assert.throws(() => parseSettings({ store: "memcached" }, {}), { code: "INVALID_SETTING" });
  assert.equal(
    parseSettings({ "redis-url": "redis://user@cache:6379" }, {}).redis.url,
    "redis://user@cache:6379",
  );
});

/** Resolves once `check` stops throwing: for a client reconnecting by itself. */
async function eventually(check: () => Promise<unknown>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

test(
  "redis: a hung or stopped server fails calls within the command timeout as STORE_UNAVAILABLE, and a refused write is not sent later",
  { timeout: 30_000 },
  async () => {
    const own = await startRedisServer({ persistent: true });
    const store = await RedisStore.connect({
      url: own.url,
      password: own.password,
      keyPrefix: newPrefix(),
      expirationSeconds: 60,
    });
    try {
      const kept = request(1);
      await store.createRequest(kept);
      // Hung: the connection stays open and nothing answers. Without a command timeout these never end.
      process.kill(own.pid, "SIGSTOP");
      const hung = await Promise.allSettled([store.getRequest(kept.requestUid), store.ping()]);
      process.kill(own.pid, "SIGCONT");
      for (const outcome of hung) {
        assert.equal(outcome.status, "rejected");
        assert.equal(
          ((outcome as PromiseRejectedResult).reason as { code?: string }).code,
          "STORE_UNAVAILABLE",
        );
      }
      await store.ping();

      await own.kill();
      const refused = request(1);
      await assert.rejects(store.createRequest(refused), { code: "STORE_UNAVAILABLE" });
      await assert.rejects(store.updateStatus(kept.functions[0]!.functionUid, { status: "running" }), {
        code: "STORE_UNAVAILABLE",
      });
      await assert.rejects(store.getRequest(kept.requestUid), { code: "STORE_UNAVAILABLE" });
      await assert.rejects(store.ping(), { code: "STORE_UNAVAILABLE" });

      await own.restart();
      await eventually(() => store.ping());
      // A publish answered 503 must not be recorded after all once the server is back.
      assert.equal(await store.getRequest(refused.requestUid), undefined);
      assert.equal((await store.getFunction(kept.functions[0]!.functionUid))?.status, "pending");
    } finally {
      await store.close();
      await own.stop();
    }
  },
);
