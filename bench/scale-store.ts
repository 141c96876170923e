/**
 * A million finished functions in the store, one JSON line per figure, for SQLite and for a real
 * redis-server. Each store is measured empty first (the baseline, same run, same process), then filled
 * with BENCH_FUNCTIONS finished functions (one request each: created, applied, succeeded, a response
 * posted — what a finished publish leaves) through the store's own port, written in batches: the
 * SQLite store commits what is issued in one turn as one transaction, Redis gets the commands pipelined.
 * Figures:
 * - `store_publish_<kind>`: what a publish writes (createRequest + recordApply), p50/p99, full vs empty;
 * - `store_get_response_<kind>`: what `GET /response` reads (getRequest), p50, full vs empty;
 * - `store_size_<kind>`: SQLite file + WAL bytes, or Redis `used_memory`, full vs empty;
 * - `store_sweep_<kind>`: purgeExpired of all of them; baseline: the time it took to write them.
 *   Publishes keep running during the sweep: their p99 and max tell how long the sweep holds them up.
 * The store is measured in-process, without HTTP: the figure is the store's, which is what its size
 * weighs on (the HTTP part is the same for an empty and a full store).
 *   npm run bench:scale-store      (BENCH_FUNCTIONS=1000000, BENCH_SAMPLES=2000, BENCH_STORES=sqlite,redis)
 */
import { rm, stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { Redis } from "ioredis";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import { RedisStore, SqliteStore, type NewRequest, type Store } from "../src/store/index.js";
import { emit, percentile, round, timed } from "./support/measure.js";
import { tempDir } from "../test/support/gitfaas-fixture.js";
import { startRedisServer } from "../test/support/redis-server.js";

const FUNCTIONS = Number(process.env.BENCH_FUNCTIONS ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);
const STORES = (process.env.BENCH_STORES ?? "sqlite,redis").split(",");
/** Functions written per batch while filling. */
const BATCH = 2000;
const EXPIRATION_SECONDS = 86_400;
/** The filled requests were created at this time (a posted response extends a request's life from then on). */
const FILLED_AT = Date.now() - 1000;
const WARM_UP = 200;
const PAYLOAD = Buffer.from('{"hello":"world"}');
const RESPONSE = Buffer.from('{"answer":42}');

interface Subject {
  readonly kind: string;
  readonly store: Store;
  /** Bytes the store takes: file + WAL, or Redis's used_memory. */
  size(): Promise<number>;
  close(): Promise<void>;
}

function request(createdAt: Date): NewRequest {
  const requestUid = newRequestUid();
  return {
    requestUid,
    topic: "bench",
    revision: "0123456789abcdef0123456789abcdef01234567",
    payload: PAYLOAD,
    contentType: "application/json",
    createdAt,
    functions: [{ functionUid: newFunctionUid(requestUid), path: "job.yaml" }],
  };
}

const APPLIED = { error: false, code: null, message: "applied Job/bench-x in bench" };

/** One finished function's writes, issued without waiting in between (they queue in order). */
function finished(store: Store): Promise<unknown>[] {
  const made = request(new Date(FILLED_AT));
  const functionUid = made.functions[0]!.functionUid;
  const at = new Date(FILLED_AT);
  return [
    store.createRequest(made),
    store.recordApply(functionUid, APPLIED),
    store.updateStatus(functionUid, { status: "succeeded", attempts: 1, startedAt: at, finishedAt: at }),
    store.putResponse(functionUid, { body: RESPONSE, contentType: "application/json", at }),
  ];
}

async function fill(store: Store, count: number): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < count; done += BATCH) {
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < Math.min(BATCH, count - done); i++) writes.push(...finished(store));
    await Promise.all(writes);
    if ((done / BATCH) % 50 === 0) process.stderr.write(`filled ${done}/${count}\n`);
  }
  return (performance.now() - started) / 1000;
}

/** What a publish writes in the store before it answers. */
async function publish(store: Store): Promise<string> {
  const made = request(new Date());
  await store.createRequest(made);
  await store.recordApply(made.functions[0]!.functionUid, APPLIED);
  return made.requestUid;
}

async function measure(store: Store) {
  for (let i = 0; i < WARM_UP; i++) await publish(store);
  const published: string[] = [];
  const publishes = await timed(SAMPLES, 1, async () => void published.push(await publish(store)));
  let next = 0;
  const reads = await timed(SAMPLES, 1, async () => {
    const found = await store.getRequest(published[next++ % published.length]!);
    if (!found) throw new Error("a request just published is missing");
  });
  return { publishes, reads };
}

