import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { KubernetesCall } from "../runtime/index.js";
import type { StoreCall } from "../store/index.js";

/** How often the event loop's delay is sampled (see GitfaasMetrics' constructor). */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * The label value of a publish whose topic is not in the served catalog: a `/` no topic name can hold
 * (src/catalog), so that a caller sending made-up topics cannot add label values (each one a series).
 */
export const UNKNOWN_TOPIC = "/unknown";

/** Finished statuses, as the runtime reports them. */
export type FinishedStatus = "succeeded" | "failed";

/** What the served revision looks like now (read at each scrape). */
export interface SyncView {
  readonly revision: string | null;
  readonly lastSyncAt: Date | null;
}

interface Tracked {
  readonly topic: string;
  state: "queued" | "running";
  /** performance.now() when it started, for a duration the runtime does not give. */
  startedAt: number;
}

// Functions run for seconds to an hour; stores and API servers answer in milliseconds.
const FUNCTION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function counter<L extends string>(
  registry: Registry,
  name: string,
  labelNames: readonly L[],
  help: string,
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram<L extends string>(
  registry: Registry,
  spec: { name: string; labelNames: readonly L[]; help: string; buckets: number[] },
): Histogram<L> {
  return new Histogram({ ...spec, registers: [registry] });
}

function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/**
 * gitfaas's metrics registry: dispatch, runtime, store and gitops tell it what happened (each
 * through its own small hook); it counts. Label values are bounded: topics come from the catalog,
 * outcomes and errors are registered codes, operations are method names; no UIDs.
 */
export class GitfaasMetrics {
  readonly registry = new Registry();
  /** Functions of this process that are waiting or running, to count running/queued and to time them. */
  private readonly functions = new Map<string, Tracked>();
  private readonly publishes = counter(
    this.registry,
    "gitfaas_publishes_total",
    ["topic", "outcome"],
    "Publishes by topic and outcome: accepted, or the error code that refused them.",
  );
  private readonly publishSeconds = histogram(this.registry, {
    name: "gitfaas_publish_duration_seconds",
    labelNames: ["topic"],
    help: "Time to answer a publish (render, record, start or queue every function), by topic.",
    buckets: FAST_BUCKETS,
  });
  private readonly finished = counter(
    this.registry,
    "gitfaas_functions_finished_total",
    ["topic", "status"],
    "Functions finished, by topic and status (succeeded, failed).",
  );
  private readonly functionSeconds = histogram(this.registry, {
    name: "gitfaas_function_duration_seconds",
    labelNames: ["topic", "status"],
    help: "Run time of finished functions, from start to end, by topic and status.",
    buckets: FUNCTION_BUCKETS,
  });
  private readonly answers = counter(
    this.registry,
    "gitfaas_answers_total",
    [],
    "Answers posted by lambdas and stored.",
  );
  private readonly storeSeconds = histogram(this.registry, {
    name: "gitfaas_store_operation_duration_seconds",
    labelNames: ["operation"],
    help: "Time the store took per operation.",
    buckets: FAST_BUCKETS,
  });
  private readonly storeErrors = counter(
    this.registry,
    "gitfaas_store_errors_total",
    ["operation", "code"],
    "Store operations that failed, by operation and error code.",
  );
  private readonly kubernetesSeconds = histogram(this.registry, {
    name: "gitfaas_kubernetes_apply_duration_seconds",
    labelNames: ["verb"],
    help: "Time the Kubernetes API server took per object written, by verb (apply, create).",
    buckets: FAST_BUCKETS,
  });
  private readonly kubernetesErrors = counter(
    this.registry,
    "gitfaas_kubernetes_apply_errors_total",
    ["verb", "code"],
    "Objects the Kubernetes API server refused or did not answer for, by verb and error code.",
  );
  private readonly gitRefusals = counter(
    this.registry,
    "gitfaas_git_refusals_total",
    ["code"],
    "Syncs that refused the branch head (a commit that does not validate, once per commit; or git failing), by code.",
  );

  /** `enabled: false` (`--metrics no`): every method returns at once; nothing is counted. */
  constructor(
    sync: () => SyncView,
    readonly enabled = true,
  ) {
    // The event-loop delay histogram samples with a timer: prom-client's default of every 10 ms wakes an
    // idle gitfaas 100 times a second. Measured idle (in-process server, 20 s): 4.0 ms of CPU a second
    // at 10 ms, 1.6 ms at 100 ms. Every 100 ms still gives its percentiles; each sample is as exact.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.stateGauges(sync);
  }

  /** Gauges read at each scrape from what is true now, so they can never drift from it. */
  private stateGauges(sync: () => SyncView): void {
    const registers = [this.registry];
    const functions = this.functions;
    const perTopic = (gauge: Gauge<"topic">, state: Tracked["state"]): void => {
      gauge.reset();
      for (const fn of functions.values()) if (fn.state === state) gauge.inc({ topic: fn.topic });
    };
    new Gauge({
      name: "gitfaas_functions_running",
      help: "Functions of this replica running now, by topic.",
      labelNames: ["topic"],
      registers,
      collect() {
        perTopic(this, "running");
      },
    });
    new Gauge({
      name: "gitfaas_functions_queued",
      help: "Functions of this replica waiting for a slot of their topic, by topic.",
      labelNames: ["topic"],
      registers,
      collect() {
        perTopic(this, "queued");
      },
    });
    new Gauge({
      name: "gitfaas_git_last_success_timestamp_seconds",
      help: "When a sync last ended serving the branch head (Unix time); 0 before the first.",
      registers,
      collect() {
        this.set((sync().lastSyncAt?.getTime() ?? 0) / 1000);
      },
    });
    new Gauge({
      name: "gitfaas_git_revision_info",
      help: "The revision served (commit, or dir- and a hash for a plain folder): always 1.",
      labelNames: ["revision"],
      registers,
      collect() {
        this.reset();
        const revision = sync().revision;
        if (revision !== null) this.set({ revision }, 1);
      },
    });
  }

  /** A publish ended: `topic` is null when the served catalog has no such topic (or none is served). */
  published(topic: string | null, outcome: string, seconds: number): void {
    if (!this.enabled) return;
    const label = topic ?? UNKNOWN_TOPIC;
    this.publishes.inc({ topic: label, outcome });
    this.publishSeconds.observe({ topic: label }, seconds);
  }

  functionQueued(functionUid: string, topic: string): void {
    if (!this.enabled) return;
    this.functions.set(functionUid, { topic, state: "queued", startedAt: performance.now() });
  }

  functionStarted(functionUid: string, topic: string): void {
    if (!this.enabled) return;
    this.functions.set(functionUid, { topic, state: "running", startedAt: performance.now() });
  }

  /** Failed without running (refused by policy, or the runtime would not start it). */
  functionRefused(functionUid: string, topic: string): void {
    if (!this.enabled) return;
    this.functions.delete(functionUid);
    this.finished.inc({ topic, status: "failed" });
  }

  /** Gone without finishing here (another replica took it from the queue). */
  functionLeft(functionUid: string): void {
    if (!this.enabled) return;
    this.functions.delete(functionUid);
  }

  /**
   * A function of this replica finished; counted once (a repeated report finds nothing). Its run time
   * is the runtime's when it gives both ends, else from when this replica started it.
   */
  functionFinished(
    functionUid: string,
    status: FinishedStatus,
    times: { startedAt?: Date | null; finishedAt?: Date | null } = {},
  ): void {
    if (!this.enabled) return;
    const fn = this.functions.get(functionUid);
    if (!fn) return;
    this.functions.delete(functionUid);
    const { startedAt, finishedAt } = times;
    const seconds =
      startedAt && finishedAt
        ? Math.max(0, (finishedAt.getTime() - startedAt.getTime()) / 1000)
        : secondsSince(fn.startedAt);
    this.finished.inc({ topic: fn.topic, status });
    this.functionSeconds.observe({ topic: fn.topic, status }, seconds);
  }

  storeCalled(call: StoreCall): void {
    if (!this.enabled) return;
    this.storeSeconds.observe({ operation: call.operation }, call.seconds);
    if (call.fault !== null) this.storeErrors.inc({ operation: call.operation, code: call.fault });
    // An answer is received once the store holds it (refused ones, ANSWER_FINAL say, are not).
    if (call.operation === "putResponse" && call.ok) this.answers.inc();
  }

  kubernetesCalled(call: KubernetesCall): void {
    if (!this.enabled) return;
    this.kubernetesSeconds.observe({ verb: call.verb }, call.seconds);
    if (call.code !== null) this.kubernetesErrors.inc({ verb: call.verb, code: call.code });
  }

  gitRefused(code: string): void {
    if (!this.enabled) return;
    this.gitRefusals.inc({ code });
  }

  /** The Prometheus text exposition, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
