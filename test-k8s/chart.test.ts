// The Helm chart (charts/gitfaas) and the Dockerfile: helm lint, helm template in every mode (parsed and
// asserted), then the rendered chart applied to the local control plane, and its RBAC proven with a token
// of the chart's own ServiceAccount. Run alone with `npm run test:chart`; `npm run test:k8s` runs it too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import type {
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1Ingress,
  V1PersistentVolumeClaim,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";

const ROOT = join(import.meta.dirname, "..");
const CHART = join(ROOT, "charts", "gitfaas");
const RULES = parse(readFileSync(join(CHART, "files", "rbac-rules.yaml"), "utf8")) as V1PolicyRule[];
const STATE = process.env.GITFAAS_CLUSTER_DIR ?? "/tmp/gitfaas-cluster";
const KUBECTL = join(STATE, "bin", "kubectl");
const WORK = mkdtempSync(join(tmpdir(), "gitfaas-chart-"));
// helm keeps its config, cache and data here, not in the user's home.
const HELM_ENV = {
  ...process.env,
  HELM_CONFIG_HOME: join(WORK, "helm", "config"),
  HELM_CACHE_HOME: join(WORK, "helm", "cache"),
  HELM_DATA_HOME: join(WORK, "helm", "data"),
};
let helm = "";

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// The API server of the shared cluster may be restarted by another suite running at the same time
// (kubernetes-runtime.test.ts): such refusals are retried for a while; anything else is the answer.
const API_DOWN =
  /connection refused|server .* was refused|connection reset|unexpected EOF|server is currently unable|TLS handshake timeout/i;

function run(
  command: string,
  args: readonly string[],
  input?: string,
  env: NodeJS.ProcessEnv = HELM_ENV,
): Run {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const result = spawnSync(command, args, { input, encoding: "utf8", env, maxBuffer: 64 * 1024 * 1024 });
    if (result.error) throw result.error;
    if (result.status === 0 || !API_DOWN.test(result.stderr) || Date.now() > deadline) {
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    }
    spawnSync("sleep", ["1"]);
  }
}

function ok(
  command: string,
  args: readonly string[],
  input?: string,
  env: NodeJS.ProcessEnv = HELM_ENV,
): string {
  const result = run(command, args, input, env);
  assert.equal(result.status, 0, `${command} ${args.join(" ")} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

// A values file in the original chart's shapes (every key of its values.yaml), as its users have one.
const ORIGINAL_VALUES = join(ROOT, "test-k8s", "fixtures", "original-values.yaml");
const URL_HTTP = "https://git.example.com/team/lambdas.git";
const TOKEN = "ghp_chartTestToken0123456789";

/** Writes values to a file (JSON is YAML) so that any string survives, commas and newlines included. */
function valuesFile(values: object): string {
  const file = join(WORK, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function templateArgs(values: object, namespace: string, release: string): string[] {
  return ["template", release, CHART, "--namespace", namespace, "-f", valuesFile(values)];
}

/** `helm template` parsed into objects. */
function render(values: object, namespace = "gitfaas", release = "gf"): KubeObject[] {
  const text = ok(helm, templateArgs(values, namespace, release));
  return parseAllDocuments(text)
    .map((doc) => {
      assert.deepEqual(doc.errors, [], "helm template printed invalid YAML");
      return doc.toJS() as KubeObject | null;
    })
    .filter((doc): doc is KubeObject => doc !== null);
}

/** `helm template` with the original chart's values file (test-k8s/fixtures), then these values. */
function renderOriginal(release: string, values: object = {}, namespace = "lambdas"): KubeObject[] {
  const text = ok(helm, [
    ...["template", release, CHART, "--namespace", namespace],
    ...["-f", ORIGINAL_VALUES, "-f", valuesFile(values)],
  ]);
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((doc): doc is KubeObject => doc !== null);
}

/** `helm template` must refuse these values, naming `why`. */
function refuses(values: object, why: RegExp): void {
  const result = run(helm, templateArgs(values, "gitfaas", "gf"));
  assert.notEqual(result.status, 0, "helm template accepted values it must refuse");
  assert.match(result.stderr, why);
}

function find<T>(docs: KubeObject[], kind: string, name?: string): T {
  const found = docs.filter((doc) => doc.kind === kind && (name === undefined || doc.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind} ${name ?? ""}, got ${found.length}`);
  return found[0] as T;
}

function kinds(docs: KubeObject[]): string[] {
  return docs.map((doc) => doc.kind);
}

/** The chart's full name: the release name alone when it already says gitfaas. */
function fullname(release: string): string {
  return release.includes("gitfaas") ? release : `${release}-gitfaas`;
}

function gitfaasDeployment(docs: KubeObject[], release = "gf"): V1Deployment {
  return find<V1Deployment>(docs, "Deployment", fullname(release));
}

function gitfaasContainer(docs: KubeObject[], release = "gf"): V1Container {
  const containers = gitfaasDeployment(docs, release).spec!.template.spec!.containers;
  assert.equal(containers.length, 1);
  return containers[0]!;
}

/** The value following a flag in the container's args (undefined: the flag is absent). */
function flag(container: V1Container, name: string): string | undefined {
  const args = container.args ?? [];
  const at = args.indexOf(name);
  if (at === -1) return undefined;
  assert.equal(args.indexOf(name, at + 1), -1, `${name} given twice`);
  return args[at + 1];
}

function allContainers(docs: KubeObject[]): V1Container[] {
  return docs
    .filter((doc) => doc.kind === "Deployment")
    .flatMap((doc) => {
      const spec = (doc as V1Deployment).spec!.template.spec!;
      return [...(spec.initContainers ?? []), ...spec.containers];
    });
}

/**
 * No secret is ever a plain value: env vars whose name looks secret come from valueFrom, and the secret
 * strings (or their base64) appear in no rendered object but a Secret.
 */
function assertNoPlainSecrets(docs: KubeObject[], secrets: readonly string[]): void {
  for (const container of allContainers(docs)) {
    for (const env of container.env ?? []) {
      if (/TOKEN|PASSWORD|SECRET|AUTH|KEY/i.test(env.name)) {
        assert.equal(env.value, undefined, `${container.name}: env ${env.name} is a plain value`);
        assert.ok(env.valueFrom?.secretKeyRef, `${container.name}: env ${env.name} is not from a Secret`);
      }
      for (const secret of secrets) assert.notEqual(env.value, secret, `${env.name} holds a secret`);
    }
    for (const secret of secrets) {
      assert.ok(!(container.args ?? []).some((arg) => arg.includes(secret)), "a secret is an argument");
    }
  }
  for (const doc of docs) {
    if (doc.kind === "Secret") continue;
    const text = JSON.stringify(doc);
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `${doc.kind} ${doc.metadata.name} holds a secret in clear`);
      const b64 = Buffer.from(secret).toString("base64");
      assert.ok(!text.includes(b64), `${doc.kind} ${doc.metadata.name} holds a secret in base64`);
    }
  }
}

