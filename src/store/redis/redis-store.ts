import { Redis } from "ioredis";
import { GitfaasError, isGitfaasError } from "../../errors/index.js";
import { requestUidOf } from "../../ids/index.js";
import { storeUnavailable } from "../errors.js";
import type {
  ApplyResult,
  FiringClaim,
  FiringKind,
  FiringRecord,
  FiringState,
  Lineage,
  FunctionRecord,
  FunctionStatus,
  IdempotencyClaim,
  NewRequest,
  RequestInput,
  ScheduleFire,
  RequestRecord,
  RunLeases,
  StatusChange,
  Store,
  StoredResponse,
  TickClaim,
} from "../port.js";
import { RedisRunLeases } from "./run-leases.js";
import {
  CLAIM_FIRING,
  CLAIM_TICK,
  RETAKE_TICK,
  FIRING_FIELDS,
  LIST_FIRINGS,
  LIST_OWED_STEPS,
  LIST_STALE_FIRINGS,
  RETAKE_FIRING,
  SETTLE_FIRING,
  FUNCTION_FIELDS,
  LIST_UNFINISHED,
  PURGE_EXPIRED,
  PUT_RESPONSE,
  READ_FUNCTION,
  READ_PAYLOAD,
  READ_REQUEST,
  RECORD_APPLY,
  REQUEST_HEAD_FIELDS,
  SWEEP_UNFINISHED,
  UPDATE_STATUS,
  optional,
} from "./scripts.js";

export const DEFAULT_REDIS_KEY_PREFIX = "gitfaas:";

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL; never carries the password. */
  readonly url: string;
  readonly password?: string | undefined;
  /** Prepended to every key and channel, so several deployments (or tests) can share one Redis. */
  readonly keyPrefix?: string;
  readonly expirationSeconds: number;
  /** How long a command may take before the store is reported unavailable; default 2 s. */
  readonly commandTimeoutMs?: number;
  /** Connection trouble after start-up (the client reconnects by itself). */
  readonly onConnectionError?: (error: Error, connection: "commands" | "subscriber") => void;
}

/** Expired requests deleted per script call, so one purge never blocks Redis for long. */
const PURGE_BATCH = 500;

/** The readiness probe's key outlives a few probes, then goes by itself. */
const HEARTBEAT_TTL_MS = 60_000;

/** How long a command may take by default before the store is reported unavailable. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** Replies that say Redis cannot take writes now, as opposed to a refused command (a bug). */
const UNAVAILABLE_REPLY =
  /^(OOM|READONLY|MISCONF|LOADING|MASTERDOWN|NOREPLICAS|BUSY|NOAUTH|WRONGPASS|CLUSTERDOWN|TRYAGAIN)\b/;

/**
 * Our faults for Redis's. Anything but a reply is the connection's (closed, timed out, not
 * writeable): the store is unavailable. A transaction refused as a whole (EXECABORT) says why in the
 * errors of the commands it queued.
 */
function translated(error: unknown): unknown {
  if (isGitfaasError(error) || !(error instanceof Error)) return error;
  if (error.name !== "ReplyError") return storeUnavailable("redis does not answer", error);
  const previous = (error as { previousErrors?: Error[] }).previousErrors ?? [];
  const refusals = [error, ...previous].map((reason) => reason.message);
  if (refusals.some((message) => UNAVAILABLE_REPLY.test(message)))
    return storeUnavailable("redis refuses writes", error);
  return error;
}

type Reply = Buffer | null | Reply[];
type Fields<T extends readonly string[]> = Record<T[number], Buffer | null>;

function fieldsOf<T extends readonly string[]>(names: T, values: Reply): Fields<T> {
  const list = Array.isArray(values) ? values : [];
  return Object.fromEntries(
    names.map((name, i) => [name, Buffer.isBuffer(list[i]) ? list[i] : null]),
  ) as Fields<T>;
}

function text(value: Buffer | null): string | null {
  return value === null ? null : value.toString("utf8");
}

function int(value: Buffer | null): number | null {
  return value === null ? null : Number(value.toString("latin1"));
}

function date(value: Buffer | null): Date | null {
  const ms = int(value);
  return ms === null ? null : new Date(ms);
}

