import { GitfaasError } from "../errors/index.js";
import type { CompiledManifest } from "./compile.js";
import { CLUSTER_SCOPED_KINDS, describeObject, kindIn, type KubeObject } from "./kube.js";

export interface Policy {
  /** Kinds never applied, compared case-insensitively. */
  bannedKinds: readonly string[];
  /** Where objects without a namespace go; under `namespaced` scope, the only namespace allowed. */
  namespace: string;
  scope: "namespaced" | "clusterWide";
}

/** The original chart's `app.apply.bannedKubeRessources` default. */
export const DEFAULT_BANNED_KINDS: readonly string[] = [
  "Role",
  "RoleBinding",
  "ClusterRole",
  "ClusterRoleBinding",
  "ServiceAccount",
  "Ingress",
  "Service",
];

/**
 * Checks rendered objects against the policy and returns copies with the namespace defaulted.
 * Throws BANNED_KIND or NAMESPACE_FORBIDDEN naming the manifest, kind and name.
 */
export function enforcePolicy(objects: KubeObject[], policy: Policy, path: string): KubeObject[] {
  return objects.map((object) => {
    const details = { path, kind: object.kind, name: object.metadata.name ?? object.metadata.generateName };
    if (kindIn(object.kind, policy.bannedKinds)) {
      throw new GitfaasError(
        "BANNED_KIND",
        `${path}: ${describeObject(object)}: kind ${object.kind} is banned by policy`,
        details,
      );
    }
    // Only the namespace may change: a copy of the object and its metadata is enough.
    const copy: KubeObject = { ...object, metadata: { ...object.metadata } };
    const namespace: unknown = copy.metadata.namespace;
    if (kindIn(object.kind, CLUSTER_SCOPED_KINDS)) {
      if (policy.scope === "namespaced") {
        throw new GitfaasError(
          "NAMESPACE_FORBIDDEN",
          `${path}: ${describeObject(object)}: kind ${object.kind} is cluster-scoped, and scope is limited to namespace ${policy.namespace}`,
          details,
        );
      }
      return copy;
    }
    if (namespace === undefined) {
      copy.metadata.namespace = policy.namespace;
      return copy;
    }
    if (typeof namespace !== "string" || (policy.scope === "namespaced" && namespace !== policy.namespace)) {
      throw new GitfaasError(
        "NAMESPACE_FORBIDDEN",
        `${path}: ${describeObject(object)}: namespace ${JSON.stringify(namespace)} is outside the allowed namespace ${policy.namespace}`,
        { ...details, namespace },
      );
    }
    return copy;
  });
}

/**
 * What can be told wrong before any value is known, as "<path>:<line>: ..." strings: banned literal kinds,
 * cluster-scoped kinds or foreign namespaces under namespaced scope, and namespaces taken from a placeholder
 * there (refused at publish unless the value happens to be the allowed namespace).
 */
export function lintPolicy(
  manifest: CompiledManifest,
  policy: Pick<Policy, "bannedKinds" | "scope" | "namespace">,
): string[] {
  const problems: string[] = [];
  for (const document of manifest.documents) {
    const at = `${manifest.path}:${document.kindLine}`;
    if (kindIn(document.kind, policy.bannedKinds)) {
      problems.push(`${at}: kind ${document.kind} is banned by policy`);
      continue;
    }
    if (policy.scope !== "namespaced") continue;
    if (kindIn(document.kind, CLUSTER_SCOPED_KINDS)) {
      problems.push(
        `${at}: kind ${document.kind} is cluster-scoped, and scope is limited to namespace ${policy.namespace}`,
      );
      continue;
    }
    const namespace = document.namespace;
    if (namespace.type === "literal" && namespace.value !== policy.namespace) {
      problems.push(
        `${manifest.path}:${namespace.line}: namespace ${namespace.value} is outside the allowed namespace ${policy.namespace}`,
      );
    }
    if (namespace.type === "templated") {
      problems.push(
        `${manifest.path}:${namespace.line}: namespace comes from a placeholder; any value but ${policy.namespace} will be refused`,
      );
    }
  }
  return problems;
}
