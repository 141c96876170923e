import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SCOPES, isScope, type Scope } from "../access/index.js";
import { GitfaasError, describeError } from "../errors/index.js";
import { checkRepoSetting, parsePollInterval } from "../gitops/index.js";
import { DEFAULT_BANNED_KINDS } from "../templating/index.js";
import type { LogLevel } from "../logging/index.js";
import {
  effectiveEnv,
  envName,
  legacyLogLevel,
  legacyMinutes,
  legacySeconds,
  legacyUseSshKey,
  legacyYesNo,
  type LegacyEnv,
  type SettingNotice,
} from "./legacy-env.js";

export { envName, type SettingNotice } from "./legacy-env.js";

/** Every setting of `gitfaas serve`, parsed and validated once at start-up. Nothing else reads the environment. */
export interface Settings {
  readonly repo: string;
  readonly branch: string;
  readonly configPath: string;
  readonly pollIntervalMs: number;
  readonly port: number;
  readonly host: string;
  /** The URL lambdas use to reach this server (GITFAAS_URL, {{PAYLOAD_URL}}); unset: derived from the listening address. */
  readonly publicUrl: string | undefined;
  readonly dataDir: string;
  readonly runtime: "local" | "kubernetes";
  /** Kubernetes runtime: a kubeconfig file; unset: in-cluster service account or the default kubeconfig. */
  readonly kubeconfig: string | undefined;
  readonly expirationSeconds: number;
  readonly bannedKinds: readonly string[];
  readonly namespace: string;
  readonly scope: "namespaced" | "clusterWide";
  /** Kubernetes runtime: how long writes the API server pushes back (429, 5xx, no answer) are retried. */
  readonly kubernetesRetryBudgetMs: number;
  readonly bodyLimitBytes: number;
  readonly localConcurrency: number;
  /** Bytes of output the local runtime keeps per function: the head and the tail, the middle cut. */
  readonly localLogLimitBytes: number;
  /** Where local runs are started from: a helper process (off the event loop), or gitfaas itself. */
  readonly localRunner: "process" | "inline";
  readonly localInheritEnv: readonly string[];
  readonly logLevel: LogLevel;
  /** Bearer tokens and what each may do; empty: access control off. */
  readonly accessTokens: readonly { readonly token: string; readonly scopes: readonly Scope[] }[];
  /** Shared secret of git webhooks; unset: webhooks off. */
  readonly webhookSecret: string | undefined;
  readonly topicMaxRunning: number;
  readonly topicMaxQueued: number;
  readonly maxQueryParameters: number;
  readonly maxParameterLength: number;
  readonly requestTimeoutMs: number;
  /** Pipelines: the longest chain of publishes from a root request (next steps and Gitfaas-Parent). */
  readonly pipelineMaxDepth: number;
  /** With a shared store and the local runtime: how long a replica's runs stay its own unrenewed. */
  readonly replicaLeaseMs: number;
  /** sqlite: a file in the data dir, one gitfaas; redis: shared by every replica pointing at it. */
  readonly store: "sqlite" | "redis";
  readonly redis: {
    /** Never carries a password (refused). */
    readonly url: string;
    readonly password: string | undefined;
    readonly keyPrefix: string;
  };
  readonly git: {
    readonly username: string | undefined;
    readonly token: string | undefined;
    readonly sshKeyFile: string | undefined;
    readonly knownHostsFile: string | undefined;
    readonly strictHostKeyChecking: boolean;
  };
  /** Tracing: OTLP/HTTP collector spans are sent to; unset: no spans (trace context is still passed on). */
  readonly otlpEndpoint: string | undefined;
  /** Metrics counted and GET /metrics served. */
  readonly metrics: boolean;
  /** Lines to log once at start: deprecated variables used, variables ignored. */
  readonly notices: readonly SettingNotice[];
}