type RequestHead = Fields<typeof REQUEST_HEAD_FIELDS>;

function isLive(head: RequestHead, now = Date.now()): boolean {
  return (int(head.expiresAt) ?? 0) > now;
}

function toFunctionRecord(functionUid: string, topic: string, reply: Reply): FunctionRecord {
  const fn = fieldsOf(FUNCTION_FIELDS, reply);
  return {
    functionUid,
    requestUid: text(fn.requestUid) ?? "",
    topic,
    path: text(fn.path) ?? "",
    index: int(fn.index) ?? 0,
    apply:
      fn.applyError === null
        ? null
        : {
            error: text(fn.applyError) === "1",
            code: text(fn.applyCode),
            message: text(fn.applyMessage) ?? "",
          },
    status: (text(fn.status) ?? "pending") as FunctionStatus,
    attempts: int(fn.attempts) ?? 0,
    startedAt: date(fn.startedAt),
    finishedAt: date(fn.finishedAt),
    reason: text(fn.reason),
    response:
      fn.response === null
        ? null
        : {
            body: fn.response,
            contentType: text(fn.responseType) ?? "text/plain",
            at: date(fn.responseAt) ?? new Date(0),
          },
    queued: text(fn.queued) === "1",
    ...(fn.traceparent === null ? {} : { traceparent: fn.traceparent.toString("utf8") }),
  };
}

function lineageOf(head: RequestHead): Lineage | null {
  const parentFunctionUid = text(head.parentFunctionUid);
  const rootRequestUid = text(head.rootRequestUid);
  if (parentFunctionUid === null || rootRequestUid === null) return null;
  return { parentFunctionUid, rootRequestUid, depth: int(head.depth) ?? 1 };
}

function toFiringRecord(reply: Reply): FiringRecord | undefined {
  if (!Array.isArray(reply) || !Buffer.isBuffer(reply[0])) return undefined;
  const fields = fieldsOf(FIRING_FIELDS, reply[1] ?? null);
  return {
    key: reply[0].toString("utf8"),
    kind: (text(fields.kind) ?? "onSuccess") as FiringKind,
    sourceRequestUid: text(fields.sourceRequestUid) ?? "",
    sourceFunctionUid: text(fields.sourceFunctionUid) ?? "",
    topic: text(fields.topic) ?? "",
    childRequestUid: text(fields.childRequestUid) ?? "",
    claimedAt: date(fields.claimedAt) ?? new Date(0),
    state: (text(fields.state) ?? "claimed") as FiringState,
    reason: text(fields.reason),
  };
}

function toFiringRecords(reply: Reply): FiringRecord[] {
  return (Array.isArray(reply) ? reply : []).map(toFiringRecord).filter((found) => found !== undefined);
}

/** A function read with its request's head: [uid, function fields, request head]. */
function fromFunctionReply(
  reply: Reply,
  now = Date.now(),
): (FunctionRecord & { createdAt: number }) | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [uid, fields, headReply] = reply;
  const head = fieldsOf(REQUEST_HEAD_FIELDS, headReply ?? null);
  if (!Buffer.isBuffer(uid) || !isLive(head, now)) return undefined;
  return {
    ...toFunctionRecord(uid.toString("utf8"), text(head.topic) ?? "", fields ?? null),
    createdAt: int(head.createdAt) ?? 0,
  };
}

/** Replay inputs as fields of the request's hash. */
function inputFields(input: RequestInput | undefined): Record<string, string> {
  if (!input) return {};
  return { inputParams: JSON.stringify(input.params), inputReplayOf: input.replayOf ?? "" };
}

/**
 * A store in Redis, shared by every gitfaas replica pointing at it: each replica sees the others'
 * requests and answers, and a caller waiting on one replica wakes when another stores the answer
 * (pub/sub on a dedicated subscriber connection). Writes that must not race run as Lua scripts.
 * Every key of a request carries its expiry as a TTL, so Redis drops what expires even if no
 * replica purges.
 */
export class RedisStore implements Store {
  private readonly prefix: string;
  readonly leases: RunLeases;
  private readonly channelPrefix: string;
  private readonly expirationMs: number;
  private readonly watchers = new Map<string, Set<() => void>>();
  private closing = false;

