/**
 * The Store port: what gitfaas remembers about requests, their functions, statuses and responses.
 * Adapters (sqlite now, redis later) pass the same contract tests in test/store-contract.ts.
 */
export type FunctionStatus = "pending" | "running" | "succeeded" | "failed";

export const FINISHED_STATUSES: ReadonlySet<FunctionStatus> = new Set(["succeeded", "failed"]);

/** A status only moves forward, along this order; the two finished ones rank alike. */
export const STATUS_RANK: Readonly<Record<FunctionStatus, number>> = {
  pending: 0,
  running: 1,
  succeeded: 2,
  failed: 2,
};

export interface NewFunction {
  readonly functionUid: string;
  readonly path: string;
  /**
   * For a function that waits for a slot: what starting it needs (opaque to the store), kept so that
   * a restart can still start it. Taken back with `claimLaunch`.
   */
  readonly pendingLaunch?: string;
  /** Tracing: the W3C traceparent of the function's run, which its next steps continue. */
  readonly traceparent?: string;
}

export interface NewRequest {
  readonly requestUid: string;
  readonly topic: string;
  readonly revision: string;
  readonly payload: Buffer;
  readonly contentType: string;
  readonly createdAt: Date;
  readonly functions: readonly NewFunction[];
  /** Pipelines: the function this request was published on behalf of; absent for a root request. */
  readonly lineage?: Lineage;
  /** Replay: the caller's query values as sent (kept for as long as the request), and what it replays. */
  readonly input?: RequestInput;
}

// Pipelines: replay inputs, idempotency keys, schedule ticks.

/** What a replay needs beyond the request: the query values as the caller sent them. */
export interface RequestInput {
  readonly params: Readonly<Record<string, string>>;
  /** The request this one replays, if it is a replay. */
  readonly replayOf: string | null;
}

/** An idempotency key someone claimed first: what they published, and their answer once they have it. */
export interface IdempotencyClaim {
  readonly fingerprint: string;
  /** The first publish's answer (JSON); null while it is still under way. */
  readonly answer: string | null;
}

/** The claim to publish a schedule's tick: whoever records it first publishes it, under `requestUid`. */
export interface TickClaim {
  readonly topic: string;
  readonly at: Date;
  /** The request UID its publish will take, chosen with the claim so that a retaken tick publishes the same. */
  readonly requestUid: string;
  readonly claimedAt: Date;
}

export interface ScheduleFire {
  readonly at: Date;
  /** The request the tick published. */
  readonly requestUid: string;
}

export interface ApplyResult {
  readonly error: boolean;
  readonly code: string | null;
  readonly message: string;
}

export interface StatusChange {
  readonly status: FunctionStatus;
  readonly attempts?: number;
  readonly startedAt?: Date | null;
  readonly finishedAt?: Date | null;
  readonly reason?: string | null;
}

/** What a function's stored status already says, as far as a new report could add to it. */
export interface KnownStatus {
  readonly status: FunctionStatus;
  readonly attempts: number | undefined;
  readonly started: boolean;
}

/**
 * Whether `change` would leave a status as `known` has it: the same status, no other count of attempts,
 * no start where one is known, no finish and no reason. Watches repeat what is known (a relist, a pod
 * update, a Job counting its ready pod after the pod said it runs): nothing to write, nobody to wake.
 */
export function tellsNothingNew(known: KnownStatus, change: StatusChange): boolean {
  return (
    change.status === known.status &&
    (change.attempts === undefined || change.attempts === known.attempts) &&
    (change.startedAt == null || known.started) &&
    !change.finishedAt &&
    !change.reason
  );
}

export interface StoredResponse {
  readonly body: Buffer;
  readonly contentType: string;
  readonly at: Date;
}

