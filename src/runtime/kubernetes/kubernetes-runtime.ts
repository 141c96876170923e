import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  VersionApi,
  ListWatch,
  type Informer,
  type KubernetesObject,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { Readable } from "node:stream";
import { isFunctionUid } from "../../ids/index.js";
import type { Logger } from "../../logging/index.js";
import { TRACKING, type KubeObject } from "../../templating/index.js";
import type {
  AppliedObject,
  ApplyOutcome,
  FunctionLaunch,
  LogOutput,
  LogRange,
  Runtime,
  StatusListener,
  StatusReport,
  UnfinishedFunction,
} from "../port.js";
import type { GitfaasError } from "../../errors/index.js";
import { fromKubernetesError, parseStatus } from "./errors.js";
import { StatusListeners } from "../status-listeners.js";
import { LeanKubeConfig } from "./lean-kubeconfig.js";
import { RenderedObjectApi } from "./rendered-object-api.js";
import { GuardedWatch } from "./guarded-watch.js";
import { PodAddresses } from "./pod-addresses.js";
import { pagedList, type ListPage, type PageRequest } from "./paged-list.js";
import { ReportFilter } from "./report-filter.js";
import { WATCHED_SETS, watchedPath, type WatchedSet } from "./watched-sets.js";
import { ownedByJob, statusFieldsOf, statusOfJob, statusOfPod } from "./status.js";
import {
  PUSHBACK_DELAYS,
  pushbackOf,
  systemPushbackClock,
  type Pushback,
  type PushbackClock,
  type PushbackPolicy,
} from "./pushback.js";

export interface KubernetesRuntimeOptions {
  /** A kubeconfig file; unset: the in-cluster service account, else the default kubeconfig. */
  readonly kubeconfig: string | undefined;
  /** gitfaas's own namespace: watched for status. */
  readonly namespace: string;
  /** Watch every namespace (clusterWide scope) rather than gitfaas's own. */
  readonly watchAllNamespaces: boolean;
  readonly logger: Logger;
  /** Pause before a dropped watch is listed and watched again. */
  readonly rewatchDelayMs?: number;
  /** A watch silent for longer is taken for dead, and listed and watched again. */
  readonly watchIdleMs?: number;
  /** Told of each object written to the API server (for metrics): how long, and the error code if any. */
  readonly onApiCall?: (call: KubernetesCall) => void;
  /** Retries of writes the API server pushed back (429, 5xx, no answer); unset: none, a pushback fails at once. */
  readonly pushback?: PushbackPolicy;
  /** Time for those retries; a test injects its own. */
  readonly clock?: PushbackClock;
  /** In [0, 1), for the retries' jitter. */
  readonly random?: () => number;
}

/** Where a launch's writes stand: the objects accepted so far, in order (the next one is its index). */
interface Progress {
  readonly launch: FunctionLaunch;
  readonly applied: AppliedObject[];
  /** Retries so far, across the launch's objects. */
  attempts: number;
}

/** The API server pushed back on an object; its refusal, should gitfaas give up. */
interface PushedBack extends Pushback {
  readonly failure: GitfaasError;
}

export interface KubernetesCall {
  readonly verb: "apply" | "create";
  readonly seconds: number;
  /** The error code the call ended with (KUBERNETES_CONFLICT…); null when the object was accepted. */
  readonly code: string | null;
}

const FIELD_MANAGER = "gitfaas";

/** How the events of a watched set are read. */
interface Following<T> {
  readonly toStatus: (object: T) => StatusReport | undefined;
  /** Told each object (or new version of one) the set holds, and each one that left it. */
  readonly seen?: (object: T) => void;
  readonly gone?: (object: T) => void;
  /**
   * Why its function failed, when the object is deleted before its function finished; unset, or
   * undefined for that object: how the function ends is told by another object (a pod's Job).
   */
  readonly ended?: (object: T) => string | undefined;
}

export function loadKubeConfig(kubeconfig: string | undefined): LeanKubeConfig {
  const config = new LeanKubeConfig();
  if (kubeconfig) config.loadFromFile(kubeconfig);
  else config.loadFromDefault();
  return config;
}

/**
 * Applies rendered objects with server-side apply (field manager `gitfaas`), or creates them when
 * their name comes from `generateName`; follows the Jobs and Pods carrying gitfaas's labels with
 * list+watch, and turns what it sees into function statuses.
 */
