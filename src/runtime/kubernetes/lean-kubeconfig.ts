import {
  HttpMethod,
  RequestContext,
  ServerConfiguration,
  createConfiguration,
  type ApiConstructor,
  type ApiType,
} from "@kubernetes/client-node";
import type { Dispatcher } from "undici";
import { PooledKubeConfig } from "./pooled-kubeconfig.js";
import { UndiciHttpLibrary } from "./undici-http-library.js";

/** How long credentials worked out for one request serve the next ones, by default. */
const CREDENTIALS_REUSE_MS = 1000;

interface Credentials {
  readonly headers: Readonly<Record<string, string>>;
  readonly dispatcher: Dispatcher | undefined;
}

/**
 * What gitfaas's API clients are made from: the pooled connection, the client's requests sent with
 * undici's `request` (UndiciHttpLibrary), and credentials worked out once a second rather than per
 * request. For every request the client reads the CA, certificate and key again (files, for a service
 * account), decodes them and builds a dispatcher, only for the pool to be used anyway. The client's
 * watches ask for their credentials here too, and so share the pool. Tokens stay as fresh as
 * the client keeps them: its token-file reader rereads every minute and exec plugins run again when
 * their credential expires; a second's reuse on top of that is nothing, and a 401 drops it at once (and
 * an exec plugin's credential with it).
 */
export class LeanKubeConfig extends PooledKubeConfig {
  private credentials: Promise<Credentials> | undefined;
  private credentialsUntil = 0;
  private readonly transport: UndiciHttpLibrary;

  constructor(
    private readonly credentialsReuseMs = CREDENTIALS_REUSE_MS,
    answerTimeoutMs?: number,
  ) {
    super();
    this.transport = new UndiciHttpLibrary({ onUnauthorized: () => this.unauthorized(), answerTimeoutMs });
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
    const { headers, dispatcher } = await this.credentials;
    for (const [name, value] of Object.entries(headers)) context.setHeaderParam(name, value);
    if (dispatcher) context.setDispatcher(dispatcher);
  }

  /** The next request works its credentials out again. */
  forgetCredentials(): void {
    this.credentials = undefined;
  }

  /**
   * A 401: the credentials are worked out again, an exec plugin's included. Since 2.0 the client keeps a
   * plugin's credential that has no expiry for good (client-go runs the plugin again after a 401; this
   * client has no hook for it), so its cached credential for the current user is dropped here. That cache
   * is the client's private state (ExecAuth's `tokenCache`, keyed by user name): should it move, this does
   * nothing, and test-k8s/kubernetes-credentials.test.ts fails.
   */
  private unauthorized(): void {
    this.forgetCredentials();
    const user = this.getCurrentUser();
    const { authenticators } = this as unknown as { authenticators?: unknown };
    if (!user || !Array.isArray(authenticators)) return;
    for (const authenticator of authenticators as { tokenCache?: unknown }[]) {
      const cache = authenticator.tokenCache;
      if (typeof cache === "object" && cache !== null) Reflect.deleteProperty(cache, user.name);
    }
  }

  private async workOutCredentials(): Promise<Credentials> {
    const scratch = new RequestContext(
      this.getCurrentCluster()?.server ?? "https://localhost",
      HttpMethod.GET,
    );
    await super.applySecurityAuthentication(scratch);
    return { headers: { ...scratch.getHeaders() }, dispatcher: scratch.getDispatcher() };
  }

  /** A destroyed pool takes no more requests: credentials naming it are worked out again. */
  override async destroyPool(): Promise<void> {
    this.forgetCredentials();
    await super.destroyPool();
  }
}
