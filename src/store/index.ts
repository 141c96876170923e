export * from "./port.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
export { DEFAULT_REDIS_KEY_PREFIX, RedisStore, type RedisStoreOptions } from "./redis/redis-store.js";
export { STORE_RETRY_AFTER_SECONDS, isStoreUnavailable, storeUnavailable } from "./errors.js";
export { StatusOutbox, type StatusOutboxOptions } from "./status-outbox.js";
export { ensurePrivateDir, type PrivateDirOutcome } from "./private-files.js";
export { timedStore, type StoreCall } from "./timed.js";
