import {
  HttpMethod,
  RequestContext,
  ServerConfiguration,
  createConfiguration,
  type ApiConstructor,
  type ApiType,
} from "@kubernetes/client-node";
import type { Agent } from "node:http";
import { NodeHttpLibrary } from "./node-http-library.js";
import { PooledKubeConfig } from "./pooled-kubeconfig.js";

/** How long credentials worked out for one request serve the next ones, by default. */
const CREDENTIALS_REUSE_MS = 1000;

interface Credentials {
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: Agent | undefined;
}

/**
 * What gitfaas's API clients are made from: the pooled connection, the client's requests sent with
 * node's http module (NodeHttpLibrary), and credentials worked out once a second rather than per request.
 * For every request the client reads the CA, certificate and key again (files, for a service account),
 * decodes them and builds a TLS agent, only for the pool to be used anyway. Tokens stay as fresh as
 * the client keeps them: its token-file reader rereads every minute and exec plugins run again when
 * their credential expires; a second's reuse on top of that is nothing, and a 401 drops it at once.
 */
export class LeanKubeConfig extends PooledKubeConfig {
  private credentials: Promise<Credentials> | undefined;
  private credentialsUntil = 0;
  private readonly transport = new NodeHttpLibrary({ onUnauthorized: () => this.forgetCredentials() });

  constructor(private readonly credentialsReuseMs = CREDENTIALS_REUSE_MS) {
    super();
  }

  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error("No active cluster!");
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        httpApi: this.transport,
      }),
    );
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const now = Date.now();
    if (this.credentials === undefined || now >= this.credentialsUntil) {
      const reading = this.workOutCredentials();
      this.credentials = reading;
      this.credentialsUntil = now + this.credentialsReuseMs;
      // A failure (an exec plugin that failed) is not kept: the next request tries again.
      reading.catch(() => {
        if (this.credentials === reading) this.credentials = undefined;
      });
    }
    const { headers, agent } = await this.credentials;
    for (const [name, value] of Object.entries(headers)) context.setHeaderParam(name, value);
    if (agent) context.setAgent(agent);
  }

  /** The next request works its credentials out again. */
  forgetCredentials(): void {
    this.credentials = undefined;
  }

  private async workOutCredentials(): Promise<Credentials> {
    const scratch = new RequestContext(
      this.getCurrentCluster()?.server ?? "https://localhost",
      HttpMethod.GET,
    );
    await super.applySecurityAuthentication(scratch);
    return { headers: { ...scratch.getHeaders() }, agent: scratch.getAgent() };
  }
}
