import { benchJobManifest } from "./baseline-job.js";
import { cpuSeconds } from "./proc-stats.js";
import type { BenchProcess } from "./processes.js";
import type { keepAliveCaller } from "./caller.js";

/** What the bench publishes for the whole-life figure: a Job that runs (not suspended) and ends at once. */
export const RUNNING_JOB_MANIFEST = benchJobManifest("life", {
  podMetadata: {
    annotations: { "gitfaas.dev/fake-start-delay": "10ms", "gitfaas.dev/fake-run-duration": "10ms" },
  },
});

/** How many functions gitfaas counted finished, from its own metrics. */
async function finishedCount(caller: ReturnType<typeof keepAliveCaller>): Promise<number> {
  const answer = await caller.get("/metrics");
  let total = 0;
  for (const line of answer.text.split("\n"))
    if (line.startsWith("gitfaas_functions_finished_total{")) total += Number(line.split(" ").at(-1));
  return total;
}

/**
 * gitfaas's CPU per second while nothing happens (timers, the event-loop delay monitor of the default
 * metrics): a burst's Jobs take the cluster about a minute to run on this box, and that time would be
 * counted against them. Clock ticks are 10 ms: a long window.
 */
export async function idleCpuMsPerSecond(gitfaas: BenchProcess, seconds: number): Promise<number> {
  const before = await cpuSeconds(gitfaas.pid);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return ((await cpuSeconds(gitfaas.pid)) - before) * (1000 / seconds);
}

export interface WholeLife {
  /** gitfaas's CPU per published Job, from the first publish until it has recorded every Job finished. */
  readonly cpuMsPerJob: number;
  /** Part of it spent while the publishes were answered (accept, create, and the early watch events). */
  readonly cpuMsPerJobDuringPublish: number;
  readonly seconds: number;
}

/**
 * Publishes `count` running Jobs from `concurrency` loops and waits until gitfaas has recorded all of
 * them finished. The waiting must cost gitfaas next to nothing: the bench follows the Jobs through the
 * API server itself (`clusterFinished`, read every 500 ms), and only once the cluster says they have all
 * ended does it read gitfaas's finished counter, which by then has mostly caught up.
 */
export async function wholeLife(
  gitfaas: BenchProcess,
  caller: ReturnType<typeof keepAliveCaller>,
  burst: {
    count: number;
    concurrency: number;
    publish: () => Promise<void>;
    clusterFinished: () => Promise<number>;
  },
): Promise<WholeLife> {
  const [before, clusterBefore] = [await finishedCount(caller), await burst.clusterFinished()];
  const started = performance.now();
  const cpu0 = await cpuSeconds(gitfaas.pid);
  let next = 0;
  await Promise.all(
    Array.from({ length: burst.concurrency }, async () => {
      while (next < burst.count) {
        next++;
        await burst.publish();
      }
    }),
  );
  const cpu1 = await cpuSeconds(gitfaas.pid);
  const deadline = Date.now() + 300_000;
  const waitFor = async (finished: () => Promise<number>, target: number, pauseMs: number) => {
    while ((await finished()) < target) {
      if (Date.now() > deadline) throw new Error("the Jobs did not all finish within 5 minutes");
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  await waitFor(burst.clusterFinished, clusterBefore + burst.count, 500);
  await waitFor(() => finishedCount(caller), before + burst.count, 50);
  const cpu2 = await cpuSeconds(gitfaas.pid);
  return {
    cpuMsPerJob: ((cpu2 - cpu0) * 1000) / burst.count,
    cpuMsPerJobDuringPublish: ((cpu1 - cpu0) * 1000) / burst.count,
    seconds: (performance.now() - started) / 1000,
  };
}
