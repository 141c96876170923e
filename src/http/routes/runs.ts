import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { decodedAnswer, totalsOf, type RunTree } from "../../pipelines/index.js";
import type { FiringRecord, RequestRecord } from "../../store/index.js";
import { parseWait, requestUidParam, showsFunctionUids } from "../input.js";
import type { RunSource } from "../ports.js";
import { functionView } from "./answers.js";

export interface RunRoutesOptions {
  readonly runs: RunSource;
  /** The longest `?wait=` honoured, in seconds. */
  readonly maxWaitSeconds: number;
  /** Aborted at shutdown: waiting readers get what is known so far instead of holding the close. */
  readonly shutdown: AbortSignal | undefined;
}

/** A next step as callers see it: which topic, how it went, and the request it became. */
function firingView(firing: FiringRecord) {
  return {
    kind: firing.kind,
    topic: firing.topic,
    state: firing.state,
    reason: firing.reason,
    requestUid: firing.state === "published" ? firing.childRequestUid : null,
  };
}

/**
 * One request of the run with its functions; under each function, the next steps fired from it and the
 * requests published on its behalf (its children), recursively. A join hangs on the request.
 */
function requestView(request: RequestRecord, tree: RunTree, showUids: boolean): Record<string, unknown> {
  const firings = tree.firings.get(request.requestUid) ?? [];
  return {
    requestUid: request.requestUid,
    topic: request.topic,
    revision: request.revision,
    createdAt: request.createdAt.toISOString(),
    depth: request.lineage?.depth ?? 0,
    functions: request.functions.map((fn) => ({
      ...functionView(fn, showUids),
      answer: decodedAnswer(fn),
      next: firings
        .filter((f) => f.kind !== "join" && f.sourceFunctionUid === fn.functionUid)
        .map(firingView),
      children: tree.requests
        .filter((child) => child.lineage?.parentFunctionUid === fn.functionUid)
        .map((child) => requestView(child, tree, showUids)),
    })),
    join: firings.filter((f) => f.kind === "join").map(firingView),
  };
}

/** The answer of `GET /requests/<uid>/tree`, before its version. */
function treeView(requestUid: string, tree: RunTree, showUids: boolean) {
  const known = new Set(tree.requests.map((each) => each.functions.map((fn) => fn.functionUid)).flat());
  const root = tree.requests.find((each) => each.requestUid === tree.rootRequestUid);
  // Requests whose parent is gone (the root expired first): shown apart rather than lost.
  const detached = tree.requests.filter(
    (each) => each !== root && !known.has(each.lineage?.parentFunctionUid ?? ""),
  );
  const totals = totalsOf(tree);
  return {
    requestUid,
    rootRequestUid: tree.rootRequestUid,
    finished: tree.finished,
    totals: {
      ...totals,
      firstStart: totals.firstStart?.toISOString() ?? null,
      lastFinish: totals.lastFinish?.toISOString() ?? null,
    },
    root: root ? requestView(root, tree, showUids) : null,
    detached: detached.map((each) => requestView(each, tree, showUids)),
  };
}

/** Names what a reader was shown: the same version means nothing they can see has changed. */
function versionOf(view: ReturnType<typeof treeView>): string {
  return createHash("sha256").update(JSON.stringify(view)).digest("hex").slice(0, 20);
}

/** `GET /requests/<request uid>/tree`: a run as a whole, from its root. */
export async function runRoutes(app: FastifyInstance, options: RunRoutesOptions): Promise<void> {
  app.get<{ Params: { requestUid: string }; Querystring: { wait?: string; since?: string } }>(
    "/requests/:requestUid/tree",
    { config: { access: "read" } },
    async (request) => {
      const requestUid = requestUidParam(request.params.requestUid);
      const waitMs = parseWait(request.query.wait, options.maxWaitSeconds) * 1000;
      // As for GET /response: a function UID is the capability to answer for it.
      const showUids = showsFunctionUids(request);
      // Long-polling: with `since`, the wait also ends as soon as the reader's view changes. The view is
      // compared rather than a counter kept, so any change a reader can see counts, on any replica.
      const since = request.query.since;
      const changed =
        since === undefined
          ? undefined
          : (tree: RunTree) => versionOf(treeView(requestUid, tree, showUids)) !== since;
      const tree = await options.runs.readTree(requestUid, waitMs, options.shutdown, changed);
      const view = treeView(requestUid, tree, showUids);
      return { error: false, version: versionOf(view), ...view };
    },
  );
}
