/**
 * Ten thousand tracked Jobs alive in gitfaas's namespace, against the local control plane, one JSON line
 * per figure. gitfaas runs as it ships (compiled, its own process, the kubernetes runtime, the SQLite
 * store, the chart's RBAC). The baseline is the same gitfaas measured first, in the same run, with the
 * namespace empty but for the Jobs the measurement itself publishes (BENCH_REQUESTS).
 *
 * The Jobs are published through gitfaas (BENCH_JOBS of them, 32 at a time), as in production: each has
 * gitfaas's labels and annotations, and an unfinished function in the store. They are suspended, so they
 * stay alive without pods: the Job controller marks them suspended once and leaves them be (Jobs that
 * run would add as many pods to the Pod watch; not measured here).
 *
 * Measured in each phase, once gitfaas is idle again: its resident memory, its CPU over BENCH_IDLE_SECONDS,
 * publish p50/p99 and `GET /response` p50/p99 (one at a time); the time from kube-apiserver being ready
 * again after a crash (SIGKILL, then the same command line) until gitfaas has seen a Job deleted right
 * then (and from its start again), and whether its watches listed again (and how long the list took, from gitfaas's log); the time
 * for gitfaas itself to start again, with its first lists.
 *   npm run bench:scale-k8s      (BENCH_JOBS=10000, BENCH_REQUESTS=300, BENCH_IDLE_SECONDS=20)
 */
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { keepAliveCaller } from "./support/caller.js";
import { BENCH_JOB_MANIFEST } from "./support/baseline-job.js";
import { emit, round, timed, type Measured } from "./support/measure.js";
import { startGitfaasProcess, type BenchProcess } from "./support/processes.js";
import { cpuShare, residentBytes, settled } from "./support/proc-stats.js";
import { restartApiServer } from "./support/api-server-restart.js";
import { pagedList } from "../src/runtime/kubernetes/paged-list.js";
import { TRACKING } from "../src/templating/index.js";
import { tempDir, writeTree } from "../test/support/gitfaas-fixture.js";
import {
  admin,
  batch,
  createNamespace,
  deleteNamespace,
  serviceAccountKubeconfig,
} from "../test-k8s/support/cluster.js";

const JOBS = Number(process.env.BENCH_JOBS ?? 10_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const FILL_CONCURRENCY = 32;

interface Published {
  readonly requestUid: string;
  readonly jobName: string;
}

interface Listed {
  readonly watch: string;
  readonly objects: number;
  readonly ms: number;
}

interface Phase {
  readonly jobs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly idleCpuShare: number;
  readonly publish: Measured;
  readonly getResponse: Measured;
  readonly apiServerDownSeconds: number;
  readonly resyncSeconds: number;
  readonly startToSeenSeconds: number;
  readonly relisted: readonly Listed[];
  readonly startSeconds: number;
  readonly startLists: readonly Listed[];
  readonly rssAfterStartBytes: number;
}

const namespace = await createNamespace("gitfaas-scale");
const workDir = await tempDir("bench-scale-k8s");
const repo = join(workDir, "repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "job", configs: ["job.yaml"] }] }),
  "job.yaml": BENCH_JOB_MANIFEST,
});
const logFile = join(workDir, "gitfaas.log");
const flags = {
  repo,
  runtime: "kubernetes",
  kubeconfig: await serviceAccountKubeconfig(namespace, join(workDir, "sa.kubeconfig")),
  namespace,
  "data-dir": join(workDir, "data"),
};
let server: BenchProcess | undefined;
let caller: ReturnType<typeof keepAliveCaller> | undefined;

async function startGitfaas(): Promise<void> {
  server = await startGitfaasProcess(flags, logFile, 300_000);
  caller = keepAliveCaller(server.url);
}

async function stopGitfaas(): Promise<void> {
  caller?.close();
  await server?.stop();
}