export class KubernetesRuntime implements Runtime {
  readonly name = "kubernetes";
  private readonly config: LeanKubeConfig;
  private readonly objects: RenderedObjectApi;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly version: VersionApi;
  private readonly statuses: StatusListeners;
  private readonly informers: Informer<KubernetesObject>[] = [];
  private closed = false;
  /** Aborted at close: retries waiting for the API server stop. */
  private readonly stopping = new AbortController();
  private readonly retrying = new Set<Promise<void>>();
  private readonly policy: PushbackPolicy;
  private readonly clock: PushbackClock;
  /** The addresses of the tracked pods that run, for publishes that do not say whose they are. */
  private readonly addresses = new PodAddresses();
  /** Reports that would change nothing are not told (each costs a store write). */
  private readonly reports = new ReportFilter();
  private unfinishedAtStart: readonly UnfinishedFunction[] = [];
  /** Per kind ("jobs", "pods") listed whole at least once: the functions of its last list. */
  private readonly listedFunctions = new Map<string, ReadonlySet<string>>();

  constructor(private readonly options: KubernetesRuntimeOptions) {
    this.statuses = new StatusListeners(options.logger);
    this.policy = options.pushback ?? { ...PUSHBACK_DELAYS, budgetMs: 0 };
    this.clock = options.clock ?? systemPushbackClock;
    this.config = loadKubeConfig(options.kubeconfig);
    // One client set for the life of the process: one connection pool, no process per apply.
    this.objects = RenderedObjectApi.forConfig(this.config);
    this.batch = this.config.makeApiClient(BatchV1Api);
    this.core = this.config.makeApiClient(CoreV1Api);
    this.version = this.config.makeApiClient(VersionApi);
  }

  /** The function whose running pod has this IP address, if gitfaas tracks one. */
  functionAt(address: string): string | undefined {
    return this.addresses.functionAt(address);
  }

  onStatus(listener: StatusListener): void {
    this.statuses.add(listener);
  }

  private report(report: StatusReport | undefined): void {
    this.statuses.report(report);
  }

  /**
   * Writes the launch's objects in order. Should the API server push back (429, 5xx, no answer), the
   * function stays `pending` with the reason and the rest is written in the background, retried with
   * backoff (honouring Retry-After) for at most the policy's budget, then failed with the reason: a
   * publish answers at once rather than after minutes.
   */
  async apply(launch: FunctionLaunch): Promise<ApplyOutcome> {
    const progress: Progress = { launch, applied: [], attempts: 0 };
    const pushed = await this.putRest(progress);
    if (pushed === undefined) {
      this.settleIfNothingRuns(launch);
      return { objects: progress.applied, message: `applied ${describeApplied(progress.applied)}` };
    }
    if (this.policy.budgetMs <= 0) throw this.failureOf(progress, pushed.failure);
    const retry = this.keepTrying(progress, pushed, this.clock.now() + this.policy.budgetMs);
    this.retrying.add(retry);
    void retry.finally(() => this.retrying.delete(retry));
    const done = progress.applied.length > 0 ? ` (applied so far: ${describeApplied(progress.applied)})` : "";
    return {
      objects: progress.applied,
      message: `pending: ${pushed.reason}; gitfaas keeps trying for up to ${Math.round(this.policy.budgetMs / 1000)}s${done}`,
    };
  }

  /**
   * Writes the objects not written yet. Returns the pushback that stopped it, if any; throws, as a typed
   * error naming what was applied, for a refusal.
   */
  private async putRest(progress: Progress): Promise<PushedBack | undefined> {
    const { launch, applied } = progress;
    for (let index = applied.length; index < launch.objects.length; index++) {
      const object = launch.objects[index] as KubeObject;
      const label = `${object.kind} ${object.metadata.name ?? `${object.metadata.generateName ?? ""}*`}`;
      try {
        const result = await this.put(object, launch.freshNames?.[index] === true);
        applied.push({
          kind: object.kind,
          name: result.metadata?.name ?? object.metadata.name ?? "",
          namespace: result.metadata?.namespace,
        });
      } catch (error) {
        const failure = fromKubernetesError(error, `${launch.path}: ${label}`);
        const byGenerateName = object.metadata.name === undefined;
        const pushback = pushbackOf(
          {
            error,
            attempt: progress.attempts + 1,
            repeatable: !byGenerateName,
            now: this.clock.now(),
            random: (this.options.random ?? Math.random)(),
          },
          this.policy,
        );
        if (pushback === undefined) throw this.failureOf(progress, failure);
        return { ...pushback, failure };
      }
    }
    return undefined;
  }

