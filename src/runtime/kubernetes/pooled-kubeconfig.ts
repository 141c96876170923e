import https from "node:https";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";

/**
 * The client builds a fresh https.Agent for every request, so each call pays a new TCP and TLS
 * handshake. This keeps one keep-alive agent for the process: one connection pool to the API server.
 * Proxy agents (which subclass https.Agent) are left alone.
 */
export class PooledKubeConfig extends KubeConfig {
  private pooled: https.Agent | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getAgent();
    if (!(fresh instanceof https.Agent) || fresh.constructor !== https.Agent) return;
    this.pooled ??= new https.Agent({ ...fresh.options, keepAlive: true, maxSockets: 64 });
    context.setAgent(this.pooled);
  }

  /** Ends idle pooled connections (watches hold their own). */
  destroyPool(): void {
    this.pooled?.destroy();
    this.pooled = undefined;
  }
}
