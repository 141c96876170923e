import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/**
 * Key layout under the prefix P (every key of a request carries the request's expiry as its TTL):
 *   P request:<requestUid>            hash: topic revision contentType payload createdAt expiresAt
 *   P request:<requestUid>:functions  list of function UIDs in apply order
 *   P function:<functionUid>          hash: FUNCTION_FIELDS
 *   P unfinished                      sorted set of pending/running function UIDs, scored by createdAt
 *   P expiries                        sorted set of request UIDs, scored by expiresAt (for purgeExpired)
 * Pipelines (lineage in the request hash's parentFunctionUid, rootRequestUid, depth):
 *   P tree:<rootRequestUid>           set of the request UIDs descending from that root (not the root)
 *   P firing:<firingKey>              hash: FIRING_FIELDS (TTL: its source request's)
 *   P firings:<requestUid>            set of the firing keys whose source is that request
 *   P firings-claimed                 sorted set of firing keys still `claimed`, scored by claimedAt
 *   P schedule:<topic>:<at ms>        the request UID a claimed tick publishes (TTL: the expiration time)
 *   P ticks-unsettled                 sorted set of "<at ms>:<topic>" claimed and neither recorded nor
 *                                     skipped yet, scored by claimedAt
 *   P steps-owed                      sorted set of finished function UIDs whose next steps are not
 *                                     claimed yet, scored by their finish (written with the finish)
 * Changes are published on channel P changes:<requestUid>.
 *
 * Scripts derive some keys from the prefix (the functions of a request are only known inside the
 * script), so this layout targets one Redis server or a primary with replicas, not Redis Cluster.
 */
export const FUNCTION_FIELDS = [
  "requestUid",
  "index",
  "path",
  "status",
  "attempts",
  "startedAt",
  "finishedAt",
  "reason",
  "applyError",
  "applyCode",
  "applyMessage",
  "response",
  "responseType",
  "responseAt",
  "queued",
  // Tracing: the trace context of the function's run, for its next steps to continue.
  "traceparent",
] as const;

export const REQUEST_HEAD_FIELDS = [
  "topic",
  "revision",
  "contentType",
  "createdAt",
  "expiresAt",
  // pipelines: lineage
  "parentFunctionUid",
  "rootRequestUid",
  "depth",
] as const;

const quoted = (fields: readonly string[]): string => fields.map((field) => `'${field}'`).join(", ");

/**
 * Optional script arguments travel as "" (absent) or "=" + value, so an empty string stays distinct
 * from "leave unchanged". `optional_value` undoes it.
 */
export function optional(value: string | number | null | undefined): string {
  return value === null || value === undefined ? "" : `=${value}`;
}

const LUA_OPTIONAL = `
local function optional_value(arg)
  if arg == '' then return nil end
  return string.sub(arg, 2)
end
`;

export class LuaScript {
  private readonly sha: string;