  private constructor(
    private readonly commands: Redis,
    private readonly subscriber: Redis,
    options: RedisStoreOptions,
  ) {
    this.prefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    this.leases = new RedisRunLeases(commands, this.prefix, (work) => this.guarded(work));
    this.channelPrefix = `${this.prefix}changes:`;
    this.expirationMs = options.expirationSeconds * 1000;
    subscriber.on("messageBuffer", (channel: Buffer) => {
      const name = channel.toString("utf8");
      if (name.startsWith(this.channelPrefix)) this.wake(name.slice(this.channelPrefix.length));
    });
    // Changes published while the subscriber was reconnecting are lost: every watcher re-reads.
    let connectedOnce = false;
    subscriber.on("ready", () => {
      if (connectedOnce) for (const requestUid of this.watchers.keys()) this.wake(requestUid);
      connectedOnce = true;
    });
  }

  /** Connects both connections (commands, subscriber); fails if Redis is unreachable or refuses the password. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    let started = false;
    // ioredis rejects a failed first connection with a bare "Connection is closed": the reason is
    // in the error event before it.
    let firstError: Error | undefined;
    const open = (role: "commands" | "subscriber"): Redis => {
      const client = new Redis(options.url, {
        password: options.password,
        lazyConnect: true,
        connectionName: `gitfaas-${role}`,
        // A command fails within a bounded time, never hangs: callers get STORE_UNAVAILABLE, /readyz 503.
        commandTimeout: options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
        // A command refused while disconnected must not run later all the same (a publish answered 503
        // would be recorded after all): fail at once rather than queue, and never send it again.
        // The subscriber keeps its queue: a subscription made late is harmless.
        ...(role === "commands" ? { enableOfflineQueue: false, autoResendUnfulfilledCommands: false } : {}),
      });
      client.on("error", (error: Error) => {
        if (started) options.onConnectionError?.(error, role);
        else firstError ??= error;
      });
      return client;
    };
    const commands = open("commands");
    const subscriber = open("subscriber");
    try {
      await Promise.all([commands.connect(), subscriber.connect()]);
      // Without a password a connection still opens: the first command is what gets refused.
      await Promise.all([commands.ping(), subscriber.ping()]);
    } catch (error) {
      commands.disconnect();
      subscriber.disconnect();
      const reason = (firstError ?? (error as Error)).message;
      throw new Error(`cannot use the redis store: ${reason}`, { cause: error });
    }
    started = true;
    return new RedisStore(commands, subscriber, options);
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  private wake(requestUid: string): void {
    for (const listener of [...(this.watchers.get(requestUid) ?? [])]) listener();
  }

  async createRequest(request: NewRequest): Promise<void> {
    return this.guarded(async () => {
      const createdAt = request.createdAt.getTime();
      const expiresAt = createdAt + this.expirationMs;
      const requestKey = this.key("request", request.requestUid);
      const functionsKey = `${requestKey}:functions`;
      const unfinished = this.key("unfinished");
      const tx = this.commands.multi();
      tx.hset(requestKey, {
        topic: request.topic,
        revision: request.revision,
        contentType: request.contentType,
        payload: request.payload,
        createdAt: String(createdAt),
        expiresAt: String(expiresAt),
        ...inputFields(request.input),
      });
      tx.pexpireat(requestKey, expiresAt);
      if (request.lineage) this.recordLineage(tx, request.requestUid, request.lineage, expiresAt);
      if (request.functions.length > 0) {
        tx.rpush(functionsKey, ...request.functions.map((fn) => fn.functionUid));
        tx.pexpireat(functionsKey, expiresAt);
      }
      request.functions.forEach((fn, index) => {
        const functionKey = this.key("function", fn.functionUid);
        tx.hset(functionKey, {
          requestUid: request.requestUid,
          index: String(index),
          path: fn.path,
          status: "pending",
          attempts: "0",
          ...(fn.pendingLaunch === undefined ? {} : { queued: "1", launch: fn.pendingLaunch }),
          ...(fn.traceparent === undefined ? {} : { traceparent: fn.traceparent }),
        });
        tx.pexpireat(functionKey, expiresAt);
        tx.zadd(unfinished, createdAt, fn.functionUid);
      });
      tx.zadd(this.key("expiries"), expiresAt, request.requestUid);
      const results = await tx.exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
      if (!results) throw new Error("redis store: the request was not recorded (transaction discarded)");
    });
  }

  /** Pipelines: the child joins its root's tree (kept as long as its newest member) and wakes its parent's watchers. */
  private recordLineage(
    tx: ReturnType<Redis["multi"]>,
    requestUid: string,
    lineage: Lineage,
    expiresAt: number,
  ): void {
    const requestKey = this.key("request", requestUid);
    tx.hset(requestKey, {
      parentFunctionUid: lineage.parentFunctionUid,
      rootRequestUid: lineage.rootRequestUid,
      depth: String(lineage.depth),
    });
    const treeKey = this.key("tree", lineage.rootRequestUid);
    tx.sadd(treeKey, requestUid);
    tx.pexpireat(treeKey, expiresAt, "GT");
    tx.pexpireat(treeKey, expiresAt, "NX");
    const parentRequestUid = requestUidOf(lineage.parentFunctionUid);
    if (parentRequestUid) tx.publish(this.channelPrefix + parentRequestUid, parentRequestUid);
  }