export interface FunctionRecord {
  readonly functionUid: string;
  readonly requestUid: string;
  readonly topic: string;
  readonly path: string;
  readonly index: number;
  readonly apply: ApplyResult | null;
  readonly status: FunctionStatus;
  readonly attempts: number;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly reason: string | null;
  readonly response: StoredResponse | null;
  /** It waits for a slot, and its launch is kept in the store. */
  readonly queued: boolean;
  /** Tracing: the W3C traceparent of its run (absent: kept by an earlier version, or none given). */
  readonly traceparent?: string;
}

export interface RequestRecord {
  readonly requestUid: string;
  readonly topic: string;
  readonly revision: string;
  readonly contentType: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** In apply order. */
  readonly functions: readonly FunctionRecord[];
  /** Pipelines: null for a root request (its own root). */
  readonly lineage: Lineage | null;
}

// ---- Pipelines (src/pipelines): lineage of requests and next steps fired exactly once ----

export interface Lineage {
  readonly parentFunctionUid: string;
  readonly rootRequestUid: string;
  /** How many publishes separate this request from its root: 1 for a child of the root. */
  readonly depth: number;
}

export type FiringKind = "onSuccess" | "onFailure" | "join";

/** The claim to publish one next step: whoever records it first publishes it, under `childRequestUid`. */
export interface FiringClaim {
  /** Unique per next step: `<function uid>:<kind>:<topic>`, or `<request uid>:join:<topic>`. */
  readonly key: string;
  readonly kind: FiringKind;
  readonly sourceRequestUid: string;
  readonly sourceFunctionUid: string;
  /** The topic to publish. */
  readonly topic: string;
  /** The request UID the publish will take, chosen with the claim so a retaken claim publishes the same. */
  readonly childRequestUid: string;
  readonly claimedAt: Date;
}

export type FiringState = "claimed" | "published" | "refused";

export interface FiringRecord extends FiringClaim {
  readonly state: FiringState;
  readonly reason: string | null;
}

export interface PipelineStore {
  /**
   * Records the claim unless a claim with its key exists (any state): true for the one caller that
   * recorded it, false for every other (this replica or another). Throws FUNCTION_NOT_FOUND when its
   * source request is unknown or expired.
   */
  claimFiring(claim: FiringClaim): Promise<boolean>;
  /** The claimed step was published (or refused, with why). Wakes the source request's watchers. */
  settleFiring(key: string, state: Exclude<FiringState, "claimed">, reason?: string | null): Promise<void>;
  /**
   * Takes over a claim still `claimed` since `staleBefore` or earlier (its claimer died or stalled),
   * restamping it `now`: true for the one caller that took it.
   */
  retakeFiring(key: string, staleBefore: Date, now: Date): Promise<boolean>;
  /** Claims still `claimed` since `staleBefore` or earlier, oldest first. */
  listStaleFirings(staleBefore: Date): Promise<FiringRecord[]>;
  /** The next steps fired from a request's functions (and its join). */
  listFirings(requestUid: string): Promise<FiringRecord[]>;
  /** Every live request whose root is `rootRequestUid`, the root included, oldest first. */
  listTree(rootRequestUid: string): Promise<RequestRecord[]>;
  /**
   * Functions whose next steps are owed and not claimed yet, finished at `finishedBefore` or earlier,
   * oldest first. A write that finishes a function (`updateStatus`, or `recordApply` of a failed
   * start) records the debt in the same atomic write, dated by the finish (`finishedAt`, else the
   * write's time): a replica that dies between that write and the claims leaves it here for another.
   */
  listOwedSteps(finishedBefore: Date): Promise<string[]>;
  /** The next steps of `functionUid` are claimed (or it owes none): it leaves `listOwedSteps`. */
  clearOwedSteps(functionUid: string): Promise<void>;
}

/**
 * Which replica's local runtime runs which functions, on a store several replicas share: a replica
 * holds a lease while it lives; the runs of one whose lease expired are taken over (and settled) by
 * exactly one other, so that none stays `pending` or `running` for ever after its replica died.
 */
