import { GitfaasError } from "../errors/index.js";
import { isFunctionUid } from "../ids/index.js";
import type { Lineage, RequestRecord, Store } from "../store/index.js";

/** The root of a request's run: itself when nothing published it on a function's behalf. */
export function rootOf(request: Pick<RequestRecord, "requestUid" | "lineage">): string {
  return request.lineage?.rootRequestUid ?? request.requestUid;
}

/** The lineage a child of `parent` (a function of `request`) gets: one step deeper than its request. */
export function childLineage(request: RequestRecord, parentFunctionUid: string): Lineage {
  return {
    parentFunctionUid,
    rootRequestUid: rootOf(request),
    depth: (request.lineage?.depth ?? 0) + 1,
  };
}

/** Why a chain would grow past the bound, or undefined when it may grow. */
export function tooDeep(lineage: Lineage, maxDepth: number): string | undefined {
  if (lineage.depth <= maxDepth) return undefined;
  return `the chain from ${lineage.rootRequestUid} would be ${lineage.depth} publishes deep; at most ${maxDepth} are allowed (--pipeline-max-depth): a loop of next steps?`;
}

/**
 * The lineage of a publish made on behalf of `parentFunctionUid` (the Gitfaas-Parent header). A
 * malformed, unknown or expired parent is refused (INVALID_PARENT) rather than ignored: a caller
 * who names a parent wants the link, and a silently unlinked run would be lost from its tree.
 */
export async function lineageFor(
  store: Store,
  parentFunctionUid: string,
  maxDepth: number,
): Promise<Lineage> {
  const shown = parentFunctionUid.slice(0, 100);
  if (!isFunctionUid(parentFunctionUid))
    throw new GitfaasError("INVALID_PARENT", `Gitfaas-Parent '${shown}' is not a function UID`);
  const parent = await store.getFunction(parentFunctionUid);
  const request = parent && (await store.getRequest(parent.requestUid));
  if (!request)
    throw new GitfaasError(
      "INVALID_PARENT",
      `Gitfaas-Parent '${shown}' is no live function (unknown or expired)`,
    );
  const lineage = childLineage(request, parentFunctionUid);
  const refusal = tooDeep(lineage, maxDepth);
  if (refusal) throw new GitfaasError("PIPELINE_TOO_DEEP", refusal, { depth: lineage.depth, maxDepth });
  return lineage;
}