  async claimLaunch(functionUid: string): Promise<string | undefined> {
    return this.guarded(async () => {
      const key = this.key("function", functionUid);
      // MULTI runs both at once: of two replicas claiming, only the first reads the launch.
      const results = await this.commands.multi().hget(key, "launch").hdel(key, "launch", "queued").exec();
      const launch = results?.[0]?.[1];
      return typeof launch === "string" ? launch : undefined;
    });
  }

  async recordApply(functionUid: string, result: ApplyResult): Promise<void> {
    return this.guarded(async () => {
      await RECORD_APPLY.run(
        this.commands,
        [this.key("function", functionUid), this.key("unfinished"), this.key("steps-owed")],
        [
          functionUid,
          result.error ? "1" : "0",
          optional(result.code),
          result.message,
          String(Date.now()),
          this.channelPrefix,
        ],
      );
    });
  }

  async updateStatus(functionUid: string, change: StatusChange): Promise<void> {
    return this.guarded(async () => {
      await UPDATE_STATUS.run(
        this.commands,
        [this.key("function", functionUid), this.key("unfinished"), this.key("steps-owed")],
        [
          functionUid,
          change.status,
          optional(change.attempts),
          optional(change.startedAt?.getTime()),
          optional(change.finishedAt?.getTime()),
          optional(change.reason),
          this.channelPrefix,
          String(Date.now()),
        ],
      );
    });
  }