export interface RunLeases {
  /** Holds (or extends) this replica's lease for `ttlMs`. */
  renew(replicaId: string, ttlMs: number): Promise<void>;
  own(replicaId: string, functionUid: string): Promise<void>;
  release(replicaId: string, functionUid: string): Promise<void>;
  /** Moves the runs of every replica whose lease expired to this one, once; returns their UIDs. */
  takeOverExpired(replicaId: string): Promise<string[]>;
}

export interface Store extends PipelineStore {
  /** Present on a store several replicas share (Redis); absent where one process owns the store. */
  readonly leases?: RunLeases;
  /**
   * Records a request and its functions (status `pending`) before anything runs. A request with a
   * lineage wakes the watchers of its parent's request (a run's tree grew).
   */
  createRequest(request: NewRequest): Promise<void>;
  recordApply(functionUid: string, result: ApplyResult): Promise<void>;
  /** Status only moves forward: a late `running` never overwrites `succeeded`. Unknown UIDs are ignored. */
  updateStatus(functionUid: string, change: StatusChange): Promise<void>;
  /** Throws FUNCTION_NOT_FOUND for a UID that no live request created. Later posts replace earlier ones. */
  putResponse(functionUid: string, response: StoredResponse): Promise<void>;
  getRequest(requestUid: string): Promise<RequestRecord | undefined>;
  getFunction(functionUid: string): Promise<FunctionRecord | undefined>;
  /** The body published with the request a function belongs to (for `{{PAYLOAD_URL}}`). */
  getPayload(functionUid: string): Promise<{ body: Buffer; contentType: string } | undefined>;
  /**
   * Takes the kept launch of a queued function, once: a second call (this replica or another) gets
   * undefined, so a queued function is started by one replica only.
   */
  claimLaunch(functionUid: string): Promise<string | undefined>;
  /** Functions not finished yet, for a runtime to reconcile after a restart. */
  listUnfinished(): Promise<FunctionRecord[]>;
  /** Calls `listener` whenever a function of this request changes. Returns the unsubscribe. */
  watchRequest(requestUid: string, listener: () => void): () => void;
  /** Deletes what expired; returns how many requests went. */
  purgeExpired(now?: Date): Promise<number>;
  // Pipelines: replay inputs, idempotency keys, schedule ticks.
  /** The query values a request was published with (undefined: unknown, expired, or kept by no version). */
  getRequestInput(requestUid: string): Promise<RequestInput | undefined>;
  /**
   * Claims `key` for the expiration time, atomically across replicas: undefined when this call took
   * it, else the claim that was there first.
   */
  claimIdempotencyKey(key: string, fingerprint: string): Promise<IdempotencyClaim | undefined>;
  /** Keeps the claimed key's answer, for repeats to get. */
  completeIdempotencyKey(key: string, answer: string): Promise<void>;
  /** Lets go of a key whose publish recorded nothing, so that a repeat runs it. */
  releaseIdempotencyKey(key: string): Promise<void>;
  /**
   * Claims a schedule's tick, once across replicas: true for the one caller that took it. The tick is
   * unsettled until its fire is recorded or it is skipped: a claimer that died in between leaves it to
   * `listStaleTicks`.
   */
  claimScheduleTick(claim: TickClaim): Promise<boolean>;
  /** What a claimed tick published; settles it. */
  recordScheduleFire(topic: string, fire: ScheduleFire): Promise<void>;
  /** A claimed tick published nothing (skipped, refused): settles it. */
  skipScheduleTick(topic: string, at: Date): Promise<void>;
  /** Ticks claimed at `claimedBefore` or earlier and not settled, oldest first. */
  listStaleTicks(claimedBefore: Date): Promise<TickClaim[]>;
  /** Takes over a stale tick (still unsettled, claimed at `staleBefore` or earlier), restamping it `now`: true for one caller. */
  retakeScheduleTick(topic: string, at: Date, staleBefore: Date, now: Date): Promise<boolean>;
  /** The latest tick that published (kept for the expiration time). */
  lastScheduleFire(topic: string): Promise<ScheduleFire | undefined>;
  /** Answers whether the store is reachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
