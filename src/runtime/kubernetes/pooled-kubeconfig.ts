import type { AgentOptions } from "node:https";
import {
  KubeConfig,
  type Cluster,
  type DispatcherOptions,
  type RequestContext,
} from "@kubernetes/client-node";
import { Agent } from "undici";

/** Connections to the API server at most; further requests wait for one. */
const MAX_CONNECTIONS = 64;

/**
 * The client builds a fresh undici Agent (a connection pool of its own) for every request, so each call
 * pays a new TCP and TLS handshake. This keeps one keep-alive pool for the process: one undici Agent made
 * from the client's own connection options (CA, client certificate, server name, keep-alive probes) the
 * first time it works them out. Dispatchers for a proxy (the cluster's `proxy-url`) are left alone.
 */
export class PooledKubeConfig extends KubeConfig {
  private pooled: Agent | undefined;

  /** The client's public hook for the options its dispatcher is built from, called for every request. */
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    if (options.type === "agent") {
      this.pooled ??= new Agent({ connect: options.connect, connections: MAX_CONNECTIONS });
    }
    return options;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    // A bare Agent without a proxy URL is the "agent" kind (a SOCKS proxy is an Agent too).
    const fresh = context.getDispatcher();
    if (this.pooled && fresh instanceof Agent && !this.getCurrentCluster()?.proxyUrl) {
      context.setDispatcher(this.pooled);
    }
  }

  /** Ends the pooled connections, watches' included (stop them first); a later request opens a new pool. */
  async destroyPool(): Promise<void> {
    const pooled = this.pooled;
    this.pooled = undefined;
    await pooled?.destroy();
  }
}
