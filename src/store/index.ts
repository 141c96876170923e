export * from "./port.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite/sqlite-store.js";