function secretValue(secret: V1Secret, key: string): string {
  const data = secret.data?.[key];
  assert.ok(data !== undefined, `Secret ${secret.metadata?.name} has no key ${key}`);
  return Buffer.from(data, "base64").toString("utf8");
}

/** The volume mounted at the folder of `file`, and the Secret key that becomes that file. */
function secretBehindFile(
  docs: KubeObject[],
  file: string,
): { secretName: string; key: string; mode: number } {
  const pod = gitfaasDeployment(docs).spec!.template.spec!;
  const container = gitfaasContainer(docs);
  const mount = (container.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `nothing mounted over ${file}`);
  assert.equal(mount.readOnly, true);
  const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
  assert.ok(volume?.secret, `${file} does not come from a Secret`);
  const item = (volume.secret.items ?? []).find((i) => `${mount.mountPath}/${i.path}` === file);
  assert.ok(item, `no Secret item becomes ${file}`);
  return { secretName: volume.secret.secretName!, key: item.key, mode: volume.secret.defaultMode! };
}

before(() => {
  const built = ok("bash", [join(ROOT, "helm", "build.sh")], undefined, process.env);
  const line = built.trim().split("\n").at(-1) ?? "";
  assert.match(line, /^helm=\//, "helm/build.sh did not end with helm=<path>");
  helm = line.slice("helm=".length);
});

after(() => rmSync(WORK, { recursive: true, force: true }));

describe("chart: helm lint and refusals", () => {
  test("helm lint --strict passes in token, SSH, existing-secret, clusterWide and external-Redis modes", () => {
    const modes: object[] = [
      { app: { git: { url: URL_HTTP, http: { personalToken: TOKEN } } } },
      {
        app: {
          git: {
            url: "git@git.example.com:team/lambdas.git",
            sshKey: { usePrivateKey: "yes", knowHostsMultiLine: "git.example.com ssh-ed25519 AAAAC3Nz" },
          },
        },
      },
      { app: { git: { url: URL_HTTP, http: { existingSecret: "my-git" } } }, rbac: { scope: "clusterWide" } },
      {
        app: { git: { url: URL_HTTP } },
        redis: { enabled: false, external: { url: "redis://redis.shared:6379" } },
        ingress: { enabled: true },
      },
    ];
    for (const values of modes) {
      const out = ok(helm, ["lint", CHART, "--strict", "-f", valuesFile(values)]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test("helm template refuses what gitfaas would refuse at start", () => {
    refuses({}, /app\.git\.url is required/);
    refuses(
      { app: { git: { url: "https://bob:hunter2@git.example.com/r.git" } } },
      /must not carry a password/,
    );
    refuses(
      { app: { git: { url: "git@h:r.git", sshKey: { usePrivateKey: "yes" } } } },
      /knowHostsMultiLine .* is required while app\.git\.sshKey\.strictHostKeyChecking is yes/,
    );
    refuses({ app: { git: { url: URL_HTTP } }, redis: { enabled: false } }, /redis\.external\.url/);
    refuses(
      { app: { git: { url: URL_HTTP } }, redis: { enabled: false, external: { url: "redis://:pw@r:6379" } } },
      /must not carry a password/,
    );
    // values.schema.json
    refuses({ app: { git: { url: URL_HTTP } }, rbac: { scope: "everywhere" } }, /rbac\/scope/);
    refuses({ app: { git: { url: URL_HTTP, sshKey: { usePrivateKey: "maybe" } } } }, /usePrivateKey/);
    refuses({ app: { git: { url: URL_HTTP } }, service: { port: "http" } }, /service\/port/);
  });

  test("the original chart's --set line still installs (url, userName, personalToken)", () => {
    const text = ok(helm, [
      "template",
      "gitfaas",
      CHART,
      "-n",
      "gitfaas",
      "--set",
      `app.git.url=${URL_HTTP}`,
      "--set",
      "app.git.userName=alice",
      "--set",
      `app.git.http.personalToken=${TOKEN}`,
    ]);
    const docs = parseAllDocuments(text)
      .map((doc) => doc.toJS() as KubeObject | null)
      .filter((doc): doc is KubeObject => doc !== null);
    const container = gitfaasContainer(docs, "gitfaas");
    assert.equal(flag(container, "--repo"), URL_HTTP);
    assert.equal(flag(container, "--git-username"), "alice");
    assert.equal(flag(container, "--git-token-file"), "/var/run/secrets/gitfaas/git/token");
    assert.equal(
      find<V1Secret>(docs, "Secret", "gitfaas-git").data?.token,
      Buffer.from(TOKEN).toString("base64"),
    );
    assertNoPlainSecrets(docs, [TOKEN]);
  });
});

describe("chart: RBAC by scope", () => {
  test("namespaced (default): a Role + RoleBinding in the release namespace with exactly the shared rules", () => {
    const docs = render({ app: { git: { url: URL_HTTP } } }, "lambdas");
    assert.ok(!kinds(docs).includes("ClusterRole") && !kinds(docs).includes("ClusterRoleBinding"));
    const role = find<V1Role>(docs, "Role");
    assert.equal(role.metadata?.namespace, "lambdas");
    assert.deepEqual(role.rules, RULES);
    const binding = find<V1RoleBinding>(docs, "RoleBinding");
    assert.equal(binding.metadata?.namespace, "lambdas");
    assert.deepEqual(binding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: role.metadata?.name,
    });
    const sa = find<KubeObject>(docs, "ServiceAccount");
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: sa.metadata.name, namespace: "lambdas" },
    ]);
    assert.equal(gitfaasDeployment(docs).spec!.template.spec!.serviceAccountName, sa.metadata.name);
    assert.equal(flag(gitfaasContainer(docs), "--scope"), "namespaced");
    assert.equal(flag(gitfaasContainer(docs), "--namespace"), "lambdas");
  });

  test("clusterWide: a ClusterRole + ClusterRoleBinding with exactly the shared rules, and --scope clusterWide", () => {
    const docs = render({ app: { git: { url: URL_HTTP } }, rbac: { scope: "clusterWide" } }, "lambdas");
    assert.ok(!kinds(docs).includes("Role") && !kinds(docs).includes("RoleBinding"));
    const role = find<V1Role>(docs, "ClusterRole");
    assert.equal(role.metadata?.namespace, undefined);
    assert.deepEqual(role.rules, RULES);
    const binding = find<V1RoleBinding>(docs, "ClusterRoleBinding");
    assert.equal(binding.roleRef.kind, "ClusterRole");
    assert.equal(binding.roleRef.name, role.metadata?.name);
    // Two releases in two namespaces must not fight over one cluster-scoped name.
    assert.notEqual(
      role.metadata?.name,
      find<V1Role>(
        render({ app: { git: { url: URL_HTTP } }, rbac: { scope: "clusterWide" } }, "other"),
        "ClusterRole",
      ).metadata?.name,
    );
    const sa = find<KubeObject>(docs, "ServiceAccount");
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: sa.metadata.name, namespace: "lambdas" },
    ]);
    assert.equal(flag(gitfaasContainer(docs), "--scope"), "clusterWide");
  });
});