export interface SettingSpec {
  /** Flag name without dashes; its environment variable is GITFAAS_ + the name in upper snake case. */
  readonly flag: string;
  readonly description: string;
  readonly default?: string;
  /** The original gitfaas's variable for it, still honoured (deprecated). */
  readonly legacy?: LegacyEnv;
}

/** The bundled example pipeline: gitfaas serves it when no repository is given. */
export const EXAMPLE_REPO = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "examples",
  "pipeline",
);

export const SERVE_SETTINGS: readonly SettingSpec[] = [
  {
    flag: "repo",
    description: "git URL (http(s)://, ssh://, git@host:path, file://) or local path to serve",
    default: EXAMPLE_REPO,
    legacy: { name: "GIT_URL" },
  },
  {
    flag: "require-repo",
    description:
      "yes: refuse to start without --repo rather than serve the bundled example (the container image sets yes)",
    default: "no",
  },
  { flag: "branch", description: "branch to follow", default: "main", legacy: { name: "GIT_PULL_BRANCH" } },
  {
    flag: "config-path",
    description: "path of the topics file inside the repository",
    default: "config.json",
    legacy: { name: "APPLY_CONFIG_PATH" },
  },
  {
    flag: "poll-interval",
    description: "how often to fetch: 30s, 5m, 1h; a bare number means minutes",
    default: "10m",
    legacy: { name: "POLLING_INTERVAL", convert: legacyMinutes },
  },
  { flag: "port", description: "HTTP port", default: "5000" },
  { flag: "host", description: "address to listen on", default: "127.0.0.1" },
  { flag: "public-url", description: "URL lambdas use to reach gitfaas (default http://<host>:<port>)" },
  {
    flag: "data-dir",
    description: "folder for the store, git snapshots and local runs",
    default: ".gitfaas-data",
  },
  {
    flag: "runtime",
    description: "where lambdas run: local (child processes) or kubernetes",
    default: "local",
  },
  {
    flag: "kubeconfig",
    description: "kubernetes runtime: kubeconfig file (default: in-cluster, then ~/.kube/config)",
  },
  {
    flag: "expiration",
    description: "seconds a request and its responses are kept",
    default: "172800",
    legacy: { name: "EXPIRATION_TIME", convert: legacySeconds },
  },
  {
    flag: "banned-kinds",
    description: "space-separated kinds never applied (case-insensitive)",
    default: DEFAULT_BANNED_KINDS.join(" "),
    legacy: { name: "BANNED_KUBE_RESS" },
  },
  {
    flag: "namespace",
    description: "gitfaas's own namespace, where objects without one land",
    default: "default",
  },
  {
    flag: "scope",
    description: "namespaced (only gitfaas's namespace) or clusterWide",
    default: "namespaced",
  },
  {
    flag: "kubernetes-retry-budget",
    description:
      "seconds a function's writes are retried when the API server pushes back (429, 5xx, no answer); 0: fail at once",
    default: "120",
  },
  {
    flag: "body-limit",
    description: "largest accepted request body, in bytes",
    default: String(1024 * 1024),
  },
  {
    flag: "local-concurrency",
    description: "local runtime: runs at once; more wait their turn",
    default: "4",
  },
  {
    flag: "local-runner",
    description:
      "local runtime: process (a helper process starts and watches the runs, off gitfaas's event loop) or inline (gitfaas's own process does)",
    default: "process",
  },
  {
    flag: "local-log-limit",
    description: "local runtime: bytes of output kept per function (its head and tail; the middle is cut)",
    default: String(8 * 1024 * 1024),
  },
  {
    flag: "local-inherit-env",
    description: "local runtime: space-separated variables lambdas inherit from gitfaas's environment",
    default: "PATH HOME LANG LC_ALL TZ TMPDIR PYENV_ROOT PYENV_VERSION",
  },
  {
    flag: "log-level",
    description: "debug, info, warn or error",
    default: "info",
    legacy: { name: "LOG_LEVEL", convert: legacyLogLevel },
  },
  {
    flag: "store",
    description: "where requests and answers are kept: sqlite (in --data-dir) or redis (shared by replicas)",
    default: "sqlite",
  },
  {
    flag: "redis-url",
    description: "redis store: redis:// or rediss:// URL, without a password",
    default: "redis://127.0.0.1:6379",
  },
  {
    flag: "redis-password-file",
    description: "redis store: file holding the password (or set GITFAAS_REDIS_PASSWORD); never a flag value",
    legacy: { name: "REDIS_PASSWORD", target: "GITFAAS_REDIS_PASSWORD" },
  },
  {
    flag: "redis-key-prefix",
    description: "redis store: prefix of every key and channel, to share one Redis",
    default: "gitfaas:",
  },
  {
    flag: "auth-tokens-file",
    description:
      "bearer tokens, one per line: '<token> <scope>[,<scope>]' with scopes publish, read, admin (or GITFAAS_PUBLISH_TOKEN, GITFAAS_READ_TOKEN, GITFAAS_ADMIN_TOKEN); none: no auth",
  },
  {
    flag: "webhook-secret-file",
    description: "shared secret of git push webhooks (or GITFAAS_WEBHOOK_SECRET); none: webhooks off",
  },
  {
    flag: "topic-max-running",
    description: "functions of one topic running at once on this replica; 0: no limit",
    default: "0",
  },
  {
    flag: "topic-max-queued",
    description: "functions of one topic waiting for a slot; beyond it 429",
    default: "100",
  },
  { flag: "max-query-parameters", description: "query parameters accepted by a publish", default: "32" },
  { flag: "max-parameter-length", description: "longest query parameter (name + value)", default: "8192" },
  { flag: "request-timeout", description: "seconds a request may take, ?wait included", default: "330" },
  {
    flag: "replica-lease",
    description:
      "seconds a replica's local runs stay its own without renewal (shared store); then another replica settles them",
    default: "30",
  },
  {
    flag: "pipeline-max-depth",
    description:
      "longest chain of publishes from a root request (next steps, Gitfaas-Parent); deeper is refused",
    default: "32",
  },
  {
    flag: "metrics",
    description: "count metrics and serve GET /metrics: yes or no",
    default: "yes",
  },
  {
    flag: "otlp-endpoint",
    description:
      "OTLP/HTTP collector for spans (http://collector:4318, /v1/traces is added; or the full traces URL); unset: no spans",
  },
  {
    flag: "git-username",
    description: "HTTP username for the repository",
    legacy: { name: "GIT_USER_NAME" },
  },
  {
    flag: "git-token-file",
    description: "file holding the HTTP token (or set GITFAAS_GIT_TOKEN); never a flag value",
    legacy: { name: "GIT_PERSONAL_TOKEN", target: "GITFAAS_GIT_TOKEN" },
  },
  {
    flag: "ssh-key-file",
    description: "SSH private key for the repository",
    legacy: { name: "GIT_USE_SSH_KEY", convert: legacyUseSshKey },
  },
  { flag: "ssh-known-hosts-file", description: "known_hosts file for the git server" },
  {
    flag: "strict-host-key-checking",
    description: "yes or no",
    default: "yes",
    legacy: { name: "GIT_STRICT_HOST_KEY_CHECKING", convert: legacyYesNo },
  },
];

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Inside a cluster, gitfaas's namespace is its pod's. */
function podNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function invalid(flag: string, message: string): GitfaasError {
  return new GitfaasError("INVALID_SETTING", `--${flag} (${envName(flag)}): ${message}`, { setting: flag });
}