  constructor(
    readonly name: string,
    private readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** EVALSHA, loading the script with EVAL when the server does not know it yet (restart, SCRIPT FLUSH). */
  async run(client: Redis, keys: readonly string[], args: readonly (string | Buffer)[]): Promise<unknown> {
    try {
      return await client.callBuffer("EVALSHA", this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.callBuffer("EVAL", this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * KEYS: function, unfinished, steps owed. ARGV: functionUid, error "1"|"0", code (optional), message, now,
 * channel prefix. A failed start finishes the function: its next steps are owed from now.
 */
export const RECORD_APPLY = new LuaScript(
  "recordApply",
  `${LUA_OPTIONAL}
local request_uid = redis.call('HGET', KEYS[1], 'requestUid')
if not request_uid then return 0 end
redis.call('HSET', KEYS[1], 'applyError', ARGV[2], 'applyMessage', ARGV[4])
local code = optional_value(ARGV[3])
if code then redis.call('HSET', KEYS[1], 'applyCode', code) else redis.call('HDEL', KEYS[1], 'applyCode') end
if ARGV[2] == '1' then
  -- A function that could not be started is finished: waiting callers must not wait for it.
  local status = redis.call('HGET', KEYS[1], 'status')
  if status == 'pending' or status == 'running' then
    redis.call('HSET', KEYS[1], 'status', 'failed', 'finishedAt', ARGV[5], 'reason', ARGV[4])
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
  end
end
redis.call('PUBLISH', ARGV[6] .. request_uid, request_uid)
return 1
`,
);

/**
 * KEYS: function, unfinished, steps owed. ARGV: functionUid, status, attempts, startedAt, finishedAt,
 * reason (the last four optional), channel prefix, now. Status only moves forward and a finished one
 * never changes. The finish and the debt of its next steps are one write: no replica can die between.
 */
export const UPDATE_STATUS = new LuaScript(
  "updateStatus",
  `${LUA_OPTIONAL}
local rank = { pending = 0, running = 1, succeeded = 2, failed = 2 }
local current = redis.call('HMGET', KEYS[1], 'requestUid', 'status')
local request_uid, status = current[1], current[2]
if not request_uid then return 0 end
local from, to = rank[status], rank[ARGV[2]]
if from == 2 or to < from then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
local attempts, started, finished, reason =
  optional_value(ARGV[3]), optional_value(ARGV[4]), optional_value(ARGV[5]), optional_value(ARGV[6])
if attempts then redis.call('HSET', KEYS[1], 'attempts', attempts) end
if started then redis.call('HSETNX', KEYS[1], 'startedAt', started) end
if finished then redis.call('HSET', KEYS[1], 'finishedAt', finished) end
if reason then redis.call('HSET', KEYS[1], 'reason', reason) end
if to == 2 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], finished or ARGV[8], ARGV[1])
end
redis.call('PUBLISH', ARGV[7] .. request_uid, request_uid)
return 1
`,
);

/**
 * KEYS: function, expiries. ARGV: body, contentType, at, now, expirationMs, key prefix, channel prefix.
 * Returns 0 when no live request owns the function. The answer extends the request's life to
 * max(current expiry, now + expiration) on every key of the request.
 */
export const PUT_RESPONSE = new LuaScript(
  "putResponse",
  `
local request_uid = redis.call('HGET', KEYS[1], 'requestUid')
if not request_uid then return 0 end
local request_key = ARGV[6] .. 'request:' .. request_uid
local expires_at = tonumber(redis.call('HGET', request_key, 'expiresAt'))
local now = tonumber(ARGV[4])
if not expires_at or expires_at <= now then return 0 end
redis.call('HSET', KEYS[1], 'response', ARGV[1], 'responseType', ARGV[2], 'responseAt', ARGV[3])
local extended = now + tonumber(ARGV[5])
if extended > expires_at then
  local at = string.format('%d', extended)
  local functions_key = request_key .. ':functions'
  for _, uid in ipairs(redis.call('LRANGE', functions_key, 0, -1)) do
    redis.call('PEXPIREAT', ARGV[6] .. 'function:' .. uid, at)
  end
  redis.call('HSET', request_key, 'expiresAt', at)
  redis.call('PEXPIREAT', request_key, at)
  redis.call('PEXPIREAT', functions_key, at)
  redis.call('ZADD', KEYS[2], at, request_uid)
end
redis.call('PUBLISH', ARGV[7] .. request_uid, request_uid)
return 1
`,
);

/** KEYS: request, request functions. ARGV: key prefix. Returns nil or {head, uids, function fields[]}. */
export const READ_REQUEST = new LuaScript(
  "readRequest",
  `
local head = redis.call('HMGET', KEYS[1], ${quoted(REQUEST_HEAD_FIELDS)})
if not head[1] then return false end
local uids = redis.call('LRANGE', KEYS[2], 0, -1)
local functions = {}
for i, uid in ipairs(uids) do
  functions[i] = redis.call('HMGET', ARGV[1] .. 'function:' .. uid, ${quoted(FUNCTION_FIELDS)})
end
return { head, uids, functions }
`,
);

const LUA_READ_FUNCTION = `
local function read_function(prefix, uid)
  local fields = redis.call('HMGET', prefix .. 'function:' .. uid, ${quoted(FUNCTION_FIELDS)})
  if not fields[1] then return nil end
  local head = redis.call('HMGET', prefix .. 'request:' .. fields[1], ${quoted(REQUEST_HEAD_FIELDS)})
  if not head[1] then return nil end
  return { uid, fields, head }
end
`;

/** ARGV: key prefix, function UID. Returns nil or {uid, function fields, request head}. */
export const READ_FUNCTION = new LuaScript(
  "readFunction",
  `${LUA_READ_FUNCTION}
return read_function(ARGV[1], ARGV[2]) or false
`,
);

/**
 * KEYS: unfinished. ARGV: key prefix. Reads the unfinished index only (never the keyspace); members
 * whose function expired with its request are dropped from the index on the way.
 */
export const LIST_UNFINISHED = new LuaScript(
  "listUnfinished",
  `${LUA_READ_FUNCTION}
local found = {}
for _, uid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fn = read_function(ARGV[1], uid)
  if fn then found[#found + 1] = fn else redis.call('ZREM', KEYS[1], uid) end
end
return found
`,
);

/** KEYS: function. ARGV: key prefix. Returns nil or {payload, contentType, expiresAt}. */
export const READ_PAYLOAD = new LuaScript(
  "readPayload",
  `
local request_uid = redis.call('HGET', KEYS[1], 'requestUid')
if not request_uid then return false end
local found = redis.call('HMGET', ARGV[1] .. 'request:' .. request_uid, 'payload', 'contentType', 'expiresAt')
if not found[1] then return false end
return found
`,
);

/**
 * KEYS: expiries, unfinished, steps owed. ARGV: now, key prefix, batch size. Deletes at most one batch of requests
 * whose expiry is at or before now (Redis may already have dropped their keys by TTL); returns how many.
 */
export const PURGE_EXPIRED = new LuaScript(
  "purgeExpired",
  `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, request_uid in ipairs(expired) do
  local request_key = ARGV[2] .. 'request:' .. request_uid
  local functions_key = request_key .. ':functions'
  for _, uid in ipairs(redis.call('LRANGE', functions_key, 0, -1)) do
    redis.call('DEL', ARGV[2] .. 'function:' .. uid)
    redis.call('ZREM', KEYS[2], uid)
    redis.call('ZREM', KEYS[3], uid)
  end
  redis.call('DEL', request_key, functions_key)
  redis.call('ZREM', KEYS[1], request_uid)
end
return #expired
`,
);

/** KEYS: unfinished. ARGV: key prefix. Drops index members whose function key expired by TTL. */
export const SWEEP_UNFINISHED = new LuaScript(
  "sweepUnfinished",
  `
local gone = 0
for _, uid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. 'function:' .. uid) == 0 then
    redis.call('ZREM', KEYS[1], uid)
    gone = gone + 1
  end
end
return gone
`,
);

// ---- Pipelines ----

export const FIRING_FIELDS = [
  "kind",
  "sourceRequestUid",
  "sourceFunctionUid",
  "topic",
  "childRequestUid",
  "claimedAt",
  "state",
  "reason",
] as const;

/**
 * KEYS: firing, source request, firings of the request, claimed index. ARGV: key, kind, source function,
 * topic, child request, claimedAt, now, source request. Returns 1 for the one claim recorded, 0 when the key is taken,
 * -1 when the source request is unknown or expired. The claim lives as long as its source request.
 */
export const CLAIM_FIRING = new LuaScript(
  "claimFiring",
  `
local expires_at = tonumber(redis.call('HGET', KEYS[2], 'expiresAt'))
if not expires_at or expires_at <= tonumber(ARGV[7]) then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local at = string.format('%d', expires_at)
redis.call('HSET', KEYS[1], 'kind', ARGV[2], 'sourceRequestUid', ARGV[8],
  'sourceFunctionUid', ARGV[3], 'topic', ARGV[4], 'childRequestUid', ARGV[5], 'claimedAt', ARGV[6], 'state', 'claimed')
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIREAT', KEYS[3], at, 'GT')
redis.call('PEXPIREAT', KEYS[3], at, 'NX')
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
return 1
`,
);

/** KEYS: firing, claimed index. ARGV: key, state, reason (optional), channel prefix. */
export const SETTLE_FIRING = new LuaScript(
  "settleFiring",
  `${LUA_OPTIONAL}
local source = redis.call('HGET', KEYS[1], 'sourceRequestUid')
if not source then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
local reason = optional_value(ARGV[3])
if reason then redis.call('HSET', KEYS[1], 'reason', reason) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[4] .. source, source)
return 1
`,
);

/** KEYS: firing, claimed index. ARGV: key, staleBefore, now. Returns 1 for the one caller that took it. */
export const RETAKE_FIRING = new LuaScript(
  "retakeFiring",
  `
local found = redis.call('HMGET', KEYS[1], 'state', 'claimedAt')
if found[1] ~= 'claimed' or tonumber(found[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'claimedAt', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
`,
);

/**
 * KEYS: claimed index. ARGV: key prefix, staleBefore. Returns {key, fields}[] of stale claims; members
 * whose claim expired with its request are dropped from the index on the way.
 */
export const LIST_STALE_FIRINGS = new LuaScript(
  "listStaleFirings",
  `
local found = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  local fields = redis.call('HMGET', ARGV[1] .. 'firing:' .. key, ${quoted(FIRING_FIELDS)})
  if fields[1] then found[#found + 1] = { key, fields } else redis.call('ZREM', KEYS[1], key) end
end
return found
`,
);

/** KEYS: firings of a request. ARGV: key prefix. Returns {key, fields}[]. */
export const LIST_FIRINGS = new LuaScript(
  "listFirings",
  `
local found = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fields = redis.call('HMGET', ARGV[1] .. 'firing:' .. key, ${quoted(FIRING_FIELDS)})
  if fields[1] then found[#found + 1] = { key, fields } end
end
return found
`,
);

/**
 * KEYS: steps owed. ARGV: key prefix, finishedBefore. Returns the function UIDs owed since then or
 * earlier, oldest first; members whose function expired with its request are dropped on the way.
 */
export const LIST_OWED_STEPS = new LuaScript(
  "listOwedSteps",
  `
local found = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'function:' .. uid) == 1 then found[#found + 1] = uid
  else redis.call('ZREM', KEYS[1], uid) end
end
return found
`,
);

/**
 * KEYS: tick, unsettled ticks. ARGV: request UID, TTL ms, claimedAt, unsettled member. Returns 1 for the
 * one claim recorded (with its place among the unsettled, in the same step), 0 when the tick is taken.
 */
export const CLAIM_TICK = new LuaScript(
  "claimTick",
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`,
);

/** KEYS: unsettled ticks. ARGV: member, staleBefore, now. Returns 1 for the one caller that took it. */
export const RETAKE_TICK = new LuaScript(
  "retakeTick",
  `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`,
);

// Run leases (the local runtime on a shared store): which replica runs what, and whether it lives.
//   P replicas                 set of replica ids that own runs
//   P lease:<replicaId>        a key with the lease's TTL, renewed while the replica lives
//   P owned:<replicaId>        set of the function UIDs that replica's local runtime runs or queues

/**
 * KEYS: replicas. ARGV: key prefix, own replica id. Moves the runs of every replica whose lease has
 * expired into the caller's own set, atomically, and returns them: exactly one replica takes each.
 */
export const TAKE_OVER_EXPIRED = new LuaScript(
  "takeOverExpired",
  `
local taken = {}
local mine = ARGV[1] .. 'owned:' .. ARGV[2]
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. 'lease:' .. id) == 0 then
    local owned = ARGV[1] .. 'owned:' .. id
    for _, uid in ipairs(redis.call('SMEMBERS', owned)) do
      redis.call('SADD', mine, uid)
      table.insert(taken, uid)
    end
    redis.call('DEL', owned)
    redis.call('SREM', KEYS[1], id)
  end
end
if #taken > 0 then redis.call('SADD', KEYS[1], ARGV[2]) end
return taken
`,
);
