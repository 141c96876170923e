import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { NO_NEXT_STEPS, loadCatalog, type Catalog } from "./catalog/index.js";
import { Dispatcher, ReplicaLease, replicaIdOf } from "./dispatch/index.js";
import { GitfaasError, describeError, isGitfaasError } from "./errors/index.js";
import { GitSync, displayRepo, verifyWebhook } from "./gitops/index.js";
import {
  AccessControl,
  buildServer,
  type CatalogSource,
  type TopicDescription,
  type RouteTable,
  type SourceState,
} from "./http/index.js";
import type { Logger } from "./logging/index.js";
import { GitfaasMetrics, type SyncView } from "./observability/index.js";
import { startTracing, type Tracing } from "./observability/tracing/index.js";
import { NextSteps, Scheduler, lineageFor, readTree, systemClock, type Clock } from "./pipelines/index.js";
import {
  PUSHBACK_DELAYS,
  KubernetesRuntime,
  LocalRunnerClient,
  LocalRuntime,
  type Runtime,
} from "./runtime/index.js";
import type { Settings } from "./settings/index.js";
import {
  RedisStore,
  SqliteStore,
  StatusOutbox,
  ensurePrivateDir,
  timedStore,
  type Store,
} from "./store/index.js";
import { Teardown } from "./teardown.js";
import { VERSION } from "./version/index.js";

export interface RunningGitfaas {
  /** The URL the server listens on. */
  readonly url: string;
  readonly server: FastifyInstance;
  /** Every route with who may call it. */
  readonly routes: RouteTable;
  readonly store: Store;
  readonly runtime: Runtime;
  readonly scheduler: Scheduler;
  /** Next steps of pipelines: fired as functions finish, and swept for claims left by a dead replica. */
  readonly nextSteps: NextSteps;
  close(): Promise<void>;
}

const PURGE_INTERVAL_MS = 60_000;
/** How often claimed next steps whose claimer may have died are looked for. */
const FIRING_SWEEP_INTERVAL_MS = 10_000;

function urlOf(address: AddressInfo): string {
  const host = address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

async function buildStore(settings: Settings, logger: Logger): Promise<Store> {
  const storeLogger = logger.child({ component: "store" });
  // Before anything is written there: it holds payloads and answers.
  const privacy = ensurePrivateDir(settings.dataDir);
  if (privacy.warning) storeLogger.warn({ dataDir: settings.dataDir }, privacy.warning);
  if (privacy.tightened)
    storeLogger.info({ dataDir: settings.dataDir }, "the data dir was open to others: now 0700");
  if (settings.store === "redis") {
    return RedisStore.connect({
      url: settings.redis.url,
      password: settings.redis.password,
      keyPrefix: settings.redis.keyPrefix,
      expirationSeconds: settings.expirationSeconds,
      onConnectionError: (error, connection) =>
        storeLogger.warn({ connection, reason: error.message }, "redis connection trouble"),
    });
  }
  return new SqliteStore({
    file: join(settings.dataDir, "store.db"),
    expirationSeconds: settings.expirationSeconds,
  });
}

/** A start-up failure as one clear line: what could not be done, the setting to look at, and why. */
function startupFailure(setting: string, what: string, cause: unknown): GitfaasError {
  if (isGitfaasError(cause)) return cause;
  const reason = (cause as NodeJS.ErrnoException).code ?? describeError(cause);
  return new GitfaasError("INVALID_SETTING", `${setting}: ${what} (${reason})`, { setting }, { cause });
}

function startupStep<T>(setting: string, what: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw startupFailure(setting, what, error);
  }
}

interface BuiltRuntime {
  readonly runtime: Runtime;
  readonly kubernetes: KubernetesRuntime | undefined;
}

/** Where lambdas reach this server (known once it listens: `listening`), and who counts API calls. */
interface RuntimeWiring {
  readonly url: () => string;
  readonly listening: Promise<void>;
  readonly metrics: GitfaasMetrics;
}

