/**
 * Publish → Job created on the kubernetes runtime, against the local control plane, one JSON line per
 * figure. Baselines, measured in the same run on the same API server, as the same service account:
 * - `raw`: the create of the same Job (tracking labels and annotations included) through
 *   @kubernetes/client-node as shipped (typed API, undici fetch), over one keep-alive connection;
 * - `lean raw`: the very request gitfaas sends (the rendered JSON, through gitfaas's own client set-up),
 *   sent from the bench process: what the API server allows with the least client work.
 * A raw server-side apply is measured too, for reference. The ways are measured in alternating rounds so
 * that objects piling up in the cluster weigh on all alike. gitfaas runs in its own process, compiled, as in
 * production, called over a keep-alive HTTP/1.1 connection; so does a bare relay (support/relay.ts) that
 * sends the lean request, which tells the cost of any extra hop from what gitfaas adds. Jobs are created
 * suspended so that the job controller and the fake kubelet don't load the 2 cores while we measure.
 * Before those, the whole cost: gitfaas's CPU time (from /proc) per published Job that runs to its end
 * (accept, create, and the watch events that tell its status until gitfaas has recorded it finished),
 * over bursts of BENCH_LIFE_JOBS Jobs at c=8, the median of BENCH_LIFE_ROUNDS bursts.
 *   npm run bench:k8s      (starts the local control plane if needed; BENCH_REQUESTS=2000, BENCH_ROUNDS=20,
 *                           BENCH_LIFE_JOBS=200, BENCH_LIFE_ROUNDS=5)
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BatchV1Api, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { PooledKubeConfig, loadKubeConfig } from "../src/runtime/index.js";
import { RenderedObjectApi } from "../src/runtime/kubernetes/rendered-object-api.js";
import { keepAliveCaller } from "./support/caller.js";
import { BENCH_JOB_MANIFEST, baselineJob } from "./support/baseline-job.js";
import { emit, interleaved, medianRoundRatio, percentile, round, type Measured } from "./support/measure.js";
import { RUNNING_JOB_MANIFEST, idleCpuMsPerSecond, wholeLife } from "./support/whole-life.js";
import { cpuSeconds } from "./support/proc-stats.js";
import {
  startGitfaasProcess,
  startRelayProcess,
  startWatchFloorProcess,
  type BenchProcess,
} from "./support/processes.js";
import { tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import { createNamespace, deleteNamespace, serviceAccountKubeconfig } from "../test-k8s/support/cluster.js";

// This machine's figures wander by a fifth from one minute to the next: many short alternating rounds.
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const LIFE_JOBS = Number(process.env.BENCH_LIFE_JOBS ?? 200);
const LIFE_ROUNDS = Number(process.env.BENCH_LIFE_ROUNDS ?? 5);

const namespace = await createNamespace("gitfaas-bench");
const workDir = await tempDir("bench-k8s");
const repo = join(workDir, "repo");
await writeTree(repo, {
  "config.json": JSON.stringify({
    topics: [
      { name: "job", configs: ["job.yaml"] },
      { name: "life", configs: ["life.yaml"] },
    ],
  }),
  "job.yaml": BENCH_JOB_MANIFEST,
  "life.yaml": RUNNING_JOB_MANIFEST,
});
const kubeconfig = await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig"));
// The client the usual way, as the same service account, over one pooled connection.
const stockConfig = new PooledKubeConfig();
stockConfig.loadFromFile(kubeconfig);
const batch = stockConfig.makeApiClient(BatchV1Api);
const objects = KubernetesObjectApi.makeApiClient(stockConfig);
// The client as gitfaas sets it up, sending what gitfaas sends.
const leanConfig = loadKubeConfig(kubeconfig);
const rendered = RenderedObjectApi.forConfig(leanConfig);
let server: BenchProcess | undefined;
let relay: BenchProcess | undefined;
let watchFloor: Omit<BenchProcess, "url"> | undefined;
const callers: ReturnType<typeof keepAliveCaller>[] = [];
try {
  server = await startGitfaasProcess(
    {
      repo,
      runtime: "kubernetes",
      kubeconfig,
      namespace,
      "data-dir": join(workDir, "data"),
    },
    join(workDir, "gitfaas.log"),
  );
  relay = await startRelayProcess(kubeconfig, namespace);
  watchFloor = await startWatchFloorProcess(kubeconfig, namespace);
  const caller = keepAliveCaller(server.url);
  const relayCaller = keepAliveCaller(relay.url);
  callers.push(caller, relayCaller);
  const relayed = async (): Promise<void> => {
    const answer = await relayCaller.post("/", "hello", "text/plain");
    if (answer.status !== 201) throw new Error(`relay failed: ${answer.text}`);
  };
  const publish = async (): Promise<void> => {
    const answer = await caller.post("/publish/job", "hello", "text/plain");
    if (answer.status !== 202 || !answer.text.includes('"error":false'))
      throw new Error(`publish failed: ${answer.text}`);
  };
  // Warm both paths (TLS sessions, the API server's caches) before measuring.
  for (let i = 0; i < 10; i++) {
    await batch.createNamespacedJob({ namespace, body: baselineJob(namespace) });
    await rendered.createRendered(baselineJob(namespace), "gitfaas");
    await publish();
    await relayed();
  }
  const idleBefore = await idleCpuMsPerSecond(server, 20);
  const lives = [];
  const floorPerJob: number[] = [];
  for (let i = 0; i < LIFE_ROUNDS; i++) {
    const publishLife = async (): Promise<void> => {
      const answer = await caller.post("/publish/life", "hello", "text/plain");
      if (answer.status !== 202) throw new Error(`publish failed: ${answer.text}`);
    };
    const clusterFinished = async (): Promise<number> => {
      const listed = await batch.listNamespacedJob({ namespace, labelSelector: "gitfaas.dev/topic=life" });
      return listed.items.filter((job) => (job.status?.succeeded ?? 0) + (job.status?.failed ?? 0) > 0)
        .length;
    };
    const floorBefore = await cpuSeconds(watchFloor.pid);
    lives.push(
      await wholeLife(server, caller, {
        count: LIFE_JOBS,
        concurrency: 8,
        publish: publishLife,
        clusterFinished,
      }),
    );
    floorPerJob.push((((await cpuSeconds(watchFloor.pid)) - floorBefore) * 1000) / LIFE_JOBS);
  }
  // Its work is measured: it must not take the cores from the ways measured next.
  await watchFloor.stop();
  const idle = (idleBefore + (await idleCpuMsPerSecond(server, 20))) / 2;
  const perJob = lives.map((life) => life.cpuMsPerJob);
  const perJobNet = lives.map((life) => life.cpuMsPerJob - (idle * life.seconds) / LIFE_JOBS);
  emit("gitfaas_cpu_per_published_job_whole_life", {
    cpu_ms_per_job: round(percentile(perJob, 50)),
    cpu_ms_per_job_min: round(Math.min(...perJob)),
    cpu_ms_per_job_max: round(Math.max(...perJob)),
    // Less what gitfaas spends idle over the same time (measured for 20 s before and after the bursts).
    cpu_ms_per_job_net_of_idle: round(percentile(perJobNet, 50)),
    idle_cpu_ms_per_second: round(idle),
    cpu_ms_per_job_while_publishing: round(
      percentile(
        lives.map((life) => life.cpuMsPerJobDuringPublish),
        50,
      ),
    ),
    jobs_per_round: LIFE_JOBS,
    rounds: LIFE_ROUNDS,
    concurrency: 8,
    seconds_per_round: round(
      percentile(
        lives.map((life) => life.seconds),
        50,
      ),
    ),
    target_cpu_ms_per_job: 3,
    // The same events heard by a process that only reads them (support/watch-floor.ts), over the same
    // rounds: what they cost on this machine before gitfaas does anything with them.
    watch_floor_cpu_ms_per_job: round(percentile(floorPerJob, 50)),
  });
  for (const concurrency of [1, 8]) {
    const cpuBefore = { gitfaas: await cpuSeconds(server.pid), relay: await cpuSeconds(relay.pid) };
    const measured = await interleaved(
      {
        raw: async () => {
          await batch.createNamespacedJob({ namespace, body: baselineJob(namespace) });
        },
        leanRaw: async () => {
          await rendered.createRendered(baselineJob(namespace), "gitfaas");
        },
        // For reference: what gitfaas sends for a name not unique to the publish, a server-side apply,
        // which costs the API server more than a create (a read before the write).
        rawApply: async () => {
          await objects.patch(
            baselineJob(namespace),
            undefined,
            undefined,
            "bench",
            true,
            PatchStrategy.ServerSideApply,
          );
        },
        relay: relayed,
        gitfaas: publish,
      },
      REQUESTS,
      concurrency,
      ROUNDS,
    );
    // Each way was called this often; each process did nothing else meanwhile but hear its Jobs' events.
    const calls = Math.ceil(REQUESTS / ROUNDS) * ROUNDS;
    const cpuMsPerCall = async (pid: number, before: number) =>
      round((((await cpuSeconds(pid)) - before) * 1000) / calls);
    const gitfaasCpu = await cpuMsPerCall(server.pid, cpuBefore.gitfaas);
    const relayCpu = await cpuMsPerCall(relay.pid, cpuBefore.relay);
    const {
      raw,
      leanRaw,
      rawApply,
      relay: viaRelay,
      gitfaas,
    } = measured as Record<"raw" | "leanRaw" | "rawApply" | "relay" | "gitfaas", Measured>;
    emit(`publish_to_job_created_c${concurrency}`, {
      p50_ms: round(gitfaas.p50),
      p99_ms: round(gitfaas.p99),
      per_second: round(gitfaas.perSecond),
      baseline: "raw create of the same Job through @kubernetes/client-node as shipped, same service account",
      baseline_p50_ms: round(raw.p50),
      baseline_p99_ms: round(raw.p99),
      baseline_per_second: round(raw.perSecond),
      ratio_p50: round(gitfaas.p50 / raw.p50),
      ratio_per_second: round(gitfaas.perSecond / raw.perSecond),
      target_ratio_per_second: 0.8,
      ratio_p50_median_of_rounds: round(medianRoundRatio(gitfaas, raw)),
      added_p50_ms: round(gitfaas.p50 - raw.p50),
      target_ratio_p50: 1.3,
      // The stricter baseline: gitfaas's own request, without gitfaas.
      lean_raw_p50_ms: round(leanRaw.p50),
      lean_raw_per_second: round(leanRaw.perSecond),
      ratio_p50_vs_lean_raw: round(gitfaas.p50 / leanRaw.p50),
      ratio_p50_vs_lean_raw_median_of_rounds: round(medianRoundRatio(gitfaas, leanRaw)),
      added_p50_ms_vs_lean_raw: round(gitfaas.p50 - leanRaw.p50),
      raw_apply_p50_ms: round(rawApply.p50),
      raw_apply_per_second: round(rawApply.perSecond),
      ratio_p50_vs_raw_apply: round(gitfaas.p50 / rawApply.p50),
      // The lean raw create behind a bare HTTP server in its own process: what any service in front of
      // the API server pays on this machine for the extra hop.
      relay_p50_ms: round(viaRelay.p50),
      relay_per_second: round(viaRelay.perSecond),
      ratio_p50_vs_relay: round(gitfaas.p50 / viaRelay.p50),
      relay_ratio_p50_vs_lean_raw: round(viaRelay.p50 / leanRaw.p50),
      // CPU of each process per call (from /proc): gitfaas's accept, record and create against the relay's
      // bare accept and create.
      cpu_ms_per_publish: gitfaasCpu,
      relay_cpu_ms_per_call: relayCpu,
    });
  }
} finally {
  for (const caller of callers) caller.close();
  await stockConfig.destroyPool();
  await leanConfig.destroyPool();
  await server?.stop();
  await relay?.stop();
  await watchFloor?.stop();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
}