describe("chart: git access", () => {
  test("token mode: the chart's Secret holds the token, mounted as the --git-token-file; never a plain value", () => {
    const docs = render({
      app: { git: { url: URL_HTTP, userName: "alice", http: { personalToken: TOKEN } } },
    });
    const container = gitfaasContainer(docs);
    const file = flag(container, "--git-token-file");
    assert.ok(file);
    const source = secretBehindFile(docs, file);
    assert.equal(source.mode, 0o400);
    assert.equal(secretValue(find<V1Secret>(docs, "Secret", source.secretName), source.key), TOKEN);
    assert.ok(
      !(container.env ?? []).some((env) => env.name === "GITFAAS_GIT_TOKEN" && env.value !== undefined),
    );
    assert.equal(flag(container, "--ssh-key-file"), undefined);
    assertNoPlainSecrets(docs, [TOKEN]);
  });

  test("existing-secret mode: no Secret of the chart; the named Secret and key are mounted as the token file", () => {
    const docs = render({
      app: {
        git: {
          url: URL_HTTP,
          http: { personalToken: TOKEN, existingSecret: "team-git", existingSecretKey: "pat" },
        },
      },
    });
    const source = secretBehindFile(docs, flag(gitfaasContainer(docs), "--git-token-file")!);
    assert.deepEqual(source, { secretName: "team-git", key: "pat", mode: 0o400 });
    assert.ok(!docs.some((doc) => doc.kind === "Secret" && doc.metadata.name.endsWith("-git")));
    assertNoPlainSecrets(docs, [TOKEN]);
  });

  test("SSH mode: key Secret (id_rsa, 0400) and known_hosts ConfigMap mounted, with their flags; no token", () => {
    const knownHosts =
      "git.example.com ssh-ed25519 AAAAC3NzaC1\ngit.example.com ecdsa-sha2-nistp256 AAAAE2Vj";
    const docs = render({
      app: {
        git: {
          url: "git@git.example.com:team/lambdas.git",
          http: { personalToken: TOKEN },
          sshKey: { usePrivateKey: "yes", privKeySecretName: "deploy-key", knowHostsMultiLine: knownHosts },
        },
      },
    });
    const container = gitfaasContainer(docs);
    assert.equal(flag(container, "--git-token-file"), undefined, "SSH overrides the personal token");
    assert.ok(!docs.some((doc) => doc.kind === "Secret" && doc.metadata.name.endsWith("-git")));
    const key = secretBehindFile(docs, flag(container, "--ssh-key-file")!);
    assert.deepEqual(key, { secretName: "deploy-key", key: "id_rsa", mode: 0o400 });
    // fsGroup makes the 0400 file readable by the non-root user (kubelet gives it the group).
    assert.equal(gitfaasDeployment(docs).spec!.template.spec!.securityContext?.fsGroup, 10001);
    const hostsFile = flag(container, "--ssh-known-hosts-file")!;
    const mount = container.volumeMounts!.find((m) => hostsFile.startsWith(`${m.mountPath}/`))!;
    const volume = gitfaasDeployment(docs).spec!.template.spec!.volumes!.find((v) => v.name === mount.name)!;
    const configMap = find<V1ConfigMap>(docs, "ConfigMap", volume.configMap!.name);
    assert.equal(configMap.data!.known_hosts!.trim(), knownHosts);
    assert.equal(hostsFile, `${mount.mountPath}/known_hosts`);
    assert.equal(flag(container, "--strict-host-key-checking"), "yes");
    assert.equal(flag(container, "--repo"), "git@git.example.com:team/lambdas.git");
    assertNoPlainSecrets(docs, [TOKEN]);
  });

  test("SSH with strictHostKeyChecking no: no known_hosts needed, --strict-host-key-checking no", () => {
    const docs = render({
      app: {
        git: { url: "ssh://git@h/r.git", sshKey: { usePrivateKey: "yes", strictHostKeyChecking: "no" } },
      },
    });
    const container = gitfaasContainer(docs);
    assert.equal(flag(container, "--strict-host-key-checking"), "no");
    assert.equal(flag(container, "--ssh-known-hosts-file"), undefined);
    assert.ok(!kinds(docs).includes("ConfigMap"));
  });

  test("auth tokens and the webhook secret come from Secrets mounted as files", () => {
    const tokens = "tok-publish-1 publish\ntok-admin-2 admin,read";
    const docs = render({
      app: { git: { url: URL_HTTP } },
      auth: { tokens },
      webhook: { existingSecret: "hooks", existingSecretKey: "github" },
    });
    const container = gitfaasContainer(docs);
    const auth = secretBehindFile(docs, flag(container, "--auth-tokens-file")!);
    assert.equal(secretValue(find<V1Secret>(docs, "Secret", auth.secretName), auth.key), tokens);
    const hook = secretBehindFile(docs, flag(container, "--webhook-secret-file")!);
    assert.deepEqual(hook, { secretName: "hooks", key: "github", mode: 0o400 });
    assertNoPlainSecrets(docs, ["tok-publish-1", "tok-admin-2"]);
    // Neither set: the flags are absent (gitfaas then runs without auth and webhooks).
    const plain = gitfaasContainer(render({ app: { git: { url: URL_HTTP } } }));
    assert.equal(flag(plain, "--auth-tokens-file"), undefined);
    assert.equal(flag(plain, "--webhook-secret-file"), undefined);
  });
});