function buildRuntime(
  settings: Settings,
  hostEnv: Readonly<Record<string, string>>,
  address: RuntimeWiring,
  logger: Logger,
): BuiltRuntime {
  const runtimeLogger = logger.child({ component: "runtime" });
  if (settings.runtime === "kubernetes") {
    const kubernetes = startupStep(
      "--kubeconfig",
      `cannot load ${settings.kubeconfig ?? "the kubeconfig"}`,
      () =>
        new KubernetesRuntime({
          kubeconfig: settings.kubeconfig,
          namespace: settings.namespace,
          watchAllNamespaces: settings.scope === "clusterWide",
          logger: runtimeLogger,
          onApiCall: (call) => address.metrics.kubernetesCalled(call),
          pushback: { ...PUSHBACK_DELAYS, budgetMs: settings.kubernetesRetryBudgetMs },
        }),
    );
    return { runtime: kubernetes, kubernetes };
  }
  const LocalRunsFrom = settings.localRunner === "process" ? LocalRunnerClient : LocalRuntime;
  const local = new LocalRunsFrom({
    dataDir: settings.dataDir,
    gitfaasUrl: address.url,
    concurrency: settings.localConcurrency,
    logLimitBytes: settings.localLogLimitBytes,
    listening: address.listening,
    // A shared store lists what other replicas' local runtimes are running right now.
    ownRunsOnly: settings.store === "redis",
    hostEnv,
    logger: runtimeLogger,
  });
  return { runtime: local, kubernetes: undefined };
}

/**
 * After a restart, settles or takes over what the store believes unfinished. Functions still waiting
 * for a slot in the store never started: the dispatcher queues them again (resume). Those the runtime
 * takes over hold their topic's slot; it reports none of them finished before reconcile returns, so
 * the hold comes before their release.
 */
async function reconcile(store: Store, runtime: Runtime, dispatcher: Dispatcher): Promise<string[]> {
  const unfinished = (await store.listUnfinished()).filter((fn) => !fn.queued);
  const taken = new Set(
    await runtime.reconcile(
      unfinished.map((fn) => ({
        functionUid: fn.functionUid,
        status: fn.status,
        applied: fn.apply !== null && !fn.apply.error,
      })),
    ),
  );
  dispatcher.hold(unfinished.filter((fn) => taken.has(fn.functionUid)));
  // Those it settled (as interrupted, say) owe their next steps.
  return unfinished.filter((fn) => !taken.has(fn.functionUid)).map((fn) => fn.functionUid);
}

function buildSync(
  settings: Settings,
  logger: Logger,
  metrics: GitfaasMetrics,
): { sync: GitSync<Catalog>; source: CatalogSource } {
  const sync = new GitSync<Catalog>({
    onRefused: (refusal) => metrics.gitRefused(refusal.code),
    repo: settings.repo,
    branch: settings.branch,
    dataDir: settings.dataDir,
    auth: settings.git,
    load: (dir) => loadCatalog(dir, settings.configPath),
    logger: logger.child({ component: "gitops" }),
  });
  const state = (): SourceState => {
    const status = sync.status();
    return { ...status, topics: [...(sync.current()?.content.topics.keys() ?? [])].sort() };
  };
  const source: CatalogSource = {
    refresh: async () => {
      await sync.sync();
      return state();
    },
    state,
    describeTopics: () => describeTopics(sync.current()?.content),
  };
  return { sync, source };
}

/** Names, paths and declarations only: what `GET /topics` shows readers, never manifest contents. */
function describeTopics(catalog: Catalog | undefined): TopicDescription[] {
  return [...(catalog?.topics.values() ?? [])]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((topic) => ({
      name: topic.name,
      manifests: topic.manifests.map((manifest) => manifest.path),
      params: topic.params?.declared ?? null,
      next: {
        onSuccess: topic.next?.onSuccess ?? [],
        onFailure: topic.next?.onFailure ?? [],
        join: topic.next?.join ?? null,
      },
      schedule: topic.schedule ? { cron: topic.schedule.cron, timezone: topic.schedule.timezone } : null,
    }));
}

