import type { KubernetesObject } from "@kubernetes/client-node";
import { TRACKING } from "../../templating/index.js";

type TrackedPod = KubernetesObject & {
  status?: { podIP?: string; podIPs?: { ip?: string }[]; phase?: string };
};

/**
 * Which function's pod has which IP address, for the pods gitfaas tracks while they run: a lambda
 * written for the original cannot say on whose behalf it publishes (no Gitfaas-Parent header), but
 * its publish comes from its pod's address. Pods that finished give their address back (the cluster
 * may reuse it at once).
 */
export class PodAddresses {
  private readonly byAddress = new Map<string, string>();
  private readonly byPod = new Map<string, string[]>();

  update(pod: TrackedPod): void {
    const key = podKey(pod);
    this.forget(key);
    const functionUid = pod.metadata?.annotations?.[TRACKING.functionUidAnnotation];
    const phase = pod.status?.phase;
    if (!functionUid || key === undefined || phase === "Succeeded" || phase === "Failed") return;
    const addresses = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((entry) => entry.ip)].filter(
      (ip): ip is string => typeof ip === "string" && ip !== "",
    );
    for (const ip of addresses) this.byAddress.set(ip, functionUid);
    this.byPod.set(key, addresses);
  }

  remove(pod: TrackedPod): void {
    this.forget(podKey(pod));
  }

  /** The function whose running pod has this address (an IPv4-mapped IPv6 address is read as IPv4). */
  functionAt(address: string): string | undefined {
    return this.byAddress.get(address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address);
  }

  private forget(key: string | undefined): void {
    if (key === undefined) return;
    for (const ip of this.byPod.get(key) ?? []) this.byAddress.delete(ip);
    this.byPod.delete(key);
  }
}

function podKey(pod: TrackedPod): string | undefined {
  return (
    pod.metadata?.uid ?? (pod.metadata?.name ? `${pod.metadata.namespace}/${pod.metadata.name}` : undefined)
  );
}
