import { Observable, ResponseContext, type HttpLibrary, type RequestContext } from "@kubernetes/client-node";
import { request as undiciRequest } from "undici";

/**
 * The client's transport, swapped through its own extension point (`httpApi`): the same requests, with
 * the same URL, headers, dispatcher (connection pool) and abort signal, sent with undici's `request`
 * rather than the client's default, undici's `fetch`, whose WHATWG layers (Request, Headers, a web stream
 * for every body) cost more per call than the answer of a create is worth. A 401 is told to
 * `onUnauthorized`, so that reused credentials are dropped at once.
 */
export class UndiciHttpLibrary implements HttpLibrary {
  constructor(
    private readonly options: {
      readonly onUnauthorized?: () => void;
      /** How long an API call may wait for its answer to start, then for each part of it. */
      readonly answerTimeoutMs?: number;
    } = {},
  ) {}

  send(request: RequestContext): Observable<ResponseContext> {
    return new Observable(
      exchange(request, this.options.answerTimeoutMs ?? API_ANSWER_TIMEOUT_MS).then((response) => {
        if (response.httpStatusCode === 401) this.options.onUnauthorized?.();
        return response;
      }),
    );
  }
}

/**
 * An API server that accepted a call and then says nothing (hung, or overloaded past its own 60 s
 * request timeout) must not hold it for undici's default of 5 minutes: the call fails as "no answer"
 * (KUBERNETES_UNREACHABLE), which a create's retries within --kubernetes-retry-budget take as pushback.
 * Watches do not come through here: they stay open for as long as the server keeps them.
 */
export const API_ANSWER_TIMEOUT_MS = 30_000;

async function exchange(request: RequestContext, answerTimeoutMs: number): Promise<ResponseContext> {
  const body = request.getBody();
  // Kubernetes calls send JSON text; form data is for other APIs of the same generator.
  if (body !== undefined && typeof body !== "string") {
    throw new Error("only text bodies are sent to the API server");
  }
  // No dispatcher (a plain http server, no TLS settings): undici's global one, as the client's fetch does.
  const dispatcher = request.getDispatcher();
  const response = await undiciRequest(request.getUrl(), {
    method: request.getHttpMethod(),
    headers: request.getHeaders(),
    body,
    signal: request.getSignal(),
    headersTimeout: answerTimeoutMs,
    bodyTimeout: answerTimeoutMs,
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  // A connection closed mid-answer rejects here (undici's SocketError, code UND_ERR_SOCKET).
  const data = Buffer.from(await response.body.arrayBuffer());
  return new ResponseContext(response.statusCode, flatHeaders(response.headers), {
    text: () => Promise.resolve(data.toString("utf8")),
    binary: () => Promise.resolve(data),
    stream: () => new Blob([data]).stream(),
  });
}

/** undici's headers, lower-cased, with repeated ones joined as fetch joins them. */
function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}
