/**
 * Pipelines on the local runtime with SQLite, one JSON line per figure, each against a baseline measured
 * in the same run on the same server:
 * - the overhead of an onSuccess step (the function's finish reported → its next step's publish settled)
 *   against a direct POST /publish of the same topic with the same body;
 * - GET /requests/<uid>/tree of a 1,000-function run against GET /response/<uid> of the same request,
 *   for one request of 1,000 functions and for a fan-out of 500 functions that each published one child.
 *   npm run bench      (BENCH_STEPS=100 steps, BENCH_TREE_READS=50 reads of each kind,
 *                       BENCH_TREE_FUNCTIONS=1000 functions per run, named in the figures)
 * A server of its own, so that publish-local.ts's figures run exactly as before.
 */
import { rm } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { keepAliveCaller } from "./support/caller.js";
import { noopJob } from "./support/noop-job.js";
import { emit, round } from "./support/measure.js";
import { measureSteps, summary, watchSteps } from "./support/pipeline-step.js";
import { fanOutRun, wideRun } from "./support/tree-state.js";
import { nodeJob, respondWith, startServer, tempDir, writeTree } from "../test/support/gitfaas-fixture.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 100);
const TREE_READS = Number(process.env.BENCH_TREE_READS ?? 50);
/** Functions per run read as a tree (1,000: the figure issue 12 names; more, to see how the read scales). */
const FUNCTIONS = Number(process.env.BENCH_TREE_FUNCTIONS ?? 1000);

const noop = (name: string): string => noopJob(name, false);

const repo = await tempDir("bench-pipelines");
await writeTree(repo, {
  "config.json": JSON.stringify({
    topics: [
      { name: "step-a", configs: ["answer.yaml"], onSuccess: ["step-b"] },
      { name: "step-b", configs: ["noop.yaml"] },
      { name: "wide", configs: ["noop.yaml"] },
      { name: "fan", configs: ["noop.yaml"], onSuccess: ["leaf"] },
      { name: "leaf", configs: ["noop.yaml"] },
    ],
  }),
  "answer.yaml": nodeJob("answer", respondWith("payload")),
  "noop.yaml": noop("noop"),
});
const server = await startServer({ repo, "local-concurrency": "8", "log-level": "silent" });
const caller = keepAliveCaller(server.url);

/** Reads `path` `count` times, one at a time, in alternation with `baseline`; both must answer 200. */
async function alternating(paths: { of: string; baseline: string }, count: number) {
  const samples = { of: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < count; i++) {
    for (const side of i % 2 === 0 ? (["of", "baseline"] as const) : (["baseline", "of"] as const)) {
      const t0 = performance.now();
      const answer = await caller.get(paths[side]);
      samples[side].push(performance.now() - t0);
      if (answer.status !== 200) throw new Error(`${paths[side]} answered ${answer.status}`);
    }
  }
  return { of: summary(samples.of), baseline: summary(samples.baseline) };
}

async function treeFigure(figure: string, requestUid: string): Promise<void> {
  const tree = JSON.parse((await caller.get(`/requests/${requestUid}/tree`)).text) as {
    finished: boolean;
    totals: { functions: { succeeded: number } };
  };
  if (!tree.finished || tree.totals.functions.succeeded !== FUNCTIONS)
    throw new Error(`the run of ${figure} is not ${FUNCTIONS} finished functions`);
  const read = await alternating(
    { of: `/requests/${requestUid}/tree`, baseline: `/response/${requestUid}` },
    TREE_READS,
  );
  emit(figure, {
    p50_ms: round(read.of.p50),
    p95_ms: round(read.of.p95),
    baseline: "GET /response/<uid> of the same request, same server",
    baseline_p50_ms: round(read.baseline.p50),
    baseline_p95_ms: round(read.baseline.p95),
    ratio_p50: round(read.of.p50 / read.baseline.p50),
    ratio_p95: round(read.of.p95 / read.baseline.p95),
    state: "written through the Store API, not run",
  });
}

try {
  const durations = watchSteps(server, "step-b");
  const steps = await measureSteps(caller, durations, { first: "step-a", next: "step-b" }, STEPS);
  const step = summary(steps.step);
  const publish = summary(steps.publish);
  emit("pipeline_step_overhead_c1", {
    p50_ms: round(step.p50),
    p95_ms: round(step.p95),
    baseline: "POST /publish of the next step's topic, same body, same server",
    baseline_p50_ms: round(publish.p50),
    baseline_p95_ms: round(publish.p95),
    ratio_p50: round(step.p50 / publish.p50),
    ratio_p95: round(step.p95 / publish.p95),
    steps: STEPS,
  });

  const revision = ((await caller.get("/readyz").then((a) => JSON.parse(a.text))) as { revision: string })
    .revision;
  await treeFigure(
    `tree_read_latency_${FUNCTIONS}_functions_1_request`,
    await wideRun(server.store, "wide", revision, FUNCTIONS),
  );
  const fanOut = await fanOutRun(server.store, { root: "fan", child: "leaf" }, revision, FUNCTIONS / 2);
  await treeFigure(`tree_read_latency_${FUNCTIONS}_functions_${FUNCTIONS / 2 + 1}_requests`, fanOut);
} finally {
  caller.close();
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
}
