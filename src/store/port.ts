/**
 * The Store port: what gitfaas remembers about requests, their functions, statuses and responses.
 * Adapters (sqlite now, redis later) pass the same contract tests in test/store-contract.ts.
 */
export type FunctionStatus = "pending" | "running" | "succeeded" | "failed";

export const FINISHED_STATUSES: ReadonlySet<FunctionStatus> = new Set(["succeeded", "failed"]);

export interface NewFunction {
  readonly functionUid: string;
  readonly path: string;
  /**
   * For a function that waits for a slot: what starting it needs (opaque to the store), kept so that
   * a restart can still start it. Taken back with `claimLaunch`.
   */
  readonly pendingLaunch?: string;
}

export interface NewRequest {
  readonly requestUid: string;
  readonly topic: string;
  readonly revision: string;
  readonly payload: Buffer;
  readonly contentType: string;
  readonly createdAt: Date;
  readonly functions: readonly NewFunction[];
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
}

export interface Store {
  /** Records a request and its functions (status `pending`) before anything runs. */
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
  /** Claims a schedule's tick, once across replicas: true for the one caller that took it. */
  claimScheduleTick(topic: string, at: Date): Promise<boolean>;
  /** What a claimed tick published (a tick skipped is claimed, never recorded). */
  recordScheduleFire(topic: string, fire: ScheduleFire): Promise<void>;
  /** The latest tick that published (kept for the expiration time). */
  lastScheduleFire(topic: string): Promise<ScheduleFire | undefined>;
  /** Answers whether the store is reachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
