import { GitfaasError } from "../../errors/index.js";
import type { KubeObject } from "../../templating/index.js";

/** The parts of a Kubernetes pod spec the local runtime understands, read defensively from rendered YAML. */
export interface LocalContainer {
  readonly name: string;
  readonly command: readonly string[];
  readonly env: ReadonlyMap<string, string>;
  readonly mounts: readonly { readonly volume: string; readonly mountPath: string }[];
}

export type LocalVolume =
  | { readonly name: string; readonly type: "scratch" }
  | { readonly name: string; readonly type: "hostPath"; readonly path: string };

export interface LocalRunPlan {
  readonly kind: "Job" | "Pod";
  readonly name: string;
  readonly initContainers: readonly LocalContainer[];
  readonly containers: readonly LocalContainer[];
  readonly volumes: readonly LocalVolume[];
  /** Total attempts allowed: backoffLimit + 1 for a Job (Kubernetes' default backoffLimit is 6), 1 for a Pod. */
  readonly maxAttempts: number;
  /** Job-wide deadline, counted from the first attempt. */
  readonly jobDeadlineSeconds: number | undefined;
  /** Per-attempt deadline (the pod's own activeDeadlineSeconds). */
  readonly podDeadlineSeconds: number | undefined;
}

const KUBERNETES_DEFAULT_BACKOFF_LIMIT = 6;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unsupported(path: string, what: string): GitfaasError {
  return new GitfaasError("UNSUPPORTED_MANIFEST", `${path}: the local runtime cannot run this: ${what}`);
}

function optionalSeconds(value: unknown, field: string, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw unsupported(path, `${field} must be a non-negative integer`);
  }
  return value;
}

/** Kubernetes expands `$(NAME)` in command and args from the container's env; `$$(` escapes it. */
function expandReferences(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && env.has(name) ? (env.get(name) ?? "") : match;
  });
}

function stringList(value: unknown, field: string, path: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw unsupported(path, `${field} must be a list`);
  return value.map((item) => {
    if (typeof item === "string") return item;
    if (typeof item === "number" || typeof item === "boolean") return String(item);
    throw unsupported(path, `${field} must hold strings`);
  });
}

function readContainer(raw: unknown, path: string): LocalContainer {
  if (!isRecord(raw)) throw unsupported(path, "a container is not a map");
  const name = typeof raw.name === "string" ? raw.name : "container";
  const env = new Map<string, string>();
  for (const entry of Array.isArray(raw.env) ? raw.env : []) {
    if (!isRecord(entry) || typeof entry.name !== "string")
      throw unsupported(path, `container ${name}: bad env entry`);
    if (entry.valueFrom !== undefined) {
      throw unsupported(
        path,
        `container ${name}: env ${entry.name} uses valueFrom (secrets and config maps live in a cluster)`,
      );
    }
    const value = entry.value;
    env.set(entry.name, value === undefined || value === null ? "" : String(value));
  }
  if (raw.envFrom !== undefined) throw unsupported(path, `container ${name}: envFrom needs a cluster`);
  const command = [
    ...stringList(raw.command, `container ${name} command`, path),
    ...stringList(raw.args, `container ${name} args`, path),
  ].map((part) => expandReferences(part, env));
  if (command.length === 0) {
    throw unsupported(
      path,
      `container ${name} has no command: locally there is no image entrypoint to fall back on`,
    );
  }
  const mounts = (Array.isArray(raw.volumeMounts) ? raw.volumeMounts : []).map((mount) => {
    if (!isRecord(mount) || typeof mount.name !== "string" || typeof mount.mountPath !== "string") {
      throw unsupported(path, `container ${name}: bad volumeMount`);
    }
    return { volume: mount.name, mountPath: mount.mountPath };
  });
  return { name, command, env, mounts };
}

// Volume names become folder names: Kubernetes' own rule (a DNS label) keeps them inside the run's folder.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function readVolume(raw: unknown, path: string): LocalVolume {
  if (!isRecord(raw) || typeof raw.name !== "string") throw unsupported(path, "a volume has no name");
  if (!DNS_LABEL.test(raw.name)) {
    throw unsupported(
      path,
      `volume name '${raw.name.slice(0, 80)}' is not a DNS label (lower case letters, digits, '-')`,
    );
  }
  if (raw.emptyDir !== undefined || raw.ephemeral !== undefined) return { name: raw.name, type: "scratch" };
  if (isRecord(raw.hostPath) && typeof raw.hostPath.path === "string") {
    return { name: raw.name, type: "hostPath", path: raw.hostPath.path };
  }
  const type = Object.keys(raw).find((key) => key !== "name") ?? "unknown";
  throw unsupported(
    path,
    `volume ${raw.name} of type ${type} (only emptyDir, ephemeral and hostPath map to the host)`,
  );
}

/** Reads a Job or a bare Pod into what the local runtime needs, or says clearly why it cannot. */
export function planRun(object: KubeObject, path: string): LocalRunPlan {
  const kind = object.kind;
  const name = object.metadata.name ?? object.metadata.generateName ?? "unnamed";
  let podSpec: unknown;
  let maxAttempts = 1;
  let jobDeadlineSeconds: number | undefined;
  if (kind === "Job") {
    const spec = isRecord(object.spec) ? object.spec : {};
    const template = isRecord(spec.template) ? spec.template : {};
    podSpec = template.spec;
    const backoffLimit =
      optionalSeconds(spec.backoffLimit, "backoffLimit", path) ?? KUBERNETES_DEFAULT_BACKOFF_LIMIT;
    maxAttempts = backoffLimit + 1;
    jobDeadlineSeconds = optionalSeconds(spec.activeDeadlineSeconds, "activeDeadlineSeconds", path);
  } else if (kind === "Pod") {
    podSpec = object.spec;
  } else {
    throw new GitfaasError(
      "UNSUPPORTED_KIND",
      `${path}: the local runtime runs Jobs and Pods only, not ${kind} '${name}'; use the kubernetes runtime for it`,
      { kind, name },
    );
  }
  if (!isRecord(podSpec) || !Array.isArray(podSpec.containers) || podSpec.containers.length === 0) {
    throw unsupported(path, `${kind} '${name}' has no containers`);
  }
  return {
    kind,
    name,
    initContainers: (Array.isArray(podSpec.initContainers) ? podSpec.initContainers : []).map((c) =>
      readContainer(c, path),
    ),
    containers: podSpec.containers.map((c) => readContainer(c, path)),
    volumes: (Array.isArray(podSpec.volumes) ? podSpec.volumes : []).map((v) => readVolume(v, path)),
    maxAttempts,
    jobDeadlineSeconds,
    podDeadlineSeconds: optionalSeconds(podSpec.activeDeadlineSeconds, "activeDeadlineSeconds", path),
  };
}