  private failureOf(progress: Progress, failure: GitfaasError): GitfaasError {
    const done =
      progress.applied.length > 0
        ? ` (already applied: ${progress.applied.map((a) => `${a.kind}/${a.name}`).join(", ")})`
        : "";
    return Object.assign(failure, { message: `${failure.message}${done}` });
  }

  /**
   * Retries in the background until every object is written, the API server refuses one, or the next
   * wait would end past `deadline`. The function is `pending` with the latest reason meanwhile.
   * At close the retries stop and the function stays `pending`: the next start settles it (followed if
   * its Job or Pod exists, a create that went through after all; else failed).
   */
  private async keepTrying(progress: Progress, first: PushedBack, deadline: number): Promise<void> {
    const { functionUid } = progress.launch;
    let pushed: PushedBack | undefined = first;
    while (pushed !== undefined) {
      if (this.clock.now() + pushed.delayMs > deadline) {
        this.giveUp(progress, pushed);
        return;
      }
      this.report({ functionUid, status: "pending", reason: pushed.reason });
      try {
        await this.clock.sleep(pushed.delayMs, this.stopping.signal);
      } catch {
        this.report({
          functionUid,
          status: "pending",
          reason: `gitfaas stopped while retrying (${pushed.reason}); its next start settles it`,
        });
        return;
      }
      progress.attempts++;
      try {
        pushed = await this.putRest(progress);
      } catch (error) {
        const reason = (error as Error).message;
        this.report({ functionUid, status: "failed", finishedAt: new Date(), reason });
        return;
      }
    }
    // The watches report the Job or Pod from here; the reason stays until one replaces it.
    this.report({
      functionUid,
      status: "pending",
      reason: `accepted by the API server after ${progress.attempts} ${progress.attempts === 1 ? "retry" : "retries"}`,
    });
    this.settleIfNothingRuns(progress.launch);
  }

  private giveUp(progress: Progress, pushed: PushedBack): void {
    const budget = Math.round(this.policy.budgetMs / 1000);
    const failure = this.failureOf(progress, pushed.failure);
    this.options.logger.warn(
      { functionUid: progress.launch.functionUid, code: failure.code, retries: progress.attempts },
      "the API server kept pushing back; giving up",
    );
    this.report({
      functionUid: progress.launch.functionUid,
      status: "failed",
      finishedAt: new Date(),
      reason: `${failure.code}: the API server kept pushing back for ${budget}s (--kubernetes-retry-budget): ${failure.message}`,
    });
  }

  private settleIfNothingRuns(launch: FunctionLaunch): void {
    if (launch.objects.some((object) => object.kind === "Job" || object.kind === "Pod")) return;
    // Nothing runs to completion: once applied, the function is done.
    this.report({
      functionUid: launch.functionUid,
      status: "succeeded",
      attempts: 1,
      startedAt: new Date(),
      finishedAt: new Date(),
    });
  }

  /**
   * Server-side apply, except where no object of that name can exist yet: a generateName, or a name
   * rendered from a value unique to this publish. Those are created, which gives the same object for
   * less work in the API server (no read of the absent object before the write); should the name be taken
   * after all, the object is applied as usual.
   */
  private async put(object: KubeObject, freshName: boolean): Promise<KubernetesObject> {
    const spec = object as unknown as KubernetesObject;
    const create = () => this.timed("create", () => this.objects.createRendered(spec, FIELD_MANAGER));
    if (object.metadata.name === undefined && object.metadata.generateName !== undefined) return create();
    if (freshName) {
      try {
        return await create();
      } catch (error) {
        const taken =
          error instanceof ApiException &&
          error.code === 409 &&
          parseStatus(error.body).reason === "AlreadyExists";
        if (!taken) throw error;
      }
    }
    return this.timed("apply", () => this.objects.applyRendered(spec, FIELD_MANAGER));
  }

  private async timed(
    verb: KubernetesCall["verb"],
    call: () => Promise<KubernetesObject>,
  ): Promise<KubernetesObject> {
    const began = performance.now();
    const tell = (code: string | null) =>
      this.options.onApiCall?.({ verb, seconds: (performance.now() - began) / 1000, code });
    try {
      const result = await call();
      tell(null);
      return result;
    } catch (error) {
      tell(fromKubernetesError(error, verb).code);
      throw error;
    }
  }

