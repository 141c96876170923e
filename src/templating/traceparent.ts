import { isPlainObject, kindIn, podSpecsOf, type KubeObject } from "./kube.js";

/** The variable a lambda reads its trace context from (W3C Trace Context, as OpenTelemetry SDKs name it). */
export const TRACEPARENT_ENV = "TRACEPARENT";

/**
 * Sets `TRACEPARENT=<traceparent>` in the env of `objects`' containers (init containers too: they are
 * part of the run), unless the manifest sets that variable itself, and returns them. In place, as
 * addTracking: objects of this publish only. Only Jobs and Pods, as for the per-publish tracking annotations: a value that changes at every publish inside
 * a long-lived workload's template (Deployment…) would roll it out each time.
 */
export function addTraceparent(objects: readonly KubeObject[], traceparent: string): KubeObject[] {
  return objects.map((object) => {
    if (!kindIn(object.kind, ["Job", "Pod"])) return object;
    for (const spec of podSpecsOf(object)) {
      for (const list of [spec.containers, spec.initContainers]) {
        if (!Array.isArray(list)) continue;
        for (const container of list) if (isPlainObject(container)) setUnlessSet(container, traceparent);
      }
    }
    return object;
  });
}

function setUnlessSet(container: Record<string, unknown>, traceparent: string): void {
  const env = Array.isArray(container.env) ? container.env : [];
  if (env.some((entry) => isPlainObject(entry) && entry.name === TRACEPARENT_ENV)) return;
  container.env = [...env, { name: TRACEPARENT_ENV, value: traceparent }];
}