async function publish(): Promise<Published> {
  const answer = await caller!.post("/publish/job", "hello", "text/plain");
  if (answer.status !== 202 || !answer.text.includes('"error":false'))
    throw new Error(`publish failed: ${answer.text}`);
  const report = JSON.parse(answer.text) as {
    requestUid: string;
    applies: { objects: { name: string }[] }[];
  };
  return { requestUid: report.requestUid, jobName: report.applies[0]!.objects[0]!.name };
}

/** V8's heap in use, from gitfaas's own /metrics (prom-client's default metrics): what RSS holds live. */
async function heapUsedBytes(): Promise<number> {
  const answer = await caller!.get("/metrics");
  const line = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(answer.text);
  if (!line) throw new Error("no nodejs_heap_size_used_bytes in /metrics");
  return Number(line[1]);
}

async function trackedJobs(): Promise<number> {
  const list = await pagedList(
    (page) => batch.listNamespacedJob({ namespace, labelSelector: TRACKING.functionId, ...page }),
    (job) => job,
  );
  return list.items.length;
}

/** The lists gitfaas logged since `offset` in its log. */
async function listsLogged(offset: number): Promise<Listed[]> {
  const text = (await readFile(logFile)).subarray(offset).toString("utf8");
  return text
    .split("\n")
    .filter((line) => line.includes('"listed tracked objects"'))
    .map((line) => JSON.parse(line) as Listed)
    .map(({ watch, objects, ms }) => ({ watch, objects, ms }));
}

const logSize = async (): Promise<number> => (await stat(logFile)).size;

async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      // The admin client's pooled connections died with the API server.
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Restarts kube-apiserver, deletes `target`'s Job once it is ready, and waits for gitfaas to see it. */
async function resyncAfterApiServerRestart(target: Published) {
  const offset = await logSize();
  const { downSeconds, startedAt, readyAt } = await restartApiServer(admin);
  await retried(() =>
    batch.deleteNamespacedJob({ name: target.jobName, namespace, propagationPolicy: "Background" }),
  );
  for (;;) {
    const answer = await caller!.get(`/response/${target.requestUid}?wait=60`);
    const functions = (JSON.parse(answer.text) as { functions: { status: string }[] }).functions;
    if (functions[0]?.status === "failed") break;
  }
  const seenAt = performance.now();
  return {
    downSeconds,
    resyncSeconds: (seenAt - readyAt) / 1000,
    startToSeenSeconds: (seenAt - startedAt) / 1000,
    relisted: await listsLogged(offset),
  };
}

async function restartGitfaas() {
  const offset = await logSize();
  await stopGitfaas();
  const began = performance.now();
  await startGitfaas();
  const startSeconds = (performance.now() - began) / 1000;
  await settled(server!.pid);
  return {
    startSeconds,
    startLists: await listsLogged(offset),
    rssAfterStartBytes: await residentBytes(server!.pid),
  };
}

async function measurePhase(): Promise<Phase> {
  await settled(server!.pid);
  const jobs = await trackedJobs();
  const rssBytes = await residentBytes(server!.pid);
  const heapUsed = await heapUsedBytes();
  const idleCpuShare = await cpuShare(server!.pid, IDLE_SECONDS);
  const published: Published[] = [];
  const publishTimes = await timed(REQUESTS, 1, async () => void published.push(await publish()));
  let next = 0;
  const getResponse = await timed(REQUESTS, 1, async () => {
    const answer = await caller!.get(`/response/${published[next++ % published.length]!.requestUid}`);
    if (answer.status !== 200) throw new Error(`GET /response failed: ${answer.text}`);
  });
  const resync = await resyncAfterApiServerRestart(published.at(-1)!);
  const restart = await restartGitfaas();
  return {
    jobs,
    rssBytes,
    heapUsedBytes: heapUsed,
    idleCpuShare,
    publish: publishTimes,
    getResponse,
    apiServerDownSeconds: resync.downSeconds,
    resyncSeconds: resync.resyncSeconds,
    startToSeenSeconds: resync.startToSeenSeconds,
    relisted: resync.relisted,
    ...restart,
  };
}

/** The list of Jobs a phase's log shows: how many objects, how long; none: -1. */
const jobList = (lists: readonly Listed[]): Listed =>
  lists.filter((list) => list.watch === "jobs").at(-1) ?? { watch: "jobs", objects: -1, ms: -1 };