  /** Starts the watches (WATCHED_SETS); their first list also settles what changed while gitfaas was away. */
  async start(): Promise<void> {
    const jobs = this.listWatch<V1Job>("jobs");
    const jobPods = this.listWatch<V1Pod>("job pods");
    const pods = this.listWatch<V1Pod>("pods");
    this.follow(jobs, "jobs", { toStatus: statusOfJob, ended: () => "Job deleted before it finished" });
    // Running pods give their addresses: publishes from them that do not say whose they are.
    const addresses = {
      seen: (pod: V1Pod) => this.addresses.update(pod),
      gone: (pod: V1Pod) => this.addresses.remove(pod),
    };
    // Out of the running set: the pod ended (or is gone); how its function ends is the Job's to tell.
    this.follow(jobPods, "job pods", { toStatus: statusOfPod, ...addresses });
    this.follow(pods, "pods", {
      toStatus: statusOfPod,
      ...addresses,
      ended: (pod) => (ownedByJob(pod) ? undefined : "Pod deleted before it finished"),
    });
    await Promise.all([
      this.startWatch(jobs, "jobs"),
      this.startWatch(jobPods, "job pods"),
      this.startWatch(pods, "pods"),
    ]);
    // Without both first lists, absence proves nothing: those functions wait for a later list of each
    // kind (a list that fails does not fail the informer's start: the informer reports it as an error
    // event, and lists again).
    this.settleVanishedOnceListed();
  }

  /** A list+watch of a set of tracked Jobs or Pods, in gitfaas's namespace or in all of them. */
  private listWatch<T extends V1Job | V1Pod>(what: WatchedSet): ListWatch<T> {
    const { namespace, watchAllNamespaces } = this.options;
    const { kind, labelSelector, fieldSelector } = WATCHED_SETS[what];
    const selected = { labelSelector, fieldSelector };
    const page = (request: PageRequest): Promise<ListPage<T>> => {
      const query = { ...selected, ...request };
      if (kind === "Job")
        return (
          watchAllNamespaces
            ? this.batch.listJobForAllNamespaces(query)
            : this.batch.listNamespacedJob({ namespace, ...query })
        ) as Promise<ListPage<T>>;
      return (
        watchAllNamespaces
          ? this.core.listPodForAllNamespaces(query)
          : this.core.listNamespacedPod({ namespace, ...query })
      ) as Promise<ListPage<T>>;
    };
    // The cache keeps only what statuses are told from (statusFieldsOf), both of lists and of events.
    const watch = new GuardedWatch(this.config, this.options.logger, what, {
      idleMs: this.options.watchIdleMs,
      keep: statusFieldsOf,
    });
    const path = watchedPath(what, watchAllNamespaces ? undefined : namespace);
    return new ListWatch<T>(path, watch, () => this.listed(what, page), false, labelSelector, fieldSelector);
  }

  /**
   * A list for a watch to start from, in pages, slimmed as they come. Logged: a list is rare (a start,
   * or a watch whose place the API server forgot), and what it costs grows with the tracked objects.
   */
  private async listed<T extends KubernetesObject, L extends ListPage<T>>(
    what: string,
    page: (request: PageRequest) => Promise<L>,
  ): Promise<L> {
    const began = performance.now();
    const list = await pagedList<T, L>(page, statusFieldsOf);
    this.listedFunctions.set(what, functionUidsOf(list.items));
    this.settleVanishedOnceListed();
    this.options.logger.info(
      { watch: what, objects: list.items.length, ms: Math.round(performance.now() - began) },
      "listed tracked objects",
    );
    return list;
  }

  /** A first list that fails (API server not up yet) is retried rather than failing gitfaas's start. */
  private async startWatch<T extends KubernetesObject>(informer: Informer<T>, what: string): Promise<void> {
    try {
      await informer.start();
    } catch (error) {
      if (this.closed) return;
      this.options.logger.warn(
        { err: fromKubernetesError(error, what).message },
        "first list failed; retrying",
      );
      setTimeout(() => void this.startWatch(informer, what), this.options.rewatchDelayMs ?? 1000).unref();
    }
  }

  private follow<T extends V1Job | V1Pod>(informer: Informer<T>, what: WatchedSet, how: Following<T>): void {
    this.informers.push(informer as unknown as Informer<KubernetesObject>);
    const onObject = (object: T) => {
      how.seen?.(object);
      const report = how.toStatus(object);
      if (this.reports.changes(report)) this.report(report);
    };
    informer.on("add", onObject);
    informer.on("update", onObject);
    informer.on("delete", (object: T) => {
      how.gone?.(object);
      const ended = how.ended?.(object);
      // Not the object that tells how its function ends (a Job's pod): nothing to tell of its going.
      const last = ended === undefined ? undefined : how.toStatus(object);
      if (ended === undefined || last === undefined) return;
      // A Job removed by ttlSecondsAfterFinished keeps the status it finished with; one deleted
      // before it finished will never finish, and nobody should wait for it.
      if (last.status !== "succeeded" && last.status !== "failed") {
        this.report({ ...last, status: "failed", finishedAt: new Date(), reason: ended });
      } else if (this.reports.changes(last)) {
        this.report(last);
      }
      this.reports.forget(last.functionUid);
    });
    informer.on("error", (error: unknown) => {
      if (this.closed) return;
      this.options.logger.warn({ err: error, watch: what }, "watch dropped; listing and watching again");
      setTimeout(() => {
        if (!this.closed) void this.startWatch(informer, what);
      }, this.options.rewatchDelayMs ?? 1000).unref();
    });
  }

