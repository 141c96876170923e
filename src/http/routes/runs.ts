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

/** Groups `items` by `keyOf`, each group in the order of `items`. */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    if (key === undefined) continue;
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/**
 * The tree indexed once, so that each function finds its next steps and its children by key: matching
 * them by scanning every request (and every firing) for each function made reading a large run
 * quadratic.
 */
interface TreeIndex {
  readonly tree: RunTree;
  readonly childrenOf: ReadonlyMap<string, readonly RequestRecord[]>;
  readonly nextOf: ReadonlyMap<string, readonly FiringRecord[]>;
  readonly showUids: boolean;
}

function indexOf(tree: RunTree, showUids: boolean): TreeIndex {
  const fired = [...tree.firings.values()].flat();
  return {
    tree,
    childrenOf: groupBy(tree.requests, (request) => request.lineage?.parentFunctionUid),
    nextOf: groupBy(fired, (firing) => (firing.kind === "join" ? undefined : firing.sourceFunctionUid)),
    showUids,
  };
}

/**
 * One request of the run with its functions; under each function, the next steps fired from it and the
 * requests published on its behalf (its children), recursively. A join hangs on the request.
 */
function requestView(request: RequestRecord, index: TreeIndex): Record<string, unknown> {
  const firings = index.tree.firings.get(request.requestUid) ?? [];
  return {
    requestUid: request.requestUid,
    topic: request.topic,
    revision: request.revision,
    createdAt: request.createdAt.toISOString(),
    depth: request.lineage?.depth ?? 0,
    functions: request.functions.map((fn) => ({
      ...functionView(fn, index.showUids),
      answer: decodedAnswer(fn),
      next: (index.nextOf.get(fn.functionUid) ?? []).map(firingView),
      children: (index.childrenOf.get(fn.functionUid) ?? []).map((child) => requestView(child, index)),
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
  const index = indexOf(tree, showUids);
  return {
    requestUid,
    rootRequestUid: tree.rootRequestUid,
    finished: tree.finished,
    totals: {
      ...totals,
      firstStart: totals.firstStart?.toISOString() ?? null,
      lastFinish: totals.lastFinish?.toISOString() ?? null,
    },
    root: root ? requestView(root, index) : null,
    detached: detached.map((each) => requestView(each, index)),
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
