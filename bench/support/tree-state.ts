import { newFunctionUid, newRequestUid } from "../../src/ids/index.js";
import type { Lineage, Store } from "../../src/store/index.js";

/**
 * Finished runs written through the Store port, as the dispatcher, the runtime and the next steps would
 * have left them: 1,000 real lambdas take minutes to run on a small machine, and the figure is about
 * reading a run, not running it.
 */

/** A request whose functions all ran and answered; their UIDs. */
async function finishedRequest(
  store: Store,
  request: { requestUid: string; topic: string; revision: string; functions: number; lineage?: Lineage },
): Promise<string[]> {
  const functionUids = Array.from({ length: request.functions }, () => newFunctionUid(request.requestUid));
  const startedAt = new Date();
  await store.createRequest({
    requestUid: request.requestUid,
    topic: request.topic,
    revision: request.revision,
    payload: Buffer.from('{"input":"bench"}'),
    contentType: "application/json",
    createdAt: startedAt,
    functions: functionUids.map((functionUid, index) => ({ functionUid, path: `lambdas/f${index}.yaml` })),
    ...(request.lineage ? { lineage: request.lineage } : {}),
  });
  for (const [index, functionUid] of functionUids.entries()) {
    await store.recordApply(functionUid, { error: false, code: null, message: "started Job/f locally" });
    await store.updateStatus(functionUid, { status: "running", attempts: 1, startedAt });
    const answer = JSON.stringify({ index, rows: [1, 2, 3], note: "a small JSON answer" });
    await store.putResponse(functionUid, {
      body: Buffer.from(answer),
      contentType: "application/json",
      at: new Date(),
    });
    await store.updateStatus(functionUid, { status: "succeeded", finishedAt: new Date(), reason: null });
  }
  return functionUids;
}

/** One request of `functions` finished functions (a topic of that many manifests). */
export async function wideRun(
  store: Store,
  topic: string,
  revision: string,
  functions: number,
): Promise<string> {
  const requestUid = newRequestUid();
  await finishedRequest(store, { requestUid, topic, revision, functions });
  return requestUid;
}

/**
 * A fan-out through onSuccess: a root request of `width` functions, each of which published a child
 * request of one function (claimed, published and settled as the next steps do): 2 × `width` functions.
 */
export async function fanOutRun(
  store: Store,
  topics: { root: string; child: string },
  revision: string,
  width: number,
): Promise<string> {
  const rootRequestUid = newRequestUid();
  const parents = await finishedRequest(store, {
    requestUid: rootRequestUid,
    topic: topics.root,
    revision,
    functions: width,
  });
  for (const parentFunctionUid of parents) {
    const childRequestUid = newRequestUid();
    const key = `${parentFunctionUid}:onSuccess:${topics.child}`;
    await store.claimFiring({
      key,
      kind: "onSuccess",
      sourceRequestUid: rootRequestUid,
      sourceFunctionUid: parentFunctionUid,
      topic: topics.child,
      childRequestUid,
      claimedAt: new Date(),
    });
    const lineage = { parentFunctionUid, rootRequestUid, depth: 1 };
    await finishedRequest(store, {
      requestUid: childRequestUid,
      topic: topics.child,
      revision,
      functions: 1,
      lineage,
    });
    await store.settleFiring(key, "published");
  }
  return rootRequestUid;
}
