import type { Dispatcher, PublishReport } from "../dispatch/index.js";
import { GitfaasError } from "../errors/index.js";
import type { Store } from "../store/index.js";

/**
 * Publishes a request's body and query values again, on the revision served now, as a new request
 * linked to it by `replayOf`. With `failedOnly`, only the manifests (by path) whose functions failed run.
 */
export async function replayRequest(
  store: Store,
  dispatcher: Dispatcher,
  requestUid: string,
  failedOnly: boolean,
): Promise<PublishReport> {
  const request = await store.getRequest(requestUid);
  const first = request?.functions[0];
  if (!request || !first)
    throw new GitfaasError("REQUEST_NOT_FOUND", `no request '${requestUid}' (unknown or expired)`);
  const [input, payload] = await Promise.all([
    store.getRequestInput(requestUid),
    store.getPayload(first.functionUid),
  ]);
  if (!input || !payload)
    throw new GitfaasError(
      "REPLAY_UNAVAILABLE",
      `request '${requestUid}' was recorded without its query values (before replay existed): it cannot be replayed`,
    );
  const failed = new Set(request.functions.filter((fn) => fn.status === "failed").map((fn) => fn.path));
  if (failedOnly && failed.size === 0)
    throw new GitfaasError(
      "NOTHING_FAILED",
      `no function of request '${requestUid}' failed: nothing to replay`,
    );
  return dispatcher.publish({
    topic: request.topic,
    body: payload.body,
    contentType: payload.contentType,
    params: input.params,
    replayOf: requestUid,
    ...(failedOnly ? { onlyPaths: failed } : {}),
  });
}
