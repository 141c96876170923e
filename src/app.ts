import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { loadCatalog, type Catalog } from "./catalog/index.js";
import { Dispatcher } from "./dispatch/index.js";
import { GitSync, verifyWebhook } from "./gitops/index.js";
import { AccessControl, buildServer, type CatalogSource, type SourceState } from "./http/index.js";
import type { Logger } from "./logging/index.js";
import { KubernetesRuntime, LocalRuntime, type Runtime } from "./runtime/index.js";
import type { Settings } from "./settings/index.js";
import { RedisStore, SqliteStore, type Store } from "./store/index.js";

export interface RunningGitfaas {
  /** The URL the server listens on. */
  readonly url: string;
  readonly server: FastifyInstance;
  readonly store: Store;
  readonly runtime: Runtime;
  close(): Promise<void>;
}

const PURGE_INTERVAL_MS = 60_000;

function urlOf(address: AddressInfo): string {
  const host = address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

/** Composition: the one place that builds adapters from settings and wires them together. */
export async function startGitfaas(
  settings: Settings,
  hostEnv: Readonly<Record<string, string>>,
  logger: Logger,
): Promise<RunningGitfaas> {
  let listeningUrl = settings.publicUrl ?? "";
  let markListening = (): void => undefined;
  const listening = new Promise<void>((resolve) => (markListening = resolve));
  const publicUrl = (): string => settings.publicUrl ?? listeningUrl;

  const storeLogger = logger.child({ component: "store" });
  const store: Store =
    settings.store === "redis"
      ? await RedisStore.connect({
          url: settings.redis.url,
          password: settings.redis.password,
          keyPrefix: settings.redis.keyPrefix,
          expirationSeconds: settings.expirationSeconds,
          onConnectionError: (error, connection) =>
            storeLogger.warn({ connection, reason: error.message }, "redis connection trouble"),
        })
      : new SqliteStore({
          file: join(settings.dataDir, "store.db"),
          expirationSeconds: settings.expirationSeconds,
        });
  const runtimeLogger = logger.child({ component: "runtime" });
  const kubernetes =
    settings.runtime === "kubernetes"
      ? new KubernetesRuntime({
          kubeconfig: settings.kubeconfig,
          namespace: settings.namespace,
          watchAllNamespaces: settings.scope === "clusterWide",
          logger: runtimeLogger,
        })
      : undefined;
  const runtime: Runtime =
    kubernetes ??
    new LocalRuntime({
      dataDir: settings.dataDir,
      gitfaasUrl: publicUrl,
      concurrency: settings.localConcurrency,
      logLimitBytes: settings.localLogLimitBytes,
      listening,
      // A shared store lists what other replicas' local runtimes are running right now.
      ownRunsOnly: settings.store === "redis",
      hostEnv,
      logger: runtimeLogger,
    });
  runtime.onStatus((report) => {
    store.updateStatus(report.functionUid, report).catch((error: unknown) => {
      logger.error({ err: error, functionUid: report.functionUid }, "could not record a status");
    });
  });
  const sync = new GitSync<Catalog>({
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
  };

  const dispatcher = new Dispatcher({
    currentCatalog: () => sync.current(),
    store,
    runtime,
    policy: { bannedKinds: settings.bannedKinds, namespace: settings.namespace, scope: settings.scope },
    payloadUrl: (functionUid) => `${publicUrl()}/payload/${functionUid}`,
    limits: { maxRunningPerTopic: settings.topicMaxRunning, maxQueuedPerTopic: settings.topicMaxQueued },
    logger: logger.child({ component: "dispatch" }),
  });
  runtime.onStatus((report) => {
    if (report.status === "succeeded" || report.status === "failed")
      dispatcher.functionFinished(report.functionUid);
  });
  // Functions still waiting for a slot in the store never started: the dispatcher queues them again
  // (resume). Those the runtime takes over hold their topic's slot; it reports none of them finished
  // before reconcile returns, so the hold below comes before their release.
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
  await kubernetes?.start();

  const access = new AccessControl(settings.accessTokens);
  if (!access.enabled) {
    logger.warn({}, "authentication is off: anyone who reaches this port can publish, read and refresh");
  }
  const webhookSecret = settings.webhookSecret;
  const shutdown = new AbortController();
  const server = buildServer({
    dispatcher,
    store,
    source,
    runtime,
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
    shutdown: shutdown.signal,
  });

  const first = await sync.sync();
  if (first.refused) logger.warn({ ...first.refused }, "the repository could not be served yet");
  sync.startPolling(settings.pollIntervalMs);

  const purge = setInterval(() => {
    const now = new Date();
    void store
      .purgeExpired(now)
      .then(() => runtime.prune(new Date(now.getTime() - settings.expirationSeconds * 1000)))
      .catch((error: unknown) => logger.error({ err: error }, "expiry sweep failed"));
  }, PURGE_INTERVAL_MS);
  purge.unref();

  await server.listen({ port: settings.port, host: settings.host });
  listeningUrl = urlOf(server.server.address() as AddressInfo);
  markListening();
  // Only now do lambdas have a URL to answer to.
  const resumed = await dispatcher.resume();
  if (resumed > 0)
    logger.info({ functions: resumed }, "functions queued before the restart wait for a slot again");
  logger.info(
    { url: listeningUrl, repo: settings.repo, runtime: runtime.name, revision: state().revision },
    "gitfaas is serving",
  );

  let closed: Promise<void> | undefined;
  return {
    url: listeningUrl,
    server,
    store,
    runtime,
    close: () => {
      closed ??= (async () => {
        clearInterval(purge);
        // Waiting readers answer with what is known now, so that closing never hangs on them.
        shutdown.abort();
        await server.close();
        await dispatcher.close();
        await sync.stop();
        await runtime.close();
        await store.close();
      })();
      return closed;
    },
  };
}