function report(empty: Phase, full: Phase): void {
  const base = {
    jobs: full.jobs,
    baseline: "the same gitfaas, namespace empty, same run",
    baseline_jobs: empty.jobs,
  };
  const mib = (bytes: number) => round(bytes / 2 ** 20);
  emit("scale_k8s_rss", {
    ...base,
    rss_mib: mib(full.rssBytes),
    baseline_rss_mib: mib(empty.rssBytes),
    ratio: round(full.rssBytes / empty.rssBytes),
    heap_used_mib: mib(full.heapUsedBytes),
    baseline_heap_used_mib: mib(empty.heapUsedBytes),
    rss_after_restart_mib: mib(full.rssAfterStartBytes),
    baseline_rss_after_restart_mib: mib(empty.rssAfterStartBytes),
    ratio_after_restart: round(full.rssAfterStartBytes / empty.rssAfterStartBytes),
  });
  emit("scale_k8s_idle_cpu", {
    ...base,
    seconds: IDLE_SECONDS,
    percent_of_a_core: round(full.idleCpuShare * 100),
    baseline_percent_of_a_core: round(empty.idleCpuShare * 100),
    added_percent_of_a_core: round((full.idleCpuShare - empty.idleCpuShare) * 100),
  });
  for (const [figure, key] of [
    ["scale_k8s_publish", "publish"],
    ["scale_k8s_get_response", "getResponse"],
  ] as const) {
    emit(figure, {
      ...base,
      concurrency: 1,
      p50_ms: round(full[key].p50),
      p99_ms: round(full[key].p99),
      baseline_p50_ms: round(empty[key].p50),
      baseline_p99_ms: round(empty[key].p99),
      ratio_p50: round(full[key].p50 / empty[key].p50),
      ratio_p99: round(full[key].p99 / empty[key].p99),
    });
  }
  const [relistFull, relistEmpty] = [jobList(full.relisted), jobList(empty.relisted)];
  emit("scale_k8s_rewatch_after_api_server_restart", {
    ...base,
    seconds_ready_to_event_seen: round(full.resyncSeconds),
    baseline_seconds: round(empty.resyncSeconds),
    ratio: round(full.resyncSeconds / empty.resyncSeconds),
    seconds_api_server_start_to_event_seen: round(full.startToSeenSeconds),
    baseline_seconds_api_server_start_to_event_seen: round(empty.startToSeenSeconds),
    api_server_down_seconds: round(full.apiServerDownSeconds),
    jobs_listed_again: relistFull.objects,
    jobs_list_ms: relistFull.ms,
    baseline_jobs_listed_again: relistEmpty.objects,
    baseline_jobs_list_ms: relistEmpty.ms,
  });
  const [startFull, startEmpty] = [jobList(full.startLists), jobList(empty.startLists)];
  emit("scale_k8s_gitfaas_start", {
    ...base,
    seconds_to_ready: round(full.startSeconds),
    baseline_seconds: round(empty.startSeconds),
    ratio: round(full.startSeconds / empty.startSeconds),
    jobs_listed: startFull.objects,
    jobs_list_ms: startFull.ms,
    baseline_jobs_list_ms: startEmpty.ms,
  });
}

try {
  await startGitfaas();
  // Warm the paths (TLS sessions, the API server's caches) before measuring.
  for (let i = 0; i < 10; i++) await publish();
  const empty = await measurePhase();
  const missing = JOBS - (await trackedJobs());
  const fill = await timed(Math.max(0, missing), FILL_CONCURRENCY, async () => void (await publish()));
  emit("scale_k8s_fill", {
    jobs_published: missing,
    concurrency: FILL_CONCURRENCY,
    per_second: round(fill.perSecond),
    p50_ms: round(fill.p50),
    p99_ms: round(fill.p99),
  });
  const full = await measurePhase();
  report(empty, full);
} finally {
  await stopGitfaas();
  await deleteNamespace(namespace);
  await rm(workDir, { recursive: true, force: true });
}
