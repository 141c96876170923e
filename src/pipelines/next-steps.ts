import { NO_NEXT_STEPS, type NextSteps as TopicSteps } from "../catalog/index.js";
import type { PublishInput } from "../dispatch/index.js";
import { describeError } from "../errors/index.js";
import { newRequestUid } from "../ids/index.js";
import type { Logger } from "../logging/index.js";
import {
  FINISHED_STATUSES,
  type FiringClaim,
  type FiringKind,
  type FiringRecord,
  type FunctionRecord,
  type RequestRecord,
  type Store,
} from "../store/index.js";
import { childLineage, tooDeep } from "./lineage.js";
import { isTransientRefusal } from "./transient.js";

/** A claim older than this whose publish never settled is taken over: its claimer died or stalled. */
export const DEFAULT_FIRING_LEASE_MS = 30_000;

export interface NextStepsOptions {
  readonly store: Store;
  /** Publishes as a caller would (the dispatcher). */
  readonly publish: (input: PublishInput) => Promise<unknown>;
  /**
   * The next steps of a topic in the revision served now (a topic it lacks has none); undefined while
   * no revision is served yet: what finished functions owe stays owed until one is.
   */
  readonly stepsOf: (topic: string) => TopicSteps | undefined;
  readonly maxDepth: number;
  /** Where a dead-letter report points for the failed function's body. */
  readonly payloadUrl: (functionUid: string) => string;
  readonly logger: Logger;
  readonly clock?: () => Date;
  readonly leaseMs?: number;
}

interface Step {
  readonly key: string;
  readonly kind: FiringKind;
  readonly topic: string;
}

/** Every function of the request has finished: its join is owed. */
function allFinished(request: RequestRecord): boolean {
  return request.functions.every((each) => FINISHED_STATUSES.has(each.status));
}

/**
 * The steps a finished function owes (its own onSuccess/onFailure, its request's join once all
 * finished). `joinDue` is `allFinished(request)`, passed in so that a caller asking for every function
 * of a request reads the request once, not once per function.
 */
function stepsFor(fn: FunctionRecord, request: RequestRecord, steps: TopicSteps, joinDue: boolean): Step[] {
  const own = fn.status === "succeeded" ? steps.onSuccess : fn.status === "failed" ? steps.onFailure : [];
  const kind: FiringKind = fn.status === "succeeded" ? "onSuccess" : "onFailure";
  const found: Step[] = own.map((topic) => ({ key: `${fn.functionUid}:${kind}:${topic}`, kind, topic }));
  if (steps.join !== undefined && joinDue)
    found.push({ key: `${request.requestUid}:join:${steps.join}`, kind: "join", topic: steps.join });
  return found;
}

