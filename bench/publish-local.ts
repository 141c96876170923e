/**
 * Publish latency and throughput on the local runtime, one JSON line per figure.
 * Baselines measured in the same run: GET /healthz on the same server (the HTTP floor) for
 * publish → 202, a bare spawn of the same lambda for publish → answer, and the memory gained over
 * as long a run of GET /healthz for the memory gained serving a large log.
 *   npm run bench            (BENCH_REQUESTS=400 to change the sample size, BENCH_LOG_MIB=128 the log's)
 */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { logReadMemory } from "./support/log-memory.js";
import { emit, round, timed } from "./support/measure.js";
import { noopJob } from "./support/noop-job.js";
import {
  http,
  nodeJob,
  respondWith,
  startServer,
  tempDir,
  writeTree,
} from "../test/support/gitfaas-fixture.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 30);
const LOG_MIB = Number(process.env.BENCH_LOG_MIB ?? 128);

const repo = await tempDir("bench-repo");
await writeTree(repo, {
  "config.json": JSON.stringify({
    topics: [
      { name: "noop", configs: ["noop.yaml"] },
      { name: "echo", configs: ["echo.yaml"] },
    ],
  }),
  "noop.yaml": noopJob("noop"),
  "echo.yaml": nodeJob("echo", respondWith("payload")),
});
const server = await startServer({ repo, "local-concurrency": "8", "log-level": "silent" });

try {
  for (const concurrency of [1, 16]) {
    const floor = await timed(REQUESTS, concurrency, async () => {
      await http(server.url, "GET", "/healthz");
    });
    const publish = await timed(REQUESTS, concurrency, async () => {
      const answer = await http(server.url, "POST", "/publish/noop", "hello", "text/plain");
      if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text}`);
    });
    emit(`publish_accept_latency_c${concurrency}`, {
      p50_ms: round(publish.p50),
      p99_ms: round(publish.p99),
      baseline: "GET /healthz, same server",
      baseline_p50_ms: round(floor.p50),
      ratio_p50: round(publish.p50 / floor.p50),
    });
    emit(`publish_throughput_c${concurrency}`, {
      per_second: round(publish.perSecond),
      baseline_per_second: round(floor.perSecond),
      ratio: round(publish.perSecond / floor.perSecond),
    });
  }

  const bareLambda = await timed(ROUND_TRIPS, 1, async () => {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", "await Promise.resolve(0)"], {
        stdio: "ignore",
      });
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });
  });
  const roundTrip = await timed(ROUND_TRIPS, 1, async () => {
    const published = await http(server.url, "POST", "/publish/echo", "ping", "text/plain");
    const answer = await http(server.url, "GET", `/response/${published.json.requestUid as string}?wait=30`);
    if ((answer.json.responses as unknown[])[0] === null) throw new Error("no answer");
  });
  emit("publish_to_answer_latency_c1", {
    p50_ms: round(roundTrip.p50),
    p99_ms: round(roundTrip.p99),
    baseline: "spawn of a bare node process",
    baseline_p50_ms: round(bareLambda.p50),
    ratio_p50: round(roundTrip.p50 / bareLambda.p50),
  });

  emit("logs_read_rss_growth_c4", await logReadMemory(server.url, server.dataDir, LOG_MIB));
} finally {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
}