/** Sweeps what was filled while one loop keeps publishing; how long, and what the publishes waited. */
async function sweep(store: Store, sweepAt: Date, expected: number) {
  const waits: number[] = [];
  let sweeping = true;
  const loop = (async () => {
    while (sweeping) {
      const t0 = performance.now();
      await publish(store);
      waits.push(performance.now() - t0);
    }
  })();
  const started = performance.now();
  const purged = await store.purgeExpired(sweepAt);
  const seconds = (performance.now() - started) / 1000;
  sweeping = false;
  await loop;
  if (purged !== expected) throw new Error(`the sweep purged ${purged} requests, not ${expected}`);
  return { seconds, waits };
}

async function sqliteSubject(dir: string): Promise<Subject> {
  const file = join(dir, "gitfaas.db");
  const store = new SqliteStore({ file, expirationSeconds: EXPIRATION_SECONDS });
  const bytes = (path: string) =>
    stat(path).then(
      (s) => s.size,
      () => 0,
    );
  return {
    kind: "sqlite",
    store,
    size: async () => (await bytes(file)) + (await bytes(`${file}-wal`)),
    close: () => store.close(),
  };
}

async function redisSubject(): Promise<Subject> {
  const server = await startRedisServer();
  const store = await RedisStore.connect({
    url: server.url,
    password: server.password,
    expirationSeconds: EXPIRATION_SECONDS,
    // A batch of writes queues in Redis behind the one before: the default 2 s is for production.
    commandTimeoutMs: 60_000,
  });
  const info = new Redis(server.url, { password: server.password });
  return {
    kind: "redis",
    store,
    size: async () => Number(/used_memory:(\d+)/.exec(await info.info("memory"))![1]),
    close: async () => {
      info.disconnect();
      await store.close();
      await server.stop();
    },
  };
}

async function bench(subject: Subject): Promise<void> {
  const { kind, store } = subject;
  const emptySize = await subject.size();
  const empty = await measure(store);
  const fillSeconds = await fill(store, FUNCTIONS);
  // Everything written so far expires at the latest then; what is published after it lives on.
  const sweepAt = new Date(Date.now() + EXPIRATION_SECONDS * 1000);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const fullSize = await subject.size();
  const full = await measure(store);
  const base = { functions: FUNCTIONS, baseline: "the same store empty, same run" };
  // Microseconds: an in-process store call takes tens of them.
  const us = (ms: number) => Math.round(ms * 1000);
  emit(`store_publish_${kind}`, {
    ...base,
    p50_us: us(full.publishes.p50),
    p99_us: us(full.publishes.p99),
    baseline_p50_us: us(empty.publishes.p50),
    baseline_p99_us: us(empty.publishes.p99),
    ratio_p50: round(full.publishes.p50 / empty.publishes.p50),
    ratio_p99: round(full.publishes.p99 / empty.publishes.p99),
  });
  emit(`store_get_response_${kind}`, {
    ...base,
    p50_us: us(full.reads.p50),
    p99_us: us(full.reads.p99),
    baseline_p50_us: us(empty.reads.p50),
    baseline_p99_us: us(empty.reads.p99),
    ratio_p50: round(full.reads.p50 / empty.reads.p50),
    ratio_p99: round(full.reads.p99 / empty.reads.p99),
  });
  emit(`store_size_${kind}`, {
    ...base,
    bytes: fullSize,
    bytes_per_function: round((fullSize - emptySize) / FUNCTIONS),
    baseline_bytes: emptySize,
    ratio: round(fullSize / emptySize),
    measures: kind === "sqlite" ? "file + WAL bytes" : "INFO memory used_memory",
  });
  // The filled functions, and the publishes measured on the empty store.
  const swept = await sweep(store, sweepAt, FUNCTIONS + WARM_UP + SAMPLES);
  emit(`store_sweep_${kind}`, {
    functions: FUNCTIONS,
    seconds: round(swept.seconds),
    per_second: round(FUNCTIONS / swept.seconds),
    baseline: "the time it took to write the same functions (4 writes each, batched)",
    baseline_seconds: round(fillSeconds),
    ratio: round(swept.seconds / fillSeconds),
    publishes_during_sweep: swept.waits.length,
    publish_p99_ms_during_sweep: round(percentile(swept.waits, 99)),
    publish_max_ms_during_sweep: round(Math.max(0, ...swept.waits)),
    size_after_bytes: await subject.size(),
  });
}

const dir = await tempDir("bench-scale-store");
try {
  for (const kind of STORES) {
    const subject = kind === "redis" ? await redisSubject() : await sqliteSubject(dir);
    try {
      await bench(subject);
    } finally {
      await subject.close();
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