  async putResponse(functionUid: string, response: StoredResponse): Promise<void> {
    return this.guarded(async () => {
      const stored = await PUT_RESPONSE.run(
        this.commands,
        [this.key("function", functionUid), this.key("expiries")],
        [
          response.body,
          response.contentType,
          String(response.at.getTime()),
          String(Date.now()),
          String(this.expirationMs),
          this.prefix,
          this.channelPrefix,
        ],
      );
      if (stored !== 1)
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no function '${functionUid}' is waiting for a response`,
        );
    });
  }

  async getRequest(requestUid: string): Promise<RequestRecord | undefined> {
    return this.guarded(async () => {
      const requestKey = this.key("request", requestUid);
      const reply = (await READ_REQUEST.run(
        this.commands,
        [requestKey, `${requestKey}:functions`],
        [this.prefix],
      )) as Reply;
      if (!Array.isArray(reply)) return undefined;
      const [headReply, uids, functions] = reply;
      const head = fieldsOf(REQUEST_HEAD_FIELDS, headReply ?? null);
      if (!isLive(head)) return undefined;
      const topic = text(head.topic) ?? "";
      const records: FunctionRecord[] = [];
      (Array.isArray(uids) ? uids : []).forEach((uid, i) => {
        const fields = Array.isArray(functions) ? functions[i] : undefined;
        // A function hash missing its request UID was never written or is gone: skip it.
        if (!Buffer.isBuffer(uid) || !Array.isArray(fields) || fields[0] === null) return;
        records.push(toFunctionRecord(uid.toString("utf8"), topic, fields));
      });
      return {
        requestUid,
        topic,
        revision: text(head.revision) ?? "",
        contentType: text(head.contentType) ?? "",
        createdAt: date(head.createdAt) ?? new Date(0),
        expiresAt: date(head.expiresAt) ?? new Date(0),
        functions: records,
        lineage: lineageOf(head),
      };
    });
  }

  async getFunction(functionUid: string): Promise<FunctionRecord | undefined> {
    return this.guarded(async () => {
      const reply = (await READ_FUNCTION.run(this.commands, [], [this.prefix, functionUid])) as Reply;
      const found = fromFunctionReply(reply);
      if (!found) return undefined;
      const { createdAt: _createdAt, ...record } = found;
      return record;
    });
  }

  async getPayload(functionUid: string): Promise<{ body: Buffer; contentType: string } | undefined> {
    return this.guarded(async () => {
      const reply = (await READ_PAYLOAD.run(
        this.commands,
        [this.key("function", functionUid)],
        [this.prefix],
      )) as Reply;
      if (!Array.isArray(reply)) return undefined;
      const [payload, contentType, expiresAt] = reply;
      if (
        !Buffer.isBuffer(payload) ||
        (int(Buffer.isBuffer(expiresAt) ? expiresAt : null) ?? 0) <= Date.now()
      )
        return undefined;
      return { body: payload, contentType: text(Buffer.isBuffer(contentType) ? contentType : null) ?? "" };
    });
  }

  async listUnfinished(): Promise<FunctionRecord[]> {
    return this.guarded(async () => {
      const reply = (await LIST_UNFINISHED.run(
        this.commands,
        [this.key("unfinished")],
        [this.prefix],
      )) as Reply;
      const now = Date.now();
      const found = (Array.isArray(reply) ? reply : [])
        .map((item) => fromFunctionReply(item, now))
        .filter((fn) => fn !== undefined)
        .sort((a, b) => a.createdAt - b.createdAt || a.index - b.index);
      return found.map(({ createdAt: _createdAt, ...record }) => record);
    });
  }

  watchRequest(requestUid: string, listener: () => void): () => void {
    let listeners = this.watchers.get(requestUid);
    if (!listeners) {
      listeners = new Set();
      this.watchers.set(requestUid, listeners);
      const channel = this.channelPrefix + requestUid;
      // A change stored before the subscription is active publishes to nobody: once it is active,
      // wake the watchers so they read again and cannot miss it.
      this.subscriber.subscribe(channel).then(
        () => this.wake(requestUid),
        () => this.wake(requestUid),
      );
    }
    const watching = listeners;
    watching.add(listener);
    return () => {
      if (!watching.delete(listener) || watching.size > 0) return;
      if (this.watchers.get(requestUid) === watching) this.watchers.delete(requestUid);
      if (!this.closing) this.subscriber.unsubscribe(this.channelPrefix + requestUid).catch(() => undefined);
    };
  }

  async purgeExpired(now: Date = new Date()): Promise<number> {
    return this.guarded(async () => {
      let purged = 0;
      for (;;) {
        const batch = Number(
          await PURGE_EXPIRED.run(
            this.commands,
            [this.key("expiries"), this.key("unfinished"), this.key("steps-owed")],
            [String(now.getTime()), this.prefix, String(PURGE_BATCH)],
          ),
        );
        purged += batch;
        if (batch < PURGE_BATCH) break;
      }
      await SWEEP_UNFINISHED.run(this.commands, [this.key("unfinished")], [this.prefix]);
      return purged;
    });
  }

  // Pipelines: replay inputs (fields of the request's hash, so they share its expiry), idempotency
  // keys and schedule ticks (keys of their own, each with the expiration time as its TTL).

  async getRequestInput(requestUid: string): Promise<RequestInput | undefined> {
    return this.guarded(async () => {
      const [params, replayOf, expiresAt] = await this.commands.hmget(
        this.key("request", requestUid),
        "inputParams",
        "inputReplayOf",
        "expiresAt",
      );
      if (params == null || Number(expiresAt ?? 0) <= Date.now()) return undefined;
      return { params: JSON.parse(params) as Record<string, string>, replayOf: replayOf || null };
    });
  }

  async claimIdempotencyKey(key: string, fingerprint: string): Promise<IdempotencyClaim | undefined> {
    return this.guarded(async () => {
      const redisKey = this.key("idempotency", key);
      const first: IdempotencyClaim = { fingerprint, answer: null };
      const taken = await this.commands.set(redisKey, JSON.stringify(first), "PX", this.expirationMs, "NX");
      if (taken === "OK") return undefined;
      const held = await this.commands.get(redisKey);
      // Released or expired between the two commands: the caller may take it again by repeating.
      return held === null ? { fingerprint, answer: null } : (JSON.parse(held) as IdempotencyClaim);
    });
  }

  async completeIdempotencyKey(key: string, answer: string): Promise<void> {
    return this.guarded(async () => {
      const redisKey = this.key("idempotency", key);
      const held = await this.commands.get(redisKey);
      if (held === null) return;
      const { fingerprint } = JSON.parse(held) as IdempotencyClaim;
      await this.commands.set(redisKey, JSON.stringify({ fingerprint, answer }), "KEEPTTL", "XX");
    });
  }

  async releaseIdempotencyKey(key: string): Promise<void> {
    return this.guarded(async () => {
      await this.commands.del(this.key("idempotency", key));
    });
  }

  /** Where a tick waits among the unsettled: its time first (digits), so a topic's colons do not matter. */
  private tickMember(topic: string, at: Date): string {
    return `${at.getTime()}:${topic}`;
  }

  async claimScheduleTick(claim: TickClaim): Promise<boolean> {
    return this.guarded(async () => {
      const taken = await CLAIM_TICK.run(
        this.commands,
        [this.key("schedule", claim.topic, String(claim.at.getTime())), this.key("ticks-unsettled")],
        [
          claim.requestUid,
          String(this.expirationMs),
          String(claim.claimedAt.getTime()),
          this.tickMember(claim.topic, claim.at),
        ],
      );
      return Number(taken) === 1;
    });
  }

  async recordScheduleFire(topic: string, fire: ScheduleFire): Promise<void> {
    return this.guarded(async () => {
      const last = { at: fire.at.getTime(), requestUid: fire.requestUid };
      const results = await this.commands
        .multi()
        .set(this.key("schedule-last", topic), JSON.stringify(last), "PX", this.expirationMs)
        .zrem(this.key("ticks-unsettled"), this.tickMember(topic, fire.at))
        .exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
    });
  }

  async skipScheduleTick(topic: string, at: Date): Promise<void> {
    return this.guarded(async () => {
      await this.commands.zrem(this.key("ticks-unsettled"), this.tickMember(topic, at));
    });
  }

  async listStaleTicks(claimedBefore: Date): Promise<TickClaim[]> {
    return this.guarded(async () => {
      const unsettled = this.key("ticks-unsettled");
      const found = await this.commands.zrangebyscore(
        unsettled,
        "-inf",
        claimedBefore.getTime(),
        "WITHSCORES",
      );
      const stale: TickClaim[] = [];
      for (let i = 0; i + 1 < found.length; i += 2) {
        const member = found[i] ?? "";
        const split = member.indexOf(":");
        const at = Number(member.slice(0, split));
        const topic = member.slice(split + 1);
        const requestUid = await this.commands.get(this.key("schedule", topic, String(at)));
        // Expired with the expiration time: nothing to publish any more.
        if (requestUid === null) await this.commands.zrem(unsettled, member);
        else stale.push({ topic, at: new Date(at), requestUid, claimedAt: new Date(Number(found[i + 1])) });
      }
      return stale;
    });
  }

  async retakeScheduleTick(topic: string, at: Date, staleBefore: Date, now: Date): Promise<boolean> {
    return this.guarded(async () => {
      const taken = await RETAKE_TICK.run(
        this.commands,
        [this.key("ticks-unsettled")],
        [this.tickMember(topic, at), String(staleBefore.getTime()), String(now.getTime())],
      );
      return Number(taken) === 1;
    });
  }

  // ---- Pipelines ----

  async claimFiring(claim: FiringClaim): Promise<boolean> {
    return this.guarded(async () => {
      const claimed = Number(
        await CLAIM_FIRING.run(
          this.commands,
          [
            this.key("firing", claim.key),
            this.key("request", claim.sourceRequestUid),
            this.key("firings", claim.sourceRequestUid),
            this.key("firings-claimed"),
          ],
          [
            claim.key,
            claim.kind,
            claim.sourceFunctionUid,
            claim.topic,
            claim.childRequestUid,
            String(claim.claimedAt.getTime()),
            String(Date.now()),
            claim.sourceRequestUid,
          ],
        ),
      );
      if (claimed < 0)
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no request '${claim.sourceRequestUid}' (unknown or expired)`,
        );
      return claimed === 1;
    });
  }

  async settleFiring(
    key: string,
    state: Exclude<FiringState, "claimed">,
    reason?: string | null,
  ): Promise<void> {
    return this.guarded(async () => {
      await SETTLE_FIRING.run(
        this.commands,
        [this.key("firing", key), this.key("firings-claimed")],
        [key, state, optional(reason), this.channelPrefix],
      );
    });
  }

  async lastScheduleFire(topic: string): Promise<ScheduleFire | undefined> {
    return this.guarded(async () => {
      const held = await this.commands.get(this.key("schedule-last", topic));
      if (held === null) return undefined;
      const last = JSON.parse(held) as { at: number; requestUid: string };
      return { at: new Date(last.at), requestUid: last.requestUid };
    });
  }

  async retakeFiring(key: string, staleBefore: Date, now: Date): Promise<boolean> {
    return this.guarded(async () => {
      const taken = await RETAKE_FIRING.run(
        this.commands,
        [this.key("firing", key), this.key("firings-claimed")],
        [key, String(staleBefore.getTime()), String(now.getTime())],
      );
      return Number(taken) === 1;
    });
  }

  async listStaleFirings(staleBefore: Date): Promise<FiringRecord[]> {
    return this.guarded(async () => {
      const reply = (await LIST_STALE_FIRINGS.run(
        this.commands,
        [this.key("firings-claimed")],
        [this.prefix, String(staleBefore.getTime())],
      )) as Reply;
      return toFiringRecords(reply);
    });
  }

  async listFirings(requestUid: string): Promise<FiringRecord[]> {
    return this.guarded(async () => {
      const reply = (await LIST_FIRINGS.run(
        this.commands,
        [this.key("firings", requestUid)],
        [this.prefix],
      )) as Reply;
      return toFiringRecords(reply).sort(
        (a, b) => a.claimedAt.getTime() - b.claimedAt.getTime() || a.key.localeCompare(b.key),
      );
    });
  }

  async listTree(rootRequestUid: string): Promise<RequestRecord[]> {
    const members = await this.guarded(() => this.commands.smembers(this.key("tree", rootRequestUid)));
    const found = await Promise.all([rootRequestUid, ...members].map((uid) => this.getRequest(uid)));
    return found
      .filter((request) => request !== undefined)
      .sort(
        (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.requestUid.localeCompare(b.requestUid),
      );
  }

  async listOwedSteps(finishedBefore: Date): Promise<string[]> {
    return this.guarded(async () => {
      const reply = (await LIST_OWED_STEPS.run(
        this.commands,
        [this.key("steps-owed")],
        [this.prefix, String(finishedBefore.getTime())],
      )) as Reply;
      return (Array.isArray(reply) ? reply : []).filter(Buffer.isBuffer).map((uid) => uid.toString("utf8"));
    });
  }

  async clearOwedSteps(functionUid: string): Promise<void> {
    return this.guarded(async () => {
      await this.commands.zrem(this.key("steps-owed"), functionUid);
    });
  }

  /**
   * Ready means a write is taken (Redis answers PING while refusing writes: out of memory, a replica,
   * a failed snapshot), so the probe writes a key that expires by itself; and the subscriber answers.
   */
  async ping(): Promise<void> {
    return this.guarded(async () => {
      await Promise.all([
        this.commands.set(this.key("heartbeat"), String(Date.now()), "PX", HEARTBEAT_TTL_MS),
        this.subscriber.ping(),
      ]);
    });
  }

  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw translated(error);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.watchers.clear();
    await Promise.all(
      [this.commands, this.subscriber].map((client) =>
        client.quit().then(
          () => undefined,
          () => client.disconnect(),
        ),
      ),
    );
  }
}