  async reconcile(unfinished: readonly UnfinishedFunction[]): Promise<readonly string[]> {
    // Settled once the first lists are in (start): whatever still exists reports itself then.
    this.unfinishedAtStart = unfinished.filter((fn) => fn.applied);
    return [];
  }

  /**
   * Functions applied before this start whose Job or Pod is in neither first list were deleted while
   * nobody watched (a TTL, a person): how they ended is unknown, and nobody should wait for them.
   * Only applied ones are judged: those were created before the list was taken, so they would be in it.
   */
  private settleVanishedOnceListed(): void {
    const jobs = this.listedFunctions.get("jobs");
    const pods = this.listedFunctions.get("pods");
    if (!jobs || !pods || this.unfinishedAtStart.length === 0) return;
    const present = new Set([...jobs, ...pods]);
    for (const fn of this.unfinishedAtStart) {
      if (present.has(fn.functionUid)) continue;
      this.report({
        functionUid: fn.functionUid,
        status: "failed",
        finishedAt: new Date(),
        reason:
          "its Job or Pod is gone: deleted while gitfaas was not watching, or never created (gitfaas stopped while the API server pushed back); how it ended is unknown",
      });
    }
    this.unfinishedAtStart = [];
  }

  async logs(functionUid: string, range: LogRange = {}): Promise<LogOutput | undefined> {
    const text = await this.logText(functionUid);
    if (text === undefined) return undefined;
    // The API server sends each container's log whole; only the answer's tail is cut here.
    const bytes = Buffer.from(text, "utf8");
    const tail = bytes.subarray(Math.max(0, bytes.length - (range.tail ?? bytes.length)));
    return { size: tail.length, stream: Readable.from([tail], { objectMode: false }) };
  }

  private async logText(functionUid: string): Promise<string | undefined> {
    if (!isFunctionUid(functionUid)) return undefined;
    const labelSelector = `${TRACKING.functionId}=${functionUid.slice(0, 38)}`;
    let pods: V1Pod[];
    try {
      const list = this.options.watchAllNamespaces
        ? await this.core.listPodForAllNamespaces({ labelSelector })
        : await this.core.listNamespacedPod({ namespace: this.options.namespace, labelSelector });
      pods = list.items;
    } catch (error) {
      throw fromKubernetesError(error, "logs");
    }
    if (pods.length === 0) return undefined;
    const parts: string[] = [];
    for (const pod of pods) {
      const name = pod.metadata?.name ?? "";
      const namespace = pod.metadata?.namespace ?? this.options.namespace;
      for (const container of pod.spec?.containers ?? []) {
        const header = `--- pod ${namespace}/${name} container ${container.name} ---\n`;
        try {
          parts.push(
            header + (await this.core.readNamespacedPodLog({ name, namespace, container: container.name })),
          );
        } catch (error) {
          parts.push(`${header}(no output: ${fromKubernetesError(error, "logs").message})\n`);
        }
      }
    }
    return parts.join("");
  }

  async prune(_before: Date): Promise<void> {
    // The cluster keeps (and garbage-collects) its own objects.
  }

  async ping(): Promise<void> {
    try {
      await this.version.getCode();
    } catch (error) {
      throw fromKubernetesError(error, "ping");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    await Promise.allSettled([...this.retrying]);
    await Promise.allSettled(this.informers.map((informer) => informer.stop()));
    await this.config.destroyPool();
  }
}

function describeApplied(applied: readonly AppliedObject[]): string {
  return applied.map((a) => `${a.kind}/${a.name}${a.namespace ? ` in ${a.namespace}` : ""}`).join(", ");
}

/** The functions gitfaas's annotation names on these objects. */
function functionUidsOf(objects: readonly KubernetesObject[]): ReadonlySet<string> {
  const uids = new Set<string>();
  for (const object of objects) {
    const uid = object.metadata?.annotations?.[TRACKING.functionUidAnnotation];
    if (uid) uids.add(uid);
  }
  return uids;
}