function buildDispatcher(
  settings: Settings,
  parts: {
    sync: GitSync<Catalog>;
    store: Store;
    runtime: Runtime;
    nextSteps: () => NextSteps;
    metrics: GitfaasMetrics;
    tracing: Tracing;
  },
  publicUrl: () => string,
  logger: Logger,
): Dispatcher {
  const { metrics } = parts;
  const dispatcher = new Dispatcher({
    events: {
      published: (topic, code, seconds) => metrics.published(topic, code ?? "accepted", seconds),
      functionQueued: (functionUid, topic) => metrics.functionQueued(functionUid, topic),
      functionStarted: (functionUid, topic) => metrics.functionStarted(functionUid, topic),
      functionRefused: (functionUid, topic) => metrics.functionRefused(functionUid, topic),
      functionLeft: (functionUid) => metrics.functionLeft(functionUid),
    },
    onStartRefused: (functionUid) => parts.nextSteps().heard(functionUid),
    currentCatalog: () => parts.sync.current(),
    store: parts.store,
    runtime: parts.runtime,
    policy: { bannedKinds: settings.bannedKinds, namespace: settings.namespace, scope: settings.scope },
    payloadUrl: (functionUid) => `${publicUrl()}/payload/${functionUid}`,
    limits: { maxRunningPerTopic: settings.topicMaxRunning, maxQueuedPerTopic: settings.topicMaxQueued },
    logger: logger.child({ component: "dispatch" }),
    tracing: parts.tracing,
  });
  parts.runtime.onStatus((report) => {
    if (report.status === "succeeded" || report.status === "failed") {
      dispatcher.functionFinished(report.functionUid);
      metrics.functionFinished(report.functionUid, report.status, report);
    }
  });
  return dispatcher;
}

/**
 * With a store other replicas share and the local runtime, this replica holds a lease on its runs
 * (see ReplicaLease); elsewhere there is nothing to lease (one process owns the store, or the cluster
 * runs the functions).
 */
async function startReplicaLease(
  settings: Settings,
  parts: { store: Store; built: BuiltRuntime; statuses: StatusOutbox },
  logger: Logger,
): Promise<ReplicaLease | undefined> {
  const leases = parts.store.leases;
  if (!leases || parts.built.kubernetes) return undefined;
  const lease = new ReplicaLease({
    leases,
    replicaId: await replicaIdOf(settings.dataDir),
    leaseMs: settings.replicaLeaseMs,
    settle: (functionUid, change) => parts.statuses.report(functionUid, change),
    logger: logger.child({ component: "leases" }),
  });
  await lease.start();
  parts.built.runtime.onStatus((report) => {
    if (report.status === "succeeded" || report.status === "failed") lease.release(report.functionUid);
  });
  return lease;
}

function buildNextSteps(
  settings: Settings,
  parts: { sync: GitSync<Catalog>; store: Store; dispatcher: () => Dispatcher },
  publicUrl: () => string,
  logger: Logger,
): NextSteps {
  return new NextSteps({
    store: parts.store,
    publish: (input) => parts.dispatcher().publish(input),
    stepsOf: (topic) => {
      const served = parts.sync.current();
      return served && (served.content.topics.get(topic)?.next ?? NO_NEXT_STEPS);
    },
    maxDepth: settings.pipelineMaxDepth,
    payloadUrl: (functionUid) => `${publicUrl()}/payload/${functionUid}`,
    logger: logger.child({ component: "pipelines" }),
  });
}

/**
 * Sweeps next steps and schedule ticks claimed and never settled at start (every claim, when no other
 * process shares the store), then every few seconds.
 */
