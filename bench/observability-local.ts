/**
 * What metrics and tracing cost a publish, on the local runtime: the same publish of a no-op Job on two
 * servers of one run, one with `--metrics no` and no `--otlp-endpoint` (the baseline), one with both on
 * (spans exported to an OTLP/HTTP sink on loopback), measured in alternating rounds. One JSON line.
 *   node --import tsx bench/observability-local.ts   (BENCH_OBSERVABILITY_REQUESTS=2000 to change)
 */
import { rm } from "node:fs/promises";
import { emit, interleaved, medianRoundRatio, round } from "./support/measure.js";
import { noopJob } from "./support/noop-job.js";
import { http, startServer, tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import { OtlpListener } from "../test/support/otlp-listener.js";

const REQUESTS = Number(process.env.BENCH_OBSERVABILITY_REQUESTS ?? 2000);

const repo = await tempDir("bench-observability");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "noop", configs: ["noop.yaml"] }] }),
  "noop.yaml": noopJob("noop"),
});
const sink = await OtlpListener.start();
const common = { repo, "local-concurrency": "8", "log-level": "silent" };
const off = await startServer({ ...common, metrics: "no" });
const on = await startServer({ ...common, metrics: "yes", "otlp-endpoint": sink.url });

const publishTo = (url: string) => async () => {
  const answer = await http(url, "POST", "/publish/noop", "hello", "text/plain");
  if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text}`);
};

try {
  const measured = await interleaved({ off: publishTo(off.url), on: publishTo(on.url) }, REQUESTS, 1, 10);
  emit("publish_accept_latency_observability_c1", {
    p50_ms: round(measured.on!.p50),
    p99_ms: round(measured.on!.p99),
    baseline: "the same publish on a server with --metrics no and no --otlp-endpoint, same run",
    baseline_p50_ms: round(measured.off!.p50),
    ratio_p50: round(measured.on!.p50 / measured.off!.p50),
    ratio_p50_median_of_rounds: round(medianRoundRatio(measured.on!, measured.off!)),
    overhead_percent: round((measured.on!.p50 / measured.off!.p50 - 1) * 100),
  });
} finally {
  await on.cleanup();
  await off.cleanup();
  await sink.close();
  await rm(repo, { recursive: true, force: true });
}