/** Reads a file holding a secret; errors name the setting, never the content. */
function readSecretFile(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw invalid(flag, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw invalid(flag, `'${text}' is not a whole number`);
  const value = Number(text);
  if (value < min || value > max) throw invalid(flag, `${value} is outside ${min}..${max}`);
  return value;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  const found = allowed.find((value) => value.toLowerCase() === text.trim().toLowerCase());
  if (!found) throw invalid(flag, `'${text}' is not one of ${allowed.join(", ")}`);
  return found;
}

/**
 * Merges flag values with GITFAAS_* variables (a flag wins) and defaults, and validates them all.
 * `values` is keyed by flag name.
 */
export function parseSettings(
  values: Readonly<Record<string, string | undefined>>,
  processEnv: Readonly<Record<string, string | undefined>>,
): Settings {
  const { env, notices } = effectiveEnv(SERVE_SETTINGS, values, processEnv);
  const given = (flag: string): string | undefined => {
    const value = values[flag] ?? env[envName(flag)];
    return value === "" ? undefined : value;
  };
  const get = (flag: string): string | undefined =>
    given(flag) ?? SERVE_SETTINGS.find((spec) => spec.flag === flag)?.default;
  const required = (flag: string): string => {
    const value = get(flag);
    if (value === undefined) throw invalid(flag, "is required");
    return value;
  };
  const words = (flag: string): string[] => (get(flag) ?? "").split(/[\s,]+/).filter(Boolean);

  const port = integer("port", required("port"), 0, 65535);
  const host = required("host");
  const publicUrl = get("public-url")?.replace(/\/+$/, "");
  if (publicUrl !== undefined && !URL.canParse(publicUrl))
    throw invalid("public-url", `'${publicUrl}' is not a URL`);

  const tokenFile = get("git-token-file");
  let token = env.GITFAAS_GIT_TOKEN || undefined;
  if (tokenFile !== undefined) {
    token = readSecretFile("git-token-file", tokenFile).trim();
  }

  const accessTokens: { token: string; scopes: Scope[] }[] = [];
  const tokensFile = get("auth-tokens-file");
  if (tokensFile !== undefined) {
    const lines = readSecretFile("auth-tokens-file", tokensFile).split("\n");
    lines.forEach((line, index) => {
      const text = line.trim();
      if (text === "" || text.startsWith("#")) return;
      const [token, scopeList, extra] = text.split(/\s+/);
      const scopes = (scopeList ?? "").split(",").filter(Boolean);
      if (!token || scopes.length === 0 || extra !== undefined || !scopes.every(isScope)) {
        // The line itself holds a token: name its number only.
        throw invalid(
          "auth-tokens-file",
          `line ${index + 1} is not '<token> <scope>[,<scope>]' with scopes ${SCOPES.join(", ")}`,
        );
      }
      accessTokens.push({ token, scopes: scopes.filter(isScope) });
    });
  }
  for (const scope of SCOPES) {
    const token = env[`GITFAAS_${scope.toUpperCase()}_TOKEN`];
    if (token) accessTokens.push({ token, scopes: [scope] });
  }
  const webhookSecretFile = get("webhook-secret-file");
  const webhookSecret =
    webhookSecretFile !== undefined
      ? readSecretFile("webhook-secret-file", webhookSecretFile).trim()
      : env.GITFAAS_WEBHOOK_SECRET || undefined;

  const inherit = words("local-inherit-env");
  const hostEnvNames = inherit.filter((name) => !/TOKEN|PASSWORD|SECRET|KEY/i.test(name));
  if (hostEnvNames.length !== inherit.length) {
    throw invalid("local-inherit-env", "refuses names that look like secrets (TOKEN, PASSWORD, SECRET, KEY)");
  }

  const requireRepo = oneOf("require-repo", required("require-repo"), ["yes", "no"] as const) === "yes";
  if (requireRepo && given("repo") === undefined) {
    throw invalid(
      "repo",
      "is required here: GITFAAS_REQUIRE_REPO=yes (set by the container image) refuses to serve the " +
        "bundled example; set GITFAAS_REPO (or the original's GIT_URL) to your repository",
    );
  }
  const repo = required("repo");
  const gitUsername = get("git-username");
  try {
    checkRepoSetting(repo, gitUsername);
  } catch (error) {
    // Its message never repeats the URL's user-info, where a token may be.
    throw invalid("repo", describeError(error));
  }

  const redisUrl = required("redis-url");
  // The URL is never echoed: it may hold the very password being refused.
  if (!URL.canParse(redisUrl) || !/^rediss?:$/.test(new URL(redisUrl).protocol))
    throw invalid("redis-url", "must be a redis:// or rediss:// URL");
  if (new URL(redisUrl).password !== "") {
    // A password inside the URL would end up in argv and logs.
    throw invalid(
      "redis-url",
      "must not carry a password; use GITFAAS_REDIS_PASSWORD or --redis-password-file",
    );
  }
  const otlpEndpoint = get("otlp-endpoint");
  if (
    otlpEndpoint !== undefined &&
    !(URL.canParse(otlpEndpoint) && /^https?:$/.test(new URL(otlpEndpoint).protocol))
  )
    throw invalid("otlp-endpoint", "must be an http:// or https:// URL");
  const redisPasswordFile = get("redis-password-file");
  const redisPassword =
    redisPasswordFile !== undefined
      ? readSecretFile("redis-password-file", redisPasswordFile).trim()
      : env.GITFAAS_REDIS_PASSWORD || undefined;

  return {
    repo,
    branch: required("branch"),
    configPath: required("config-path"),
    pollIntervalMs: parsePollInterval(required("poll-interval")),
    port,
    host,
    publicUrl,
    dataDir: resolve(required("data-dir")),
    runtime: oneOf("runtime", required("runtime"), ["local", "kubernetes"] as const),
    kubeconfig: get("kubeconfig"),
    expirationSeconds: integer("expiration", required("expiration"), 1),
    bannedKinds: words("banned-kinds"),
    namespace: get("namespace") ?? podNamespace() ?? "default",
    scope: oneOf("scope", required("scope"), ["namespaced", "clusterWide"] as const),
    kubernetesRetryBudgetMs:
      integer("kubernetes-retry-budget", required("kubernetes-retry-budget"), 0, 86_400) * 1000,
    bodyLimitBytes: integer("body-limit", required("body-limit"), 1),
    localConcurrency: integer("local-concurrency", required("local-concurrency"), 1, 1024),
    localLogLimitBytes: integer("local-log-limit", required("local-log-limit"), 1024),
    localRunner: oneOf("local-runner", required("local-runner"), ["process", "inline"] as const),
    localInheritEnv: hostEnvNames,
    accessTokens,
    webhookSecret,
    topicMaxRunning: integer("topic-max-running", required("topic-max-running"), 0),
    topicMaxQueued: integer("topic-max-queued", required("topic-max-queued"), 0),
    maxQueryParameters: integer("max-query-parameters", required("max-query-parameters"), 0, 10_000),
    maxParameterLength: integer("max-parameter-length", required("max-parameter-length"), 1),
    requestTimeoutMs: integer("request-timeout", required("request-timeout"), 1) * 1000,
    pipelineMaxDepth: integer("pipeline-max-depth", required("pipeline-max-depth"), 1, 10_000),
    replicaLeaseMs: integer("replica-lease", required("replica-lease"), 1, 86_400) * 1000,
    store: oneOf("store", required("store"), ["sqlite", "redis"] as const),
    redis: { url: redisUrl, password: redisPassword, keyPrefix: required("redis-key-prefix") },
    logLevel: oneOf("log-level", required("log-level"), [
      "debug",
      "info",
      "warn",
      "error",
      "silent",
    ] as const),
    git: {
      username: gitUsername,
      token,
      sshKeyFile: get("ssh-key-file"),
      knownHostsFile: get("ssh-known-hosts-file"),
      strictHostKeyChecking:
        oneOf("strict-host-key-checking", required("strict-host-key-checking"), ["yes", "no"] as const) ===
        "yes",
    },
    otlpEndpoint,
    metrics: oneOf("metrics", required("metrics"), ["yes", "no"] as const) === "yes",
    notices,
  };
}
