import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";

/** Marks requests whose answer is read as plain JSON rather than through the client's typed models. */
const AS_SENT = "gitfaas/as-sent";

/**
 * The answer to a write, as gitfaas reads it: only the object's metadata (name, namespace), which the
 * API server sends alone when asked (PartialObjectMetadata) rather than the whole object back, spec and
 * pod template with the payload included; one that cannot (none known here) sends the object as JSON.
 */
const METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json";

/**
 * The client's generic object API passes every object through its typed models, which silently drop
 * any field they don't know: a typo in a manifest, or a field newer than the client. This sends objects
 * exactly as rendered, so that the API server judges them (and refuses unknown fields), and reads the
 * answer, the written object's metadata only, as plain JSON. Resource paths, authentication and the
 * connection pool stay the client's.
 */
export class RenderedObjectApi extends KubernetesObjectApi {
  static forConfig(config: KubeConfig): RenderedObjectApi {
    const api = config.makeApiClient(RenderedObjectApi);
    api.setDefaultNamespace(config);
    return api;
  }

  async createRendered(object: KubernetesObject, fieldManager: string): Promise<KubernetesObject> {
    const context = await this.requestFor(object, "create", HttpMethod.POST, fieldManager);
    // Unknown or duplicate fields are refused, as a server-side apply refuses them, not dropped with a warning.
    context.setQueryParam("fieldValidation", "Strict");
    context.setHeaderParam("Content-Type", "application/json");
    return this.sendRendered(context, object);
  }

  /** Server-side apply, forced: gitfaas owns what its manifests say. */
  async applyRendered(object: KubernetesObject, fieldManager: string): Promise<KubernetesObject> {
    const context = await this.requestFor(object, "patch", HttpMethod.PATCH, fieldManager);
    context.setQueryParam("force", "true");
    // JSON is YAML: the apply content type takes it as is.
    context.setHeaderParam("Content-Type", PatchStrategy.ServerSideApply);
    return this.sendRendered(context, object);
  }

  private async requestFor(
    object: KubernetesObject,
    action: "create" | "patch",
    method: HttpMethod,
    fieldManager: string,
  ): Promise<RequestContext> {
    const context = this.configuration.baseServer.makeRequestContext(
      await this.specUriPath(object, action),
      method,
    );
    context.setQueryParam("fieldManager", fieldManager);
    return context;
  }

  private sendRendered(context: RequestContext, object: KubernetesObject): Promise<KubernetesObject> {
    context.setHeaderParam("Accept", METADATA_ONLY);
    context.setBody(JSON.stringify(object));
    return this.requestPromise(context, AS_SENT);
  }

  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
    type?: string,
  ): Promise<T> {
    if (type !== AS_SENT) return super.processResponse<T>(response, type);
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      return JSON.parse(await response.body.text()) as T;
    }
    throw new ApiException(
      response.httpStatusCode,
      "Unsuccessful HTTP Request",
      await response.getBodyAsAny(),
      response.headers,
    );
  }
}