/** An answer as JSON: parsed when it was sent as JSON, text otherwise. */
export function decodedAnswer(fn: FunctionRecord): unknown {
  if (fn.response === null) return null;
  const text = fn.response.body.toString("utf8");
  if (!/\bjson\b/i.test(fn.response.contentType)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Next steps (`onSuccess`, `onFailure`, `join`), fired exactly once per function (per request for a
 * join) however many replicas hear that it finished, and whatever dies on the way:
 * 1. the step is claimed in the store, atomically, with the request UID its publish will take: one
 *    claimer wins, on any replica;
 * 2. the winner publishes under that UID, then settles the claim (published, or refused with why);
 * 3. a claim left unsettled past its lease (the claimer died between 1 and 2) is retaken by one replica,
 *    which publishes it unless the request of that UID exists already.
 * Before 1, the store write that finished the function recorded that its steps are owed; the debt is
 * cleared once its claims are made. A debt older than the lease (a replica died between the finish and
 * its claims) is taken up by the sweep of any replica: the claims keep it to once.
 */
export class NextSteps {
  private readonly clock: () => Date;
  private readonly leaseMs: number;

  constructor(private readonly options: NextStepsOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.leaseMs = options.leaseMs ?? DEFAULT_FIRING_LEASE_MS;
  }

  /**
   * A function finished (as stored): fires what it owes. Safe to call any number of times, anywhere.
   * Returns how many steps this call claimed (and published).
   */
  async functionFinished(functionUid: string): Promise<number> {
    const claims = await this.claimSteps(functionUid);
    if (claims === undefined) return 0;
    // Claimed: from here on the claims, not the debt, make sure that they are published. A debt left
    // (the store refused the clear) only makes a later sweep find the claims taken.
    await this.options.store.clearOwedSteps(functionUid).catch((error: unknown) => {
      this.options.logger.warn({ functionUid, reason: describeError(error) }, "owed next steps not cleared");
    });
    for (const claim of claims) await this.publish(claim);
    return claims.length;
  }

  /** Claims the steps a finished function owes: those this call won; undefined when it is not done with. */
  private async claimSteps(functionUid: string): Promise<FiringClaim[] | undefined> {
    const { store } = this.options;
    const fn = await store.getFunction(functionUid);
    // Unknown or expired: its debt went with it.
    if (!fn) return [];
    if (!FINISHED_STATUSES.has(fn.status)) return undefined;
    const steps = this.options.stepsOf(fn.topic);
    if (steps === undefined) return undefined;
    if (steps.onSuccess.length + steps.onFailure.length === 0 && steps.join === undefined) return [];
    const request = await store.getRequest(fn.requestUid);
    if (!request) return [];
    const won: FiringClaim[] = [];
    for (const step of stepsFor(fn, request, steps, allFinished(request))) {
      const claim: FiringClaim = {
        ...step,
        sourceRequestUid: request.requestUid,
        sourceFunctionUid: fn.functionUid,
        childRequestUid: newRequestUid(),
        claimedAt: this.clock(),
      };
      if (await store.claimFiring(claim)) won.push(claim);
    }
    return won;
  }

  /** The same, logging instead of throwing: for event handlers. */
  heard(functionUid: string): void {
    this.functionFinished(functionUid).catch((error: unknown) =>
      this.options.logger.error({ err: error, functionUid }, "could not fire next steps"),
    );
  }

  /**
   * Fires the steps owed by functions that finished before the lease ran out and whose claims were never
   * made, then publishes the claims whose publish never settled: those claimed before the lease ran
   * out. With `all`, every one (at the start of the only process using the store: no claimer can be
   * alive). Returns how many steps it published.
   */
  async sweep(all = false): Promise<number> {
    const now = this.clock();
    const staleBefore = all ? now : new Date(now.getTime() - this.leaseMs);
    let published = 0;
    for (const functionUid of await this.options.store.listOwedSteps(staleBefore)) {
      const fired = await this.functionFinished(functionUid);
      if (fired > 0) this.options.logger.info({ functionUid, steps: fired }, "owed next steps fired");
      published += fired;
    }
    for (const claim of await this.options.store.listStaleFirings(staleBefore)) {
      if (!(await this.options.store.retakeFiring(claim.key, staleBefore, now))) continue;
      this.options.logger.info({ key: claim.key, requestUid: claim.childRequestUid }, "next step retaken");
      await this.publish(claim);
      published++;
    }
    return published;
  }

  /**
   * Steps not published or refused yet: claimed ones, and those the finished functions of `request`
   * owe under the catalog served now.
   */
  pendingSteps(request: RequestRecord, firings: readonly FiringRecord[]): string[] {
    const steps = this.options.stepsOf(request.topic) ?? NO_NEXT_STEPS;
    const settled = new Set(firings.filter((f) => f.state !== "claimed").map((f) => f.key));
    const joinDue = allFinished(request);
    const owed = request.functions
      .filter((fn) => FINISHED_STATUSES.has(fn.status))
      .flatMap((fn) => stepsFor(fn, request, steps, joinDue).map((step) => step.key));
    const claimed = firings.filter((f) => f.state === "claimed").map((f) => f.key);
    return [...new Set([...owed, ...claimed])].filter((key) => !settled.has(key));
  }

  /** Publishes a claimed step under its request UID and settles the claim. */
  private async publish(claim: FiringClaim): Promise<void> {
    const { store, logger } = this.options;
    const source = await store.getRequest(claim.sourceRequestUid);
    const fn = source?.functions.find((each) => each.functionUid === claim.sourceFunctionUid);
    if (!source || !fn) return store.settleFiring(claim.key, "refused", "its source request expired");
    // A retaken claim whose claimer got as far as publishing: published once is enough.
    if (await store.getRequest(claim.childRequestUid)) return store.settleFiring(claim.key, "published");
    const lineage = childLineage(source, fn.functionUid);
    const refusal = tooDeep(lineage, this.options.maxDepth);
    if (refusal) {
      logger.warn({ key: claim.key, reason: refusal }, "next step refused");
      return store.settleFiring(claim.key, "refused", refusal);
    }
    try {
      await this.options.publish({
        ...this.bodyOf(claim.kind, fn, source),
        topic: claim.topic,
        params: {},
        requestUid: claim.childRequestUid,
        lineage,
        // Tracing: the step continues the trace of the function it follows.
        ...(fn.traceparent === undefined ? {} : { traceparent: fn.traceparent }),
      });
    } catch (error) {
      // Left claimed: the sweep publishes it once the lease has run out.
      if (isTransientRefusal(error)) {
        logger.warn({ key: claim.key, reason: describeError(error) }, "next step postponed");
        return;
      }
      logger.warn({ key: claim.key, reason: describeError(error) }, "next step refused");
      return store.settleFiring(claim.key, "refused", describeError(error));
    }
    await store.settleFiring(claim.key, "published");
  }

  private bodyOf(
    kind: FiringKind,
    fn: FunctionRecord,
    request: RequestRecord,
  ): Pick<PublishInput, "body" | "contentType"> {
    if (kind === "onSuccess") {
      // The answer as it was posted: JSON stays JSON.
      return {
        body: fn.response?.body ?? Buffer.alloc(0),
        contentType: fn.response?.contentType ?? "text/plain",
      };
    }
    const report =
      kind === "join"
        ? request.functions.map((each) => ({
            index: each.index,
            path: each.path,
            status: each.status,
            reason: each.reason,
            answer: decodedAnswer(each),
          }))
        : {
            requestUid: request.requestUid,
            functionUid: fn.functionUid,
            topic: fn.topic,
            path: fn.path,
            reason: fn.reason,
            attempts: fn.attempts,
            payload: this.options.payloadUrl(fn.functionUid),
          };
    return { body: Buffer.from(JSON.stringify(report)), contentType: "application/json" };
  }
}
