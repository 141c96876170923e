/** A Kubernetes object as rendered from a manifest: plain JSON-compatible data. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Kubernetes resolves kinds case-insensitively in kubectl, so every kind comparison here does too:
 * `kind: clusterrole` must not slip past a ban on `ClusterRole`.
 */
export function kindIn(kind: string, kinds: readonly string[]): boolean {
  const wanted = kind.toLowerCase();
  return kinds.some((candidate) => candidate.toLowerCase() === wanted);
}

/** Kinds whose `spec.template` is a pod template. */
export const POD_TEMPLATE_KINDS: readonly string[] = [
  "Job",
  "Deployment",
  "ReplicaSet",
  "StatefulSet",
  "DaemonSet",
  "ReplicationController",
];

/** Objects that live outside any namespace: a namespace on them means nothing, and creating them escapes one. */
// The cluster-scoped kinds of Kubernetes' built-in API groups. A custom cluster-scoped kind is not
// known here: RBAC (a namespaced Role cannot grant it) is what stops those.
export const CLUSTER_SCOPED_KINDS: readonly string[] = [
  "Namespace",
  "Node",
  "PersistentVolume",
  "ComponentStatus",
  "ClusterRole",
  "ClusterRoleBinding",
  "StorageClass",
  "CSIDriver",
  "CSINode",
  "VolumeAttachment",
  "VolumeAttributesClass",
  "CustomResourceDefinition",
  "APIService",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "MutatingAdmissionPolicy",
  "MutatingAdmissionPolicyBinding",
  "PriorityClass",
  "PriorityLevelConfiguration",
  "FlowSchema",
  "RuntimeClass",
  "IngressClass",
  "IPAddress",
  "ServiceCIDR",
  "CertificateSigningRequest",
  "ClusterTrustBundle",
  "DeviceClass",
  "TokenReview",
  "SelfSubjectReview",
  "SelfSubjectAccessReview",
  "SelfSubjectRulesReview",
  "SubjectAccessReview",
];

function child(value: unknown, key: string): PlainObject | undefined {
  if (!isPlainObject(value)) return undefined;
  const next = value[key];
  return isPlainObject(next) ? next : undefined;
}

/**
 * The pod templates an object carries (`spec.template`, or for a CronJob the job template and its pod
 * template), each as the object holding `metadata` and `spec`. They are the live parts of `object`, so a
 * caller working on a copy may change them in place.
 */
export function templatesOf(object: KubeObject): PlainObject[] {
  const spec = child(object, "spec");
  if (kindIn(object.kind, POD_TEMPLATE_KINDS)) {
    const template = child(spec, "template");
    return template ? [template] : [];
  }
  if (kindIn(object.kind, ["CronJob"])) {
    const jobTemplate = child(spec, "jobTemplate");
    if (!jobTemplate) return [];
    const podTemplate = child(child(jobTemplate, "spec"), "template");
    return podTemplate ? [jobTemplate, podTemplate] : [jobTemplate];
  }
  return [];
}

/** The pod specs an object would run: a Pod's own spec, or the spec of its pod template. */
export function podSpecsOf(object: KubeObject): PlainObject[] {
  if (kindIn(object.kind, ["Pod"])) {
    const spec = child(object, "spec");
    return spec ? [spec] : [];
  }
  const specs: PlainObject[] = [];
  const spec = child(object, "spec");
  if (kindIn(object.kind, POD_TEMPLATE_KINDS)) {
    const podSpec = child(child(spec, "template"), "spec");
    if (podSpec) specs.push(podSpec);
  }
  if (kindIn(object.kind, ["CronJob"])) {
    const podSpec = child(child(child(child(spec, "jobTemplate"), "spec"), "template"), "spec");
    if (podSpec) specs.push(podSpec);
  }
  return specs;
}

/** How messages name an object: its name, or its generateName prefix followed by `*`. */
export function describeObject(object: KubeObject): string {
  const { name, generateName } = object.metadata;
  if (typeof name === "string") return `${object.kind} ${name}`;
  if (typeof generateName === "string") return `${object.kind} ${generateName}*`;
  return object.kind;
}