describe("chart: Redis", () => {
  test("bundled: Deployment + PVC + Service; password from one Secret into requirepass and GITFAAS_REDIS_PASSWORD", () => {
    const password = "s3cret-redis-Pw";
    const docs = render({ app: { git: { url: URL_HTTP } }, redis: { auth: { password } } }, "lambdas");
    const redis = find<V1Deployment>(docs, "Deployment", "gf-gitfaas-redis");
    const pod = redis.spec!.template.spec!;
    assert.equal(redis.spec!.replicas, 1);
    assert.equal(redis.spec!.strategy?.type, "Recreate");
    const claim = find<V1PersistentVolumeClaim>(docs, "PersistentVolumeClaim");
    assert.ok(pod.volumes!.some((v) => v.persistentVolumeClaim?.claimName === claim.metadata?.name));
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.automountServiceAccountToken, false);
    const server = pod.containers[0]!;
    assert.equal(server.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(server.securityContext?.allowPrivilegeEscalation, false);
    assert.match(server.command!.join(" "), /requirepass/);
    const ref = server.env!.find((env) => env.name === "REDIS_PASSWORD")!.valueFrom!.secretKeyRef!;
    assert.equal(secretValue(find<V1Secret>(docs, "Secret", ref.name), ref.key), password);
    const service = find<V1Service>(docs, "Service", "gf-gitfaas-redis");
    assert.equal(service.spec!.ports![0]!.port, 6379);

    const container = gitfaasContainer(docs);
    assert.equal(flag(container, "--store"), "redis");
    assert.equal(flag(container, "--redis-url"), "redis://gf-gitfaas-redis.lambdas.svc:6379");
    const gitfaasRef = container.env!.find((env) => env.name === "GITFAAS_REDIS_PASSWORD")!.valueFrom!
      .secretKeyRef;
    assert.deepEqual(gitfaasRef, ref);
    assertNoPlainSecrets(docs, [password]);
  });

  test("bundled without a password: a random one, different per render (kept across upgrades by lookup)", () => {
    const pick = (): string => {
      const docs = render({ app: { git: { url: URL_HTTP } } });
      return secretValue(find<V1Secret>(docs, "Secret", "gf-gitfaas-redis"), "redis-password");
    };
    const first = pick();
    assert.match(first, /^[A-Za-z0-9]{32}$/);
    assert.notEqual(first, pick());
  });

  test("external: no Redis objects; the URL and the existing password Secret are used", () => {
    const docs = render({
      app: { git: { url: URL_HTTP } },
      redis: {
        enabled: false,
        external: { url: "rediss://redis.shared.svc:6380" },
        auth: { existingSecret: "shared-redis", existingSecretKey: "pw" },
      },
    });
    assert.deepEqual(
      docs.filter((doc) => doc.metadata.name.includes("redis")).map((doc) => doc.kind),
      [],
      "no Redis object is rendered",
    );
    const container = gitfaasContainer(docs);
    assert.equal(flag(container, "--redis-url"), "rediss://redis.shared.svc:6380");
    const ref = container.env!.find((env) => env.name === "GITFAAS_REDIS_PASSWORD")!.valueFrom!.secretKeyRef;
    assert.deepEqual(ref, { name: "shared-redis", key: "pw" });
  });
});