function startFiringSweep(
  settings: Settings,
  parts: { nextSteps: NextSteps; scheduler: Scheduler },
  logger: Logger,
): () => void {
  const sweep = (all: boolean) => {
    void parts.nextSteps
      .sweep(all)
      .catch((error: unknown) => logger.error({ err: error }, "next-step sweep failed"));
    void parts.scheduler
      .sweep(all)
      .catch((error: unknown) => logger.error({ err: error }, "schedule sweep failed"));
  };
  sweep(settings.store !== "redis");
  const timer = setInterval(() => sweep(false), FIRING_SWEEP_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function buildHttp(
  settings: Settings,
  parts: {
    dispatcher: Dispatcher;
    store: Store;
    source: CatalogSource;
    runtime: Runtime;
    schedules: Scheduler["view"];
    nextSteps: NextSteps;
    metrics: GitfaasMetrics;
  },
  shutdown: AbortSignal,
  logger: Logger,
) {
  const access = new AccessControl(settings.accessTokens);
  if (!access.enabled) {
    logger.warn({}, "authentication is off: anyone who reaches this port can publish, read and refresh");
  }
  const webhookSecret = settings.webhookSecret;
  const { store, nextSteps, metrics } = parts;
  return buildServer({
    ...parts,
    metrics: metrics.enabled ? () => metrics.exposition() : undefined,
    runs: {
      lineageFor: (parent) => lineageFor(store, parent, settings.pipelineMaxDepth),
      // Lambdas written for the original send no Gitfaas-Parent: their pod's address says whose they are.
      lineageFromAddress: async (address) => {
        const parent = parts.runtime.functionAt?.(address);
        if (parent === undefined) return undefined;
        // A function gone since (expired) links nothing; too deep a chain is refused as with the header.
        return lineageFor(store, parent, settings.pipelineMaxDepth).catch((error: unknown) => {
          if (isGitfaasError(error) && error.code === "PIPELINE_TOO_DEEP") throw error;
          return undefined;
        });
      },
      readTree: (requestUid, waitMs, signal, until) =>
        readTree(store, requestUid, {
          waitMs,
          signal,
          until,
          pendingSteps: (request, firings) => nextSteps.pendingSteps(request, firings),
        }),
    },
    bodyLimitBytes: settings.bodyLimitBytes,
    logger: logger.child({ component: "http" }),
    access,
    webhooks: webhookSecret
      ? { verify: (headers, body) => verifyWebhook(headers, body, webhookSecret), branch: settings.branch }
      : undefined,
    limits: {
      maxQueryParameters: settings.maxQueryParameters,
      maxParameterLength: settings.maxParameterLength,
      requestTimeoutMs: settings.requestTimeoutMs,
    },
    maxWaitSeconds: Math.max(1, Math.min(300, settings.requestTimeoutMs / 1000 - 5)),
    shutdown,
  });
}

function startExpirySweep(settings: Settings, store: Store, runtime: Runtime, logger: Logger): () => void {
  const purge = setInterval(() => {
    const now = new Date();
    void store
      .purgeExpired(now)
      .then(() => runtime.prune(new Date(now.getTime() - settings.expirationSeconds * 1000)))
      .catch((error: unknown) => logger.error({ err: error }, "expiry sweep failed"));
  }, PURGE_INTERVAL_MS);
  purge.unref();
  return () => clearInterval(purge);
}

/**
 * Composition: the one place that builds adapters from settings and wires them together. Each part
 * registers its teardown as soon as it exists, so that a start that fails half-way releases what it
 * took (the store's lock, watches, child processes) before the error reaches the caller.
 */
export async function startGitfaas(
  settings: Settings,
  hostEnv: Readonly<Record<string, string>>,
  logger: Logger,
  /** Schedules read the time here; a test passes its own and drives `scheduler.tick()`. */
  clock: Clock = systemClock,
): Promise<RunningGitfaas> {
  const teardown = new Teardown(logger);
  try {
    let listeningUrl = settings.publicUrl ?? "";
    let markListening = (): void => undefined;
    const listening = new Promise<void>((resolve) => (markListening = resolve));
    const publicUrl = (): string => settings.publicUrl ?? listeningUrl;

    let syncView = (): SyncView => ({ revision: null, lastSyncAt: null });
    const metrics = new GitfaasMetrics(() => syncView(), settings.metrics);
    const plainStore = await buildStore(settings, logger);
    const store = settings.metrics ? timedStore(plainStore, (call) => metrics.storeCalled(call)) : plainStore;
    teardown.add("store", () => store.close());
    // A report the store cannot take now is kept and written once it can. Stopped after the runtime
    // (its last reports still go in) and before the store: writes under way finish as the store
    // commits them; failed ones are not retried.
    // Built once the catalog and the dispatcher exist; reports before then are of runs settled at start,
    // whose next steps are fired once it is serving (see below).
    const late: { nextSteps?: NextSteps } = {};
    const statuses = new StatusOutbox({
      store,
      logger: logger.child({ component: "store" }),
      onWritten: (functionUid, change) => {
        if (change.status === "succeeded" || change.status === "failed") late.nextSteps?.heard(functionUid);
      },
    });
    teardown.add("status outbox", () => statuses.close());
    // Tracing: closed after the runtime, so that the last runs' ends are sent.
    const tracing = await startTracing({
      otlpEndpoint: settings.otlpEndpoint,
      logger: logger.child({ component: "tracing" }),
    });
    teardown.add("tracing", () => tracing.close());
    const built = buildRuntime(settings, hostEnv, { url: publicUrl, listening, metrics }, logger);
    const runtime = built.runtime;
    teardown.add("runtime", () => runtime.close());
    runtime.onStatus((report) => tracing.functionStatus(report));
    runtime.onStatus((report) => statuses.report(report.functionUid, report));
    const lease = await startReplicaLease(settings, { store, built, statuses }, logger);
    if (lease) teardown.add("replica lease", () => lease.close());

    const { sync, source } = buildSync(settings, logger, metrics);
    syncView = () => sync.status();
    teardown.add("git sync", () => sync.stop());
    const dispatcher = buildDispatcher(
      settings,
      {
        sync,
        store,
        runtime: lease ? lease.leased(runtime) : runtime,
        nextSteps: () => steps,
        metrics,
        tracing,
      },
      publicUrl,
      logger,
    );
    teardown.add("dispatcher", () => dispatcher.close());
    const settled = await reconcile(store, runtime, dispatcher);
    await built.kubernetes?.start();
    const scheduler = new Scheduler({
      store,
      currentCatalog: () => sync.current(),
      publish: (input) => dispatcher.publish(input),
      clock,
      logger: logger.child({ component: "schedules" }),
    });
    teardown.add("scheduler", () => scheduler.close());
    const steps = buildNextSteps(settings, { sync, store, dispatcher: () => dispatcher }, publicUrl, logger);
    late.nextSteps = steps;
    const shutdown = new AbortController();
    const { app: server, routes } = buildHttp(
      settings,
      { dispatcher, store, source, runtime, schedules: () => scheduler.view(), nextSteps: steps, metrics },
      shutdown.signal,
      logger,
    );
    // Waiting readers answer with what is known now, so that closing never hangs on them.
    teardown.add("http server", async () => {
      shutdown.abort();
      await server.close();
    });

    const first = await sync.sync();
    if (first.refused) logger.warn({ ...first.refused }, "the repository could not be served yet");
    sync.startPolling(settings.pollIntervalMs);
    teardown.add("expiry sweep", startExpirySweep(settings, store, runtime, logger));

    await server.listen({ port: settings.port, host: settings.host }).catch((error: unknown) => {
      throw startupFailure("--port", `cannot listen on ${settings.host}:${settings.port}`, error);
    });
    listeningUrl = urlOf(server.server.address() as AddressInfo);
    markListening();
    // Only now do lambdas have a URL to answer to.
    const resumed = await dispatcher.resume();
    scheduler.start();
    if (resumed > 0)
      logger.info({ functions: resumed }, "functions queued before the restart wait for a slot again");
    teardown.add("next-step sweep", startFiringSweep(settings, { nextSteps: steps, scheduler }, logger));
    // First of all at a stop: functions waiting for a slot stay kept for the next start. Without this,
    // a run that ends while the server waits for its requests in flight would start one, only for the
    // runtime to end it as it closes.
    teardown.add("queued starts", () => dispatcher.close());
    // Runs the reconcile settled (as interrupted, say) owe their next steps too; claims make it once.
    for (const functionUid of settled) steps.heard(functionUid);
    logger.info(
      {
        url: listeningUrl,
        version: VERSION,
        repo: displayRepo(settings.repo),
        runtime: runtime.name,
        revision: source.state().revision,
      },
      "gitfaas is serving",
    );
    return {
      url: listeningUrl,
      server,
      routes,
      store,
      runtime,
      scheduler,
      nextSteps: steps,
      close: () => teardown.run(),
    };
  } catch (error) {
    await teardown.run();
    throw error;
  }
}
