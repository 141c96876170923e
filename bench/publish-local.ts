/**
 * Publish latency and throughput on the local runtime, one JSON line per figure.
 * Baselines measured in the same run: GET /healthz on the same server (the HTTP floor) for
 * publish → 202, in alternating rounds with the publishes, each round's runs awaited before the next
 * (and, as "before", publishes to a server with `--local-runner inline`); a bare spawn of the same lambda for publish → answer, and the memory gained over
 * as long a run of GET /healthz for the memory gained serving a large log.
 *   npm run bench            (BENCH_REQUESTS=1000 the sample size, BENCH_WARM_UP=200 the unmeasured calls of
 *                             each way first, BENCH_LOG_MIB=128 the log's)
 */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { logReadMemory } from "./support/log-memory.js";
import { emit, interleaved, medianRoundRatio, round, timed, type Measured } from "./support/measure.js";
import { noopJob } from "./support/noop-job.js";
import {
  http,
  nodeJob,
  respondWith,
  startServer,
  tempDir,
  writeTree,
} from "../test/support/gitfaas-fixture.js";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
/** Calls of each way made before measuring, so that the figures are of warm code (JIT, caches, pools). */
const WARM_UP = Number(process.env.BENCH_WARM_UP ?? 200);
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
// Before: the same server with the runs started from its own process (the way of earlier versions).
const inline = await startServer({
  repo,
  "local-concurrency": "8",
  "log-level": "silent",
  "local-runner": "inline",
});

/** Publishes to one server, remembering the requests so that their runs can be awaited. */
function publisher(url: string) {
  const published: string[] = [];
  return {
    publish: async () => {
      const answer = await http(url, "POST", "/publish/noop", "hello", "text/plain");
      if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text}`);
      published.push(answer.json.requestUid as string);
    },
    /** Until every run published so far has finished. */
    drain: async () => {
      for (const uid of published.splice(0)) await http(url, "GET", `/response/${uid}?wait=60`);
    },
  };
}

try {
  const after = publisher(server.url);
  const before = publisher(inline.url);
  for (const warm of [() => http(server.url, "GET", "/healthz"), after.publish, before.publish]) {
    for (let i = 0; i < WARM_UP; i++) await warm();
  }
  await after.drain();
  await before.drain();
  for (const concurrency of [1, 16]) {
    const measured = await interleaved(
      {
        healthz: async () => {
          await http(server.url, "GET", "/healthz");
        },
        publish: after.publish,
        publishInline: before.publish,
      },
      REQUESTS,
      concurrency,
      5,
      async (name) =>
        name === "publish" ? after.drain() : name === "publishInline" ? before.drain() : undefined,
    );
    const { healthz: floor, publish, publishInline } = measured as Record<string, Measured>;
    emit(`publish_accept_latency_c${concurrency}`, {
      p50_ms: round(publish!.p50),
      p99_ms: round(publish!.p99),
      baseline: "GET /healthz, same server, alternating rounds",
      baseline_p50_ms: round(floor!.p50),
      ratio_p50: round(medianRoundRatio(publish!, floor!)),
      before: "--local-runner inline (runs started from gitfaas's process), same rounds",
      before_p50_ms: round(publishInline!.p50),
      before_ratio_p50: round(medianRoundRatio(publishInline!, floor!)),
    });
    emit(`publish_throughput_c${concurrency}`, {
      per_second: round(publish!.perSecond),
      baseline_per_second: round(floor!.perSecond),
      ratio: round(publish!.perSecond / floor!.perSecond),
      before_per_second: round(publishInline!.perSecond),
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
  await inline.cleanup();
  await rm(repo, { recursive: true, force: true });
}