describe("chart: the gitfaas Deployment", () => {
  test("kubernetes runtime on 0.0.0.0:5000, data dir on an emptyDir, probes, hardened security contexts", () => {
    const docs = render({ app: { git: { url: URL_HTTP } }, replicaCount: 3 });
    const deployment = gitfaasDeployment(docs);
    const pod = deployment.spec!.template.spec!;
    const container = gitfaasContainer(docs);
    assert.equal(deployment.spec!.replicas, 3);
    assert.equal(container.args![0], "serve");
    assert.equal(flag(container, "--runtime"), "kubernetes");
    assert.equal(flag(container, "--host"), "0.0.0.0");
    assert.equal(flag(container, "--port"), "5000");
    assert.equal(flag(container, "--public-url"), "http://gitfaas.gitfaas.svc:5000");
    const dataDir = flag(container, "--data-dir")!;
    const dataMount = container.volumeMounts!.find((m) => m.mountPath === dataDir)!;
    assert.ok(pod.volumes!.find((v) => v.name === dataMount.name)!.emptyDir);
    assert.deepEqual(container.ports, [{ name: "http", containerPort: 5000, protocol: "TCP" }]);
    assert.deepEqual(container.livenessProbe?.httpGet, { path: "/healthz", port: "http" });
    assert.deepEqual(container.readinessProbe?.httpGet, { path: "/readyz", port: "http" });
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault");
    // Service links of a Service named gitfaas would be GITFAAS_* variables, gitfaas's settings' names.
    assert.equal(pod.enableServiceLinks, false);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext?.capabilities?.drop, ["ALL"]);
    assert.equal(container.securityContext?.seccompProfile?.type, "RuntimeDefault");
    assert.ok(container.resources?.requests?.memory && container.resources.limits?.memory);
    const service = find<V1Service>(docs, "Service", "gitfaas");
    assert.deepEqual(service.spec!.ports, [
      { name: "http", port: 5000, targetPort: "http", protocol: "TCP" },
    ]);
    assert.deepEqual(service.spec!.selector, deployment.spec!.selector.matchLabels);
  });

  test("the original value keys map onto gitfaas's flags and the pod", () => {
    const docs = render({
      app: {
        git: { url: URL_HTTP, userName: "bob", pullBranch: "prod", pollingInterval: 7, logLevel: "WARN" },
        apply: {
          bannedKubeRessources: "Role Secret",
          logLevel: "DEBUG",
          configurationPath: "conf/topics.json",
          expirationTime: 3600,
        },
      },
      service: { port: 8080 },
      nodeSelector: { pool: "faas" },
      tolerations: [{ key: "faas", operator: "Exists", effect: "NoSchedule" }],
      affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
      podSecurityContext: { runAsNonRoot: true, runAsUser: 2000, fsGroup: 2000 },
      securityContext: { readOnlyRootFilesystem: true, runAsUser: 2000 },
      ingress: {
        enabled: true,
        className: "nginx",
        hosts: [{ host: "faas.example.com", paths: [{ path: "/", pathType: "Prefix" }] }],
        tls: [{ secretName: "faas-tls", hosts: ["faas.example.com"] }],
      },
    });
    const container = gitfaasContainer(docs);
    const pod = gitfaasDeployment(docs).spec!.template.spec!;
    assert.equal(flag(container, "--git-username"), "bob");
    assert.equal(flag(container, "--branch"), "prod");
    assert.equal(flag(container, "--poll-interval"), "7");
    assert.equal(flag(container, "--banned-kinds"), "Role Secret");
    assert.equal(flag(container, "--config-path"), "conf/topics.json");
    assert.equal(flag(container, "--expiration"), "3600");
    assert.equal(flag(container, "--log-level"), "debug", "the more verbose of the two log levels");
    assert.equal(flag(container, "--public-url"), "http://gitfaas.gitfaas.svc:8080");
    assert.deepEqual(pod.nodeSelector, { pool: "faas" });
    assert.deepEqual(pod.tolerations, [{ key: "faas", operator: "Exists", effect: "NoSchedule" }]);
    assert.ok(pod.affinity?.nodeAffinity);
    // Helm merges maps with the defaults: the keys given win, the other hardening stays.
    assert.deepEqual(pod.securityContext, {
      runAsNonRoot: true,
      runAsUser: 2000,
      runAsGroup: 10001,
      fsGroup: 2000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    assert.equal(container.securityContext?.runAsUser, 2000);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    const service = find<V1Service>(docs, "Service", "gitfaas");
    assert.equal(service.spec!.ports![0]!.port, 8080);
    const ingress = find<V1Ingress>(docs, "Ingress");
    assert.equal(ingress.spec!.ingressClassName, "nginx");
    assert.deepEqual(ingress.spec!.tls, [{ secretName: "faas-tls", hosts: ["faas.example.com"] }]);
    const path = ingress.spec!.rules![0]!.http!.paths[0]!;
    assert.deepEqual(path.backend.service, { name: "gitfaas", port: { name: "http" } });
    // The defaults of the original values.yaml
    const defaults = gitfaasContainer(render({ app: { git: { url: URL_HTTP } } }));
    assert.equal(flag(defaults, "--branch"), "main");
    assert.equal(flag(defaults, "--poll-interval"), "5");
    assert.equal(flag(defaults, "--config-path"), "config.json");
    assert.equal(
      flag(defaults, "--banned-kinds"),
      "Role RoleBinding ClusterRole ClusterRoleBinding ServiceAccount Ingress Service",
    );
    assert.equal(flag(defaults, "--log-level"), "info");
    assert.ok(!kinds(render({ app: { git: { url: URL_HTTP } } })).includes("Ingress"));
  });
});

describe("chart: drop-in for the original chart", () => {
  test("the original's values file renders: install.replicas, images.pullPolicy, redis.master.persistence.size used", () => {
    const docs = renderOriginal("gf");
    const deployment = gitfaasDeployment(docs);
    const container = gitfaasContainer(docs);
    assert.equal(deployment.spec!.replicas, 2, "install.replicas");
    assert.equal(container.imagePullPolicy, "Always", "images.pullPolicy");
    const claim = find<V1PersistentVolumeClaim>(docs, "PersistentVolumeClaim");
    assert.equal(claim.spec!.resources!.requests!.storage, "300Mi", "redis.master.persistence.size");
    // The keys that kept their meaning
    assert.equal(flag(container, "--repo"), "https://gitlab.com/team/lambdas.git");
    assert.equal(flag(container, "--git-username"), "alice");
    assert.equal(flag(container, "--branch"), "prod");
    assert.equal(flag(container, "--poll-interval"), "2");
    assert.equal(flag(container, "--config-path"), "topics/config.json");
    assert.equal(flag(container, "--expiration"), "86400");
    assert.equal(flag(container, "--log-level"), "debug");
    assert.equal(deployment.spec!.template.spec!.securityContext?.runAsUser, 999);
    const token = secretBehindFile(docs, flag(container, "--git-token-file")!);
    assert.equal(
      secretValue(find<V1Secret>(docs, "Secret", token.secretName), token.key),
      "glpat-originalFixture0123",
    );
    assertNoPlainSecrets(docs, ["glpat-originalFixture0123", "thisisthepassword"]);
    // install.replicas wins over replicaCount only when given.
    assert.equal(gitfaasDeployment(renderOriginal("gf", { replicaCount: 5 })).spec!.replicas, 2);
    const modern = render({ app: { git: { url: URL_HTTP } }, replicaCount: 5 });
    assert.equal(gitfaasDeployment(modern).spec!.replicas, 5);
  });

  test("with release names gf, prod and gitfaas, lambdas call the Service gitfaas on port 5000", () => {
    for (const release of ["gf", "prod", "gitfaas"]) {
      const docs = renderOriginal(release);
      const services = docs.filter((doc) => doc.kind === "Service").map((doc) => doc.metadata.name);
      assert.deepEqual(services.sort(), [`${fullname(release)}-redis`, "gitfaas"].sort(), release);
      const service = find<V1Service>(docs, "Service", "gitfaas");
      assert.equal(service.metadata?.namespace, "lambdas");
      assert.deepEqual(service.spec!.ports, [
        { name: "http", port: 5000, targetPort: "http", protocol: "TCP" },
      ]);
      // The Service reaches this release's gitfaas pods and nothing else.
      const deployment = gitfaasDeployment(docs, release);
      assert.deepEqual(service.spec!.selector, deployment.spec!.selector.matchLabels);
      for (const [key, value] of Object.entries(service.spec!.selector!)) {
        assert.equal(deployment.spec!.template.metadata!.labels![key], value);
      }
      // What lambdas are given ({{PAYLOAD_URL}}) names the same Service.
      assert.equal(flag(gitfaasContainer(docs, release), "--public-url"), "http://gitfaas.lambdas.svc:5000");
    }
    // A second release in the namespace names its own Service, and its lambdas are told that name.
    const second = renderOriginal("gf", { service: { name: "gitfaas-gf" } });
    find<V1Service>(second, "Service", "gitfaas-gf");
    assert.equal(flag(gitfaasContainer(second), "--public-url"), "http://gitfaas-gf.lambdas.svc:5000");
    const byRelease = render({ app: { git: { url: URL_HTTP } }, service: { name: "" } });
    find<V1Service>(byRelease, "Service", "gf-gitfaas");
    assert.equal(flag(gitfaasContainer(byRelease), "--public-url"), "http://gf-gitfaas.gitfaas.svc:5000");
    const ingress = find<V1Ingress>(
      render({ app: { git: { url: URL_HTTP } }, ingress: { enabled: true } }),
      "Ingress",
    );
    assert.equal(ingress.spec!.rules![0]!.http!.paths[0]!.backend.service!.name, "gitfaas");
    refuses({ app: { git: { url: URL_HTTP } }, service: { name: "Not_A_Name" } }, /service\/name/);
  });
});

// The host keys the providers document (SHA256, as `ssh-keygen -lf` prints them), read 2026-11-30 from
//   https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/githubs-ssh-key-fingerprints
//   https://about.gitlab.com/gitlab-com/settings/ (now https://docs.gitlab.com/ee/user/gitlab_com/)
//   https://support.atlassian.com/bitbucket-cloud/docs/configure-ssh-and-two-step-verification/
// Written here, not derived from the shipped file, so that a changed key in files/known_hosts fails.
const DOCUMENTED_FINGERPRINTS = [
  "github.com ED25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
  "github.com ECDSA SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
  "github.com RSA SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
  "gitlab.com ED25519 SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
  "gitlab.com ECDSA SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
  "gitlab.com RSA SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ",
  "bitbucket.org ED25519 SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
  "bitbucket.org ECDSA SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0",
  "bitbucket.org RSA SHA256:46OSHA1Rmj8E8ERTC6xkNcmGOw9oFxYr0WF6zWW8l1E",
];

/** "<host> <type> <fingerprint>" of every key in a known_hosts text, by ssh-keygen -lf. */
function fingerprints(knownHosts: string): string[] {
  const file = join(WORK, `known_hosts-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, knownHosts);
  const out = ok("ssh-keygen", ["-lf", file], undefined, process.env);
  return out
    .trim()
    .split("\n")
    .map((line) => {
      const match = /^\d+ (SHA256:\S+) (\S+) \((\S+)\)$/.exec(line);
      assert.ok(match, `unexpected ssh-keygen line: ${line}`);
      return `${match[2]} ${match[3]} ${match[1]}`;
    });
}

describe("chart: default known hosts", () => {
  test("files/known_hosts holds exactly the documented host keys of github.com, gitlab.com and bitbucket.org", () => {
    const shipped = readFileSync(join(CHART, "files", "known_hosts"), "utf8");
    assert.deepEqual(fingerprints(shipped).sort(), [...DOCUMENTED_FINGERPRINTS].sort());
  });

  test("SSH with usePrivateKey=yes and no knowHostsMultiLine renders for the three hosts, mounting those keys; strict checking on", () => {
    for (const url of [
      "git@github.com:team/lambdas.git",
      "ssh://git@gitlab.com/team/lambdas.git",
      "git@bitbucket.org:team/lambdas.git",
    ]) {
      const docs = render({ app: { git: { url, sshKey: { usePrivateKey: "yes" } } } });
      const container = gitfaasContainer(docs);
      assert.equal(flag(container, "--strict-host-key-checking"), "yes", url);
      const hostsFile = flag(container, "--ssh-known-hosts-file");
      assert.ok(hostsFile, `${url}: no --ssh-known-hosts-file`);
      const mount = container.volumeMounts!.find((m) => hostsFile.startsWith(`${m.mountPath}/`))!;
      assert.equal(hostsFile, `${mount.mountPath}/known_hosts`);
      const pod = gitfaasDeployment(docs).spec!.template.spec!;
      const volume = pod.volumes!.find((v) => v.name === mount.name)!;
      const configMap = find<V1ConfigMap>(docs, "ConfigMap", volume.configMap!.name);
      // What the pod reads is checked, not the chart's file.
      assert.deepEqual(
        fingerprints(configMap.data!.known_hosts!).sort(),
        [...DOCUMENTED_FINGERPRINTS].sort(),
      );
    }
  });

  test("other hosts still need knowHostsMultiLine, which replaces the shipped keys", () => {
    refuses(
      { app: { git: { url: "git@git.example.com:team/l.git", sshKey: { usePrivateKey: "yes" } } } },
      /knowHostsMultiLine \(ssh-keyscan git\.example\.com.* is required while .*strictHostKeyChecking is yes/,
    );
    // github.com on another port is another known_hosts entry ([github.com]:2222).
    refuses(
      { app: { git: { url: "ssh://git@github.com:2222/team/l.git", sshKey: { usePrivateKey: "yes" } } } },
      /knowHostsMultiLine/,
    );
    const own =
      "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const docs = render({
      app: {
        git: {
          url: "git@git.example.com:team/l.git",
          sshKey: { usePrivateKey: "yes", knowHostsMultiLine: own },
        },
      },
    });
    assert.equal(find<V1ConfigMap>(docs, "ConfigMap").data!.known_hosts!.trim(), own);
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  // Instructions with their continuation lines joined, comments dropped.
  const instructions = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const stages: string[][] = [];
  for (const line of instructions) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }

  test("multi-stage node:24-bookworm-slim: npm ci, npm run build, npm prune --omit=dev in the build stage", () => {
    assert.equal(stages.length, 2);
    assert.match(stages[0]![0]!, /^FROM node:24-bookworm-slim AS build$/);
    assert.match(stages[1]![0]!, /^FROM node:24-bookworm-slim$/);
    const build = stages[0]!.join("\n");
    for (const step of [/npm ci\b/, /npm run build\b/, /npm prune --omit=dev\b/]) assert.match(build, step);
    assert.ok(build.indexOf("npm ci") < build.indexOf("npm run build"));
    assert.ok(build.indexOf("npm run build") < build.indexOf("npm prune"));
    const runtime = stages[1]!.join("\n");
    assert.match(runtime, /COPY --from=build \/app\/node_modules /);
    assert.match(runtime, /COPY --from=build \/app\/dist /);
    assert.doesNotMatch(runtime, /npm (ci|install)/, "the runtime stage installs nothing from npm");
  });

  test("runtime: git + openssh-client, apt lists cleaned, non-root numeric USER matching the chart, entrypoint", () => {
    const runtime = stages[1]!;
    const apt = runtime.filter((line) => /apt-get install/.test(line));
    assert.equal(apt.length, 1);
    assert.match(
      apt[0]!,
      /apt-get update .*apt-get install -y --no-install-recommends .*\bgit\b.*\bopenssh-client\b/,
    );
    assert.match(apt[0]!, /rm -rf \/var\/lib\/apt\/lists\/\*/);
    for (const line of instructions.filter((l) => /apt-get install/.test(l))) {
      assert.match(line, /apt-get update/, "apt-get install without update in the same RUN");
    }
    const users = runtime.filter((line) => /^USER\s/i.test(line));
    assert.equal(users.length, 1);
    const [uid, gid] = users[0]!.split(/\s+/)[1]!.split(":");
    assert.match(uid!, /^[1-9]\d*$/, "USER is a numeric non-root UID (runAsNonRoot can verify it)");
    const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
    };
    assert.equal(Number(uid), values.podSecurityContext.runAsUser);
    assert.equal(Number(gid), values.podSecurityContext.runAsGroup);
    assert.equal(
      runtime.filter((l) => /^ENTRYPOINT\s/.test(l)).at(-1),
      'ENTRYPOINT ["node", "dist/cli/main.js"]',
    );
    assert.equal(runtime.filter((l) => /^CMD\s/.test(l)).at(-1), 'CMD ["serve"]');
    assert.ok(!instructions.some((l) => /^ADD\s/i.test(l)), "COPY, never ADD");
    assert.ok(
      !instructions.some((l) => /^(ENV|ARG)\s.*(TOKEN|PASSWORD|SECRET)/i.test(l)),
      "no secret in the image",
    );
  });

  test("every COPY from the build context exists and is let through by .dockerignore; node_modules and .git are not", () => {
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    assert.equal(ignore[0], "**", ".dockerignore starts by excluding everything");
    const allowed = ignore.filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
    for (const hidden of ["node_modules", ".git", "dist", ".gitfaas-data"]) {
      assert.ok(
        !allowed.some((a) => a === hidden || a.startsWith(`${hidden}/`)),
        `${hidden} is in the context`,
      );
    }
    const sources = instructions
      .filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    assert.ok(sources.length > 0);
    for (const source of sources) {
      const path = source.replace(/^\.\//, "").replace(/\/$/, "");
      assert.ok(existsSync(join(ROOT, path)), `COPY ${source}: no such file`);
      assert.ok(allowed.includes(path), `COPY ${source}: excluded by .dockerignore`);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Against the local control plane (KUBECONFIG from scripts/with-cluster.sh).

const namespaces: string[] = [];
const clusterRoles: string[] = [];

function kubectl(args: readonly string[], input?: string): string {
  return ok(KUBECTL, args, input);
}

function newNamespace(prefix: string): string {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  kubectl(["create", "namespace", name]);
  namespaces.push(name);
  return name;
}

/** A kubeconfig that authenticates with a TokenRequest token of the ServiceAccount, and nothing else. */
function serviceAccountKubeconfig(namespace: string, serviceAccount: string): string {
  const token = kubectl(["create", "token", serviceAccount, "-n", namespace, "--duration", "1h"]).trim();
  const admin = JSON.parse(kubectl(["config", "view", "--raw", "--minify", "-o", "json"])) as {
    clusters: { cluster: { server: string; "certificate-authority-data"?: string } }[];
  };
  const cluster = admin.clusters[0]!.cluster;
  const file = join(WORK, `sa-${namespace}.json`);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "local", cluster }],
    users: [{ name: "sa", user: { token } }],
    contexts: [{ name: "sa", context: { cluster: "local", user: "sa", namespace } }],
    "current-context": "sa",
  };
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

function jobManifest(namespace: string): string {
  return JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { generateName: "rbac-probe-", namespace },
    spec: {
      template: {
        spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox", command: ["true"] }] },
      },
    },
  });
}

function roleManifest(namespace: string): string {
  return JSON.stringify({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "escalate", namespace },
    rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
  });
}

/** `kubectl create` as the ServiceAccount: "created" or the API server's refusal. */
function createAs(kubeconfig: string, manifest: string): Run {
  return run(KUBECTL, ["--kubeconfig", kubeconfig, "create", "-f", "-"], manifest);
}

function assertForbidden(result: Run, what: string): void {
  assert.notEqual(result.status, 0, `${what} was allowed`);
  assert.match(result.stderr, /forbidden/i, `${what}: ${result.stderr}`);
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe("chart on the local control plane", () => {
  before(() => {
    assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run through npm run test:chart or test:k8s");
    assert.ok(existsSync(KUBECTL), `no kubectl at ${KUBECTL}`);
  });

  after(() => {
    for (const name of clusterRoles) {
      run(KUBECTL, ["delete", "clusterrole,clusterrolebinding", name, "--ignore-not-found", "--wait=false"]);
    }
    for (const name of namespaces) run(KUBECTL, ["delete", "namespace", name, "--wait=false"]);
  });

  test("namespaced: server dry-run, then applied; objects exist, pods scheduled, the Redis claim bound", async () => {
    const namespace = newNamespace("chart-ns");
    const manifests = ok(
      helm,
      templateArgs({ app: { git: { url: URL_HTTP, http: { personalToken: TOKEN } } } }, namespace, "gf"),
    );
    const dryRun = kubectl(["apply", "--dry-run=server", "-f", "-"], manifests);
    assert.match(dryRun, /deployment\.apps\/gf-gitfaas created \(server dry run\)/);
    assert.equal(
      run(KUBECTL, ["-n", namespace, "get", "deployment", "gf-gitfaas"]).status,
      1,
      "dry run created it",
    );
    kubectl(["apply", "-f", "-"], manifests);
    for (const object of [
      "serviceaccount/gf-gitfaas",
      "role/gf-gitfaas",
      "rolebinding/gf-gitfaas",
      "secret/gf-gitfaas-git",
      "secret/gf-gitfaas-redis",
      "service/gitfaas",
      "service/gf-gitfaas-redis",
      "deployment/gf-gitfaas",
      "deployment/gf-gitfaas-redis",
      "persistentvolumeclaim/gf-gitfaas-redis",
    ]) {
      kubectl(["-n", namespace, "get", object]);
    }
    const role = JSON.parse(kubectl(["-n", namespace, "get", "role", "gf-gitfaas", "-o", "json"])) as V1Role;
    assert.deepEqual(role.rules, RULES);
    // The Deployment controller accepted the pod template and the scheduler placed it (KWOK: Running).
    for (const component of ["server", "redis"]) {
      await until(`the ${component} pod to run`, () => {
        const phase = kubectl([
          ...["-n", namespace, "get", "pods", "-l", `app.kubernetes.io/component=${component}`],
          ...["-o", "jsonpath={.items[*].status.phase}"],
        ]);
        return phase === "Running" ? true : undefined;
      });
    }
    await until("the Redis claim to be Bound", () =>
      kubectl(["-n", namespace, "get", "pvc", "gf-gitfaas-redis", "-o", "jsonpath={.status.phase}"]) ===
      "Bound"
        ? true
        : undefined,
    );
  });

  test("namespaced RBAC with the chart's ServiceAccount token: Jobs here, not elsewhere, no Role, no Secrets", () => {
    const namespace = newNamespace("chart-rbac");
    const elsewhere = newNamespace("chart-other");
    kubectl(
      ["apply", "-f", "-"],
      ok(helm, templateArgs({ app: { git: { url: URL_HTTP } } }, namespace, "gf")),
    );
    const kubeconfig = serviceAccountKubeconfig(namespace, "gf-gitfaas");
    const whoami = ok(KUBECTL, [
      "--kubeconfig",
      kubeconfig,
      "auth",
      "whoami",
      "-o",
      "jsonpath={.status.userInfo.username}",
    ]);
    assert.equal(whoami, `system:serviceaccount:${namespace}:gf-gitfaas`);
    const created = createAs(kubeconfig, jobManifest(namespace));
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /job\.batch\/rbac-probe-\S+ created/);
    assertForbidden(createAs(kubeconfig, jobManifest(elsewhere)), "a Job in another namespace");
    assertForbidden(createAs(kubeconfig, roleManifest(namespace)), "a Role");
    assertForbidden(
      run(KUBECTL, ["--kubeconfig", kubeconfig, "-n", namespace, "get", "secrets"]),
      "reading Secrets",
    );
  });

  test("helm install with the original's values file: NOTES name the used and ignored keys; a second release needs service.name", () => {
    const namespace = newNamespace("chart-orig");
    const installed = ok(helm, ["install", "prod", CHART, "-n", namespace, "-f", ORIGINAL_VALUES]);
    const notes = installed.slice(installed.indexOf("NOTES:"));
    assert.ok(notes.startsWith("NOTES:"), installed);
    for (const used of [
      "install.replicas -> replicaCount",
      "images.pullPolicy -> image.pullPolicy",
      "redis.master.persistence.size -> redis.persistence.size",
    ]) {
      assert.match(notes, new RegExp(`^  ${used.replace(/\./g, "\\.")} \\(used\\)$`, "m"), used);
    }
    const ignoredBlock = /^Ignored [^\n]*\n[^\n]*\n((?: {2}\S+\n?)+)/m.exec(notes);
    assert.ok(ignoredBlock, notes);
    const ignored = ignoredBlock[1]!.trim().split(/\s+/);
    assert.deepEqual(ignored.sort(), [
      "images.apply.image",
      "images.apply.repo",
      "images.apply.version",
      "images.git.image",
      "images.git.repo",
      "images.git.version",
      "images.repository",
      "redis.purge_trigger_time",
      "redis.replica.persistence.enabled",
      "redis.replica.replicaCount",
    ]);
    assert.match(notes, /WARNING: redis\.auth\.password is the original chart's published default/);
    assert.match(
      notes,
      /Lambdas reach gitfaas at http:\/\/gitfaas\.[-a-z0-9]+\.svc:5000 \(Service gitfaas, port 5000\)/,
    );
    const service = JSON.parse(
      kubectl(["-n", namespace, "get", "service", "gitfaas", "-o", "json"]),
    ) as V1Service;
    assert.equal(service.spec!.ports![0]!.port, 5000);
    assert.equal(service.spec!.selector!["app.kubernetes.io/instance"], "prod");

    // A second release with the default name would take over the first one's Service: refused, and why.
    const second = run(helm, ["install", "gf", CHART, "-n", namespace, "-f", ORIGINAL_VALUES]);
    assert.notEqual(second.status, 0, "a second release took the Service gitfaas");
    assert.match(
      second.stderr,
      /the Service gitfaas in namespace \S+ already belongs to release prod: set service\.name/,
    );
    ok(helm, [
      "install",
      "gf",
      CHART,
      "-n",
      namespace,
      "-f",
      ORIGINAL_VALUES,
      "--set",
      "service.name=gitfaas-gf",
    ]);
    const own = JSON.parse(
      kubectl(["-n", namespace, "get", "service", "gitfaas-gf", "-o", "json"]),
    ) as V1Service;
    assert.equal(own.spec!.selector!["app.kubernetes.io/instance"], "gf");
    // helm upgrade of the first release still owns its Service (the check reads the owner, not mere existence).
    ok(helm, ["upgrade", "prod", CHART, "-n", namespace, "-f", ORIGINAL_VALUES]);
  });

  test("clusterWide by helm install --wait: Jobs in any namespace, still no Role; upgrade keeps the Redis password", () => {
    const namespace = newNamespace("chart-cw");
    const elsewhere = newNamespace("chart-cw-other");
    const values = valuesFile({ app: { git: { url: URL_HTTP } }, rbac: { scope: "clusterWide" } });
    ok(helm, ["install", "cw", CHART, "-n", namespace, "-f", values, "--wait", "--timeout", "2m"]);
    const roleName = `${namespace}-cw-gitfaas`;
    clusterRoles.push(roleName);
    const role = JSON.parse(kubectl(["get", "clusterrole", roleName, "-o", "json"])) as V1Role;
    assert.deepEqual(role.rules, RULES);
    assert.equal(run(KUBECTL, ["-n", namespace, "get", "role", "cw-gitfaas"]).status, 1, "a Role as well");

    const kubeconfig = serviceAccountKubeconfig(namespace, "cw-gitfaas");
    const created = createAs(kubeconfig, jobManifest(elsewhere));
    assert.equal(created.status, 0, created.stderr);
    assertForbidden(createAs(kubeconfig, roleManifest(elsewhere)), "a Role");

    const password = (): string =>
      kubectl([
        "-n",
        namespace,
        "get",
        "secret",
        "cw-gitfaas-redis",
        "-o",
        "jsonpath={.data.redis-password}",
      ]);
    const before = password();
    assert.notEqual(before, "");
    ok(helm, ["upgrade", "cw", CHART, "-n", namespace, "-f", values, "--wait", "--timeout", "2m"]);
    assert.equal(password(), before, "helm upgrade changed the Redis password");

    ok(helm, ["uninstall", "cw", "-n", namespace, "--wait"]);
    assert.equal(run(KUBECTL, ["get", "clusterrole", roleName]).status, 1, "uninstall left the ClusterRole");
    // The Redis data claim outlives the release (helm.sh/resource-policy: keep).
    kubectl(["-n", namespace, "get", "pvc", "cw-gitfaas-redis"]);
  });
});
