import { performance } from "node:perf_hooks";
import type { RunningGitfaas } from "../../src/app.js";
import type { keepAliveCaller } from "./caller.js";
import { percentile } from "./measure.js";

type Caller = ReturnType<typeof keepAliveCaller>;

export interface StepSamples {
  /** Per step: from the runtime reporting the function finished to its onSuccess publish settled. */
  readonly step: readonly number[];
  /** Per direct publish of the next step's topic: POST /publish → 202. */
  readonly publish: readonly number[];
}

/**
 * Times each onSuccess step from outside the code under test. Its start is the runtime's report that
 * the function finished (its answer was posted before it exited), heard through the runtime's own
 * listener API; its end is the store being told the step's publish went through (`settleFiring`
 * "published"), which the next-steps code does right after the dispatcher accepted the publish. The
 * store is only observed: the wrapper times the call and hands it on unchanged.
 */
export function watchSteps(gitfaas: RunningGitfaas, topic: string): Map<string, number> {
  const finished = new Map<string, number>();
  const durations = new Map<string, number>();
  gitfaas.runtime.onStatus((report) => {
    if (report.status === "succeeded") finished.set(report.functionUid, performance.now());
  });
  const store = gitfaas.store;
  const settle = store.settleFiring.bind(store);
  store.settleFiring = (key, state, reason) => {
    const [functionUid, kind, next] = key.split(":");
    const start = finished.get(functionUid ?? "");
    if (state === "published" && kind === "onSuccess" && next === topic && start !== undefined)
      durations.set(functionUid!, performance.now() - start);
    return settle(key, state, reason);
  };
  return durations;
}

async function accepted(caller: Caller, topic: string, body: string, contentType: string): Promise<string> {
  const answer = await caller.post(`/publish/${topic}`, body, contentType);
  if (answer.status !== 202) throw new Error(`publish answered ${answer.status}: ${answer.text}`);
  return (JSON.parse(answer.text) as { requestUid: string }).requestUid;
}

async function treeFinished(caller: Caller, requestUid: string): Promise<void> {
  const answer = await caller.get(`/requests/${requestUid}/tree?wait=60`);
  const tree = JSON.parse(answer.text) as { finished?: boolean };
  if (answer.status !== 200 || tree.finished !== true)
    throw new Error(`run ${requestUid} unfinished: ${answer.text.slice(0, 300)}`);
}

/**
 * `count` rounds of: a run of `first` (whose function answers, then its onSuccess publishes `next`),
 * awaited whole; then a direct publish of `next`, timed, and its run awaited. One at a time, alternating,
 * so both sides see the same machine and nothing else runs while either is timed.
 */
export async function measureSteps(
  caller: Caller,
  durations: ReadonlyMap<string, number>,
  topics: { first: string; next: string },
  count: number,
): Promise<StepSamples> {
  const publish: number[] = [];
  for (let i = 0; i < count; i++) {
    await treeFinished(caller, await accepted(caller, topics.first, `step ${i}`, "text/plain"));
    const t0 = performance.now();
    // The body the step publishes: the first function's JSON answer (the payload it was given).
    const direct = await accepted(caller, topics.next, JSON.stringify(`step ${i}`), "application/json");
    publish.push(performance.now() - t0);
    await treeFinished(caller, direct);
  }
  const step = [...durations.values()];
  if (step.length !== count) throw new Error(`timed ${step.length} steps of ${count}`);
  return { step, publish };
}

export function summary(samples: readonly number[]): { p50: number; p95: number } {
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}
