import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  VersionApi,
  ListWatch,
  type Informer,
  type ObjectCache,
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
import { fromKubernetesError, parseStatus } from "./errors.js";
import { StatusListeners } from "../status-listeners.js";
import { LeanKubeConfig } from "./lean-kubeconfig.js";
import { RenderedObjectApi } from "./rendered-object-api.js";
import { GuardedWatch } from "./guarded-watch.js";
import { pendingJobPodVersion } from "./lean-event.js";
import { PodAddresses } from "./pod-addresses.js";
import { ReportFilter } from "./report-filter.js";
import { statusFieldsOf, statusOfJob, statusOfPod } from "./status.js";

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
}

export interface KubernetesCall {
  readonly verb: "apply" | "create";
  readonly seconds: number;
  /** The error code the call ended with (KUBERNETES_CONFLICT…); null when the object was accepted. */
  readonly code: string | null;
}

const FIELD_MANAGER = "gitfaas";
const TRACKED_SELECTOR = TRACKING.functionId;

export function loadKubeConfig(kubeconfig: string | undefined): LeanKubeConfig {
  const config = new LeanKubeConfig();
  if (kubeconfig) config.loadFromFile(kubeconfig);
  else config.loadFromDefault();
  return config;
}

async function slimList<T extends KubernetesObject, L extends { items: T[] }>(list: Promise<L>): Promise<L> {
  const listed = await list;
  return { ...listed, items: listed.items.map(statusFieldsOf) };
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
  /** The addresses of the tracked pods that run, for publishes that do not say whose they are. */
  private readonly addresses = new PodAddresses();
  /** Reports that would change nothing are not told (each costs a store write). */
  private readonly reports = new ReportFilter();
  private unfinishedAtStart: readonly UnfinishedFunction[] = [];

  constructor(private readonly options: KubernetesRuntimeOptions) {
    this.statuses = new StatusListeners(options.logger);
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

  async apply(launch: FunctionLaunch): Promise<ApplyOutcome> {
    const applied: AppliedObject[] = [];
    for (const [index, object] of launch.objects.entries()) {
      const label = `${object.kind} ${object.metadata.name ?? `${object.metadata.generateName ?? ""}*`}`;
      try {
        const result = await this.put(object, launch.freshNames?.[index] === true);
        applied.push({
          kind: object.kind,
          name: result.metadata?.name ?? object.metadata.name ?? "",
          namespace: result.metadata?.namespace,
        });
      } catch (error) {
        const done =
          applied.length > 0
            ? ` (already applied: ${applied.map((a) => `${a.kind}/${a.name}`).join(", ")})`
            : "";
        const failure = fromKubernetesError(error, `${launch.path}: ${label}`);
        throw Object.assign(failure, { message: `${failure.message}${done}` });
      }
    }
    if (!launch.objects.some((object) => object.kind === "Job" || object.kind === "Pod")) {
      // Nothing runs to completion: once applied, the function is done.
      this.report({
        functionUid: launch.functionUid,
        status: "succeeded",
        attempts: 1,
        startedAt: new Date(),
        finishedAt: new Date(),
      });
    }
    return {
      objects: applied,
      message: `applied ${applied.map((a) => `${a.kind}/${a.name}${a.namespace ? ` in ${a.namespace}` : ""}`).join(", ")}`,
    };
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

  /** Starts the watches; their first list also settles what changed while gitfaas was away. */
  async start(): Promise<void> {
    const { namespace, watchAllNamespaces } = this.options;
    const jobsPath = watchAllNamespaces
      ? "/apis/batch/v1/jobs"
      : `/apis/batch/v1/namespaces/${namespace}/jobs`;
    const podsPath = watchAllNamespaces ? "/api/v1/pods" : `/api/v1/namespaces/${namespace}/pods`;
    // The cache keeps only what statuses are told from (statusFieldsOf), both of lists and of events.
    const watchOf = (what: string) =>
      new GuardedWatch(this.config, this.options.logger, what, {
        idleMs: this.options.watchIdleMs,
        keep: statusFieldsOf,
        skip: what === "pods" ? pendingJobPodVersion : undefined,
      });
    const jobs = new ListWatch<V1Job>(
      jobsPath,
      watchOf("jobs"),
      () =>
        slimList(
          watchAllNamespaces
            ? this.batch.listJobForAllNamespaces({ labelSelector: TRACKED_SELECTOR })
            : this.batch.listNamespacedJob({ namespace, labelSelector: TRACKED_SELECTOR }),
        ),
      false,
      TRACKED_SELECTOR,
    );
    const pods = new ListWatch<V1Pod>(
      podsPath,
      watchOf("pods"),
      () =>
        slimList(
          watchAllNamespaces
            ? this.core.listPodForAllNamespaces({ labelSelector: TRACKED_SELECTOR })
            : this.core.listNamespacedPod({ namespace, labelSelector: TRACKED_SELECTOR }),
        ),
      false,
      TRACKED_SELECTOR,
    );
    pods.on("add", (pod) => this.addresses.update(pod));
    pods.on("update", (pod) => this.addresses.update(pod));
    pods.on("delete", (pod) => this.addresses.remove(pod));
    this.follow(jobs, statusOfJob, "jobs");
    this.follow(pods, statusOfPod, "pods");
    const listed = await Promise.all([this.startWatch(jobs, "jobs"), this.startWatch(pods, "pods")]);
    // Without both first lists, absence proves nothing: leave those functions as they are.
    if (listed.every(Boolean)) this.settleVanished(jobs, pods);
    else this.unfinishedAtStart = [];
  }

  /** A first list that fails (API server not up yet) is retried rather than failing gitfaas's start. */
  private async startWatch<T extends KubernetesObject>(
    informer: Informer<T>,
    what: string,
  ): Promise<boolean> {
    try {
      await informer.start();
      return true;
    } catch (error) {
      if (this.closed) return false;
      this.options.logger.warn(
        { err: fromKubernetesError(error, what).message },
        "first list failed; retrying",
      );
      setTimeout(() => void this.startWatch(informer, what), this.options.rewatchDelayMs ?? 1000).unref();
      return false;
    }
  }

  private follow<T extends KubernetesObject>(
    informer: Informer<T>,
    toStatus: (object: T) => StatusReport | undefined,
    what: string,
  ): void {
    this.informers.push(informer as unknown as Informer<KubernetesObject>);
    const onObject = (object: T) => {
      const report = toStatus(object);
      if (this.reports.changes(object.metadata?.uid, report)) this.report(report);
    };
    informer.on("add", onObject);
    informer.on("update", onObject);
    informer.on("delete", (object: T) => {
      const last = toStatus(object);
      const key = object.metadata?.uid;
      // A Job removed by ttlSecondsAfterFinished keeps the status it finished with; one deleted
      // before it finished will never finish, and nobody should wait for it.
      if (last && last.status !== "succeeded" && last.status !== "failed") {
        this.report({
          ...last,
          status: "failed",
          finishedAt: new Date(),
          reason: `${what === "jobs" ? "Job" : "Pod"} deleted before it finished`,
        });
      } else if (this.reports.changes(key, last)) {
        this.report(last);
      }
      this.reports.forget(key);
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
  private settleVanished(
    jobs: Informer<V1Job> & ObjectCache<V1Job>,
    pods: Informer<V1Pod> & ObjectCache<V1Pod>,
  ): void {
    const present = new Set<string>();
    for (const object of [...jobs.list(), ...pods.list()]) {
      const uid = object.metadata?.annotations?.[TRACKING.functionUidAnnotation];
      if (uid) present.add(uid);
    }
    for (const fn of this.unfinishedAtStart) {
      if (present.has(fn.functionUid)) continue;
      this.report({
        functionUid: fn.functionUid,
        status: "failed",
        finishedAt: new Date(),
        reason: "its Job or Pod was deleted while gitfaas was not watching; how it ended is unknown",
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
    await Promise.allSettled(this.informers.map((informer) => informer.stop()));
    await this.config.destroyPool();
  }
}
