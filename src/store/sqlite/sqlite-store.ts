import Database from "better-sqlite3";
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { GitfaasError, isGitfaasError } from "../../errors/index.js";
import { requestUidOf } from "../../ids/index.js";
import {
  FINISHED_STATUSES,
  STATUS_RANK,
  tellsNothingNew,
  type ApplyResult,
  type FiringClaim,
  type FiringKind,
  type FiringRecord,
  type FiringState,
  type Lineage,
  type FunctionRecord,
  type FunctionStatus,
  type IdempotencyClaim,
  type NewRequest,
  type RequestInput,
  type ScheduleFire,
  type RequestRecord,
  type StatusChange,
  type Store,
  type StoredResponse,
  type TickClaim,
} from "../port.js";
import { storeUnavailable } from "../errors.js";
import { ensurePrivateFile, tighten } from "../private-files.js";

/** Expired requests deleted per transaction: a few milliseconds each, so publishes wait no longer. */
const PURGE_BATCH = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS requests (
  request_uid  TEXT PRIMARY KEY,
  topic        TEXT NOT NULL,
  revision     TEXT NOT NULL,
  payload      BLOB NOT NULL,
  content_type TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_expiry ON requests (expires_at);
CREATE TABLE IF NOT EXISTS functions (
  function_uid  TEXT PRIMARY KEY,
  request_uid   TEXT NOT NULL REFERENCES requests (request_uid) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,
  path          TEXT NOT NULL,
  apply_error   INTEGER,
  apply_code    TEXT,
  apply_message TEXT,
  status        TEXT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  started_at    INTEGER,
  finished_at   INTEGER,
  reason        TEXT,
  response      BLOB,
  response_type TEXT,
  response_at   INTEGER,
  launch        TEXT
);
CREATE INDEX IF NOT EXISTS functions_request ON functions (request_uid, idx);
CREATE INDEX IF NOT EXISTS functions_unfinished ON functions (status) WHERE status IN ('pending', 'running');
-- Pipelines: next steps claimed, and published or refused (lineage columns are added to requests below).
CREATE TABLE IF NOT EXISTS firings (
  firing_key          TEXT PRIMARY KEY,
  request_uid         TEXT NOT NULL REFERENCES requests (request_uid) ON DELETE CASCADE,
  function_uid        TEXT NOT NULL,
  kind                TEXT NOT NULL,
  topic               TEXT NOT NULL,
  child_request_uid   TEXT NOT NULL,
  state               TEXT NOT NULL,
  reason              TEXT,
  claimed_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS firings_request ON firings (request_uid);
CREATE INDEX IF NOT EXISTS firings_claimed ON firings (claimed_at) WHERE state = 'claimed';
-- Finished functions whose next steps are not claimed yet: inserted in the finish's own transaction.
CREATE TABLE IF NOT EXISTS steps_owed (
  function_uid TEXT PRIMARY KEY REFERENCES functions (function_uid) ON DELETE CASCADE,
  finished_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_owed_finished ON steps_owed (finished_at);
CREATE TABLE IF NOT EXISTS heartbeat (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL
);
`;

/** Pipelines: replay inputs (they go with their request), idempotency keys and schedule ticks (own expiry). */
const PIPELINE_SCHEMA = `
CREATE TABLE IF NOT EXISTS request_inputs (
  request_uid TEXT PRIMARY KEY REFERENCES requests (request_uid) ON DELETE CASCADE,
  params      TEXT NOT NULL,
  replay_of   TEXT
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key         TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  answer      TEXT,
  expires_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_ticks (
  topic       TEXT NOT NULL,
  at          INTEGER NOT NULL,
  request_uid TEXT,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (topic, at)
);
-- The expiry sweep finds what expired by these rather than reading both tables whole each time.
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
CREATE INDEX IF NOT EXISTS schedule_ticks_expiry ON schedule_ticks (expires_at);
`;

interface FunctionRow {
  function_uid: string;
  request_uid: string;
  topic: string;
  idx: number;
  path: string;
  apply_error: number | null;
  apply_code: string | null;
  apply_message: string | null;
  status: FunctionStatus;
  attempts: number;
  started_at: number | null;
  finished_at: number | null;
  reason: string | null;
  response: Buffer | null;
  response_type: string | null;
  response_at: number | null;
  queued: number;
  traceparent: string | null;
}

interface RequestRow {
  request_uid: string;
  topic: string;
  revision: string;
  content_type: string;
  created_at: number;
  expires_at: number;
  parent_function_uid: string | null;
  root_request_uid: string | null;
  depth: number | null;
}

const REQUEST_COLUMNS =
  "request_uid, topic, revision, content_type, created_at, expires_at, parent_function_uid, root_request_uid, depth";

/** Pipelines: lineage columns, added to stores made before them. */
const LINEAGE_COLUMNS = [
  ["parent_function_uid", "TEXT"],
  ["root_request_uid", "TEXT"],
  ["depth", "INTEGER"],
] as const;

interface FiringRow {
  firing_key: string;
  request_uid: string;
  function_uid: string;
  kind: FiringKind;
  topic: string;
  child_request_uid: string;
  state: FiringState;
  reason: string | null;
  claimed_at: number;
}

const FIRING_COLUMNS =
  "firing_key, request_uid, function_uid, kind, topic, child_request_uid, state, reason, claimed_at";

function toFiringRecord(row: FiringRow): FiringRecord {
  return {
    key: row.firing_key,
    kind: row.kind,
    sourceRequestUid: row.request_uid,
    sourceFunctionUid: row.function_uid,
    topic: row.topic,
    childRequestUid: row.child_request_uid,
    claimedAt: new Date(row.claimed_at),
    state: row.state,
    reason: row.reason,
  };
}

function lineageOf(row: RequestRow): Lineage | null {
  if (row.parent_function_uid === null || row.root_request_uid === null) return null;
  return {
    parentFunctionUid: row.parent_function_uid,
    rootRequestUid: row.root_request_uid,
    depth: row.depth ?? 1,
  };
}

const FUNCTION_COLUMNS = `f.function_uid, f.request_uid, r.topic, f.idx, f.path, f.apply_error, f.apply_code,
  f.apply_message, f.status, f.attempts, f.started_at, f.finished_at, f.reason, f.response, f.response_type, f.response_at,
  f.launch IS NOT NULL AS queued, f.traceparent`;

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

function toFunctionRecord(row: FunctionRow): FunctionRecord {
  return {
    functionUid: row.function_uid,
    requestUid: row.request_uid,
    topic: row.topic,
    path: row.path,
    index: row.idx,
    apply:
      row.apply_error === null
        ? null
        : { error: row.apply_error === 1, code: row.apply_code, message: row.apply_message ?? "" },
    status: row.status,
    attempts: row.attempts,
    startedAt: toDate(row.started_at),
    finishedAt: toDate(row.finished_at),
    reason: row.reason,
    response:
      row.response === null
        ? null
        : {
            body: row.response,
            contentType: row.response_type ?? "text/plain",
            at: new Date(row.response_at ?? 0),
          },
    queued: row.queued === 1,
    ...(row.traceparent === null ? {} : { traceparent: row.traceparent }),
  };
}

export interface SqliteStoreOptions {
  /** File path, or ":memory:". */
  readonly file: string;
  readonly expirationSeconds: number;
  /** How long to wait for another process to let go of the file before refusing; default 5 s. */
  readonly lockWaitMs?: number;
}

interface QueuedWrite {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * SQLite's result codes for a file that cannot be written or read now (a full disk, a failing or
 * read-only one, a lock held elsewhere), as opposed to a refused statement (a constraint, a bug).
 */
const UNAVAILABLE_CODES = [
  ["SQLITE_FULL", "the disk is full"],
  ["SQLITE_IOERR", "the disk failed a read or write"],
  ["SQLITE_READONLY", "the file is read-only"],
  ["SQLITE_CANTOPEN", "the file cannot be opened"],
  ["SQLITE_BUSY", "the file is locked"],
  ["SQLITE_NOMEM", "out of memory"],
] as const;

/**
 * The file holds payloads and answers: it and its log are the owner's only, whatever the umask. A
 * folder made here is 0700; an existing one is left as it is (it may be any folder; the data dir is
 * closed where gitfaas starts). A log left by a crash keeps its mode when reopened: closed too.
 */
function keepPrivate(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  ensurePrivateFile(file);
  for (const suffix of ["-wal", "-shm", "-journal"]) tighten(file + suffix);
}

/** Our faults for SQLite's: a store fault becomes STORE_UNAVAILABLE, anything else is kept as thrown. */
function translated(error: unknown, open: boolean): unknown {
  if (isGitfaasError(error)) return error;
  const code = (error as { code?: unknown }).code;
  const known =
    typeof code === "string" ? UNAVAILABLE_CODES.find(([prefix]) => code.startsWith(prefix)) : undefined;
  if (known) return storeUnavailable(known[1], error);
  // better-sqlite3 refuses every call on a closed database with a TypeError.
  if (!open) return storeUnavailable("the store is closed", error);
  return error;
}

type Outcome =
  { readonly done: true; readonly value: unknown } | { readonly done: false; readonly error: unknown };

/**
 * The embedded default store: one SQLite file, so a restart loses nothing. better-sqlite3 is
 * synchronous; every statement is short and indexed, so it never holds the event loop for long.
 * The file belongs to one gitfaas process, which holds SQLite's lock on it for as long as it runs: a
 * second process on the same data dir would be two replicas sharing what cannot be shared, and is
 * refused at start (STORE_IN_USE). Holding the lock also spares the two or four lock and unlock system
 * calls every statement otherwise makes.
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly changes = new EventEmitter();
  private readonly expirationMs: number;
  private readonly statements = new Map<string, Database.Statement>();
  private queued: QueuedWrite[] = [];
  private changedRequests = new Set<string>();

  constructor(options: SqliteStoreOptions) {
    if (options.file !== ":memory:") keepPrivate(options.file);
    this.db = new Database(options.file);
    try {
      // A gitfaas being replaced may hold the file a few seconds more.
      this.db.pragma(`busy_timeout = ${options.lockWaitMs ?? 5000}`);
      // Before WAL is first used, so that no shared-memory index is made either.
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      // A checkpoint copies the log into the file and waits for the disk twice, holding the event loop
      // for 10 ms or more on a disk that a cluster's etcd keeps busy. SQLite's default, every 1000 pages,
      // meant one every 125 or so publishes (8 pages each, one at a time); every 10 000 pages (a 40 MB
      // log) served 8% more publishes a second at c=32 in the bench, p99 moving no more than from run to
      // run.
      this.db.pragma("wal_autocheckpoint = 10000");
      this.db.pragma("foreign_keys = ON");
      // Takes the lock now, not at the first publish.
      this.db.exec("BEGIN EXCLUSIVE; COMMIT");
    } catch (error) {
      this.db.close();
      if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
      throw new GitfaasError(
        "STORE_IN_USE",
        `the store ${options.file} is in use by another gitfaas process; give each replica its own --data-dir, or share a Redis store (--store redis)`,
      );
    }
    this.db.exec(SCHEMA);
    this.db.exec(PIPELINE_SCHEMA);
    const columns = this.db.prepare("PRAGMA table_info(functions)").all() as { name: string }[];
    if (!columns.some((column) => column.name === "launch"))
      this.db.exec("ALTER TABLE functions ADD COLUMN launch TEXT");
    // Tracing: the trace context of each function's run, for its next steps to continue.
    if (!columns.some((column) => column.name === "traceparent"))
      this.db.exec("ALTER TABLE functions ADD COLUMN traceparent TEXT");
    this.addLineageColumns();
    this.addTickClaimColumns();
    this.expirationMs = options.expirationSeconds * 1000;
    this.changes.setMaxListeners(0);
  }

  private addLineageColumns(): void {
    const columns = this.db.prepare("PRAGMA table_info(requests)").all() as { name: string }[];
    for (const [name, type] of LINEAGE_COLUMNS) {
      if (!columns.some((column) => column.name === name))
        this.db.exec(`ALTER TABLE requests ADD COLUMN ${name} ${type}`);
    }
    this.db.exec(
      "CREATE INDEX IF NOT EXISTS requests_root ON requests (root_request_uid) WHERE root_request_uid IS NOT NULL",
    );
  }

  /**
   * Schedules: the request UID a claimed tick publishes and when it was claimed; `settled` once recorded
   * or skipped. Rows of earlier versions have none and count as settled.
   */
  private addTickClaimColumns(): void {
    const columns = this.db.prepare("PRAGMA table_info(schedule_ticks)").all() as { name: string }[];
    for (const [name, type] of [
      ["planned_uid", "TEXT"],
      ["claimed_at", "INTEGER"],
      ["settled", "INTEGER"],
    ] as const) {
      if (!columns.some((column) => column.name === name))
        this.db.exec(`ALTER TABLE schedule_ticks ADD COLUMN ${name} ${type}`);
    }
    this.db.exec(
      "CREATE INDEX IF NOT EXISTS schedule_ticks_unsettled ON schedule_ticks (claimed_at) WHERE settled = 0",
    );
  }

  /** Prepared once, reused: preparing costs more than running these short statements. */
  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Waiters hear of a change once it is committed. */
  private notify(requestUid: string): void {
    this.changedRequests.add(requestUid);
  }

  /**
   * Writes issued in one turn of the event loop are committed together at the end of that turn (group
   * commit). Under load several publishes arrive in one turn, and one commit writes the pages they share
   * once (the tables' and indexes' last pages) rather than once each. Each write runs in its own
   * savepoint, so a refused one (a response for an unknown function) undoes only itself; each caller
   * hears back once the commit is done, as before. Reads first commit what is queued, so they see every
   * write issued before them.
   */
  private write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queued.length === 1) setImmediate(() => this.commitQueued());
    });
  }

  private commitQueued(): void {
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    const settled: [QueuedWrite, Outcome][] = [];
    // A write alone in its transaction needs no savepoint of its own: its failure rolls the whole back,
    // which is all a savepoint would undo (most writes come alone: a status report, one publish).
    const alone = batch.length === 1;
    try {
      this.statement("BEGIN").run();
      for (const write of batch)
        settled.push([write, alone ? this.attempted(write.work) : this.inSavepoint(write.work)]);
      const refused = alone && settled.some(([, outcome]) => !outcome.done);
      this.statement(refused ? "ROLLBACK" : "COMMIT").run();
    } catch (error) {
      // A failed commit (a full disk, say), an error that ended the transaction, or a closed store:
      // nothing of the batch was written.
      try {
        if (this.db.inTransaction) this.statement("ROLLBACK").run();
      } catch {
        // Nothing more can be undone: the batch is refused all the same.
      }
      this.changedRequests.clear();
      const refusal = translated(error, this.db.open);
      for (const write of batch) write.reject(refusal);
      return;
    }
    for (const [write, outcome] of settled) {
      if (outcome.done) write.resolve(outcome.value);
      else write.reject(translated(outcome.error, this.db.open));
    }
    const changed = this.changedRequests;
    this.changedRequests = new Set();
    for (const requestUid of changed) this.changes.emit(requestUid);
  }

  /** Runs a write alone in its transaction; an error that ended the transaction fails it as a whole. */
  private attempted(work: () => unknown): Outcome {
    try {
      return { done: true, value: work() };
    } catch (error) {
      if (!this.db.inTransaction) throw error;
      return { done: false, error };
    }
  }

  private inSavepoint(work: () => unknown): Outcome {
    this.statement("SAVEPOINT write").run();
    try {
      const value = work();
      this.statement("RELEASE write").run();
      return { done: true, value };
    } catch (error) {
      // Some errors (SQLITE_FULL, SQLITE_IOERR) end the whole transaction: then the batch fails as one.
      if (!this.db.inTransaction) throw error;
      this.statement("ROLLBACK TO write").run();
      this.statement("RELEASE write").run();
      return { done: false, error };
    }
  }

  async createRequest(request: NewRequest): Promise<void> {
    const created = request.createdAt.getTime();
    return this.write(() => {
      const insertRequest = this.statement(
        `INSERT INTO requests (request_uid, topic, revision, payload, content_type, created_at, expires_at,
           parent_function_uid, root_request_uid, depth)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertFunction = this.statement(
        `INSERT INTO functions (function_uid, request_uid, idx, path, status, launch, traceparent)
         VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
      );
      insertRequest.run(
        request.requestUid,
        request.topic,
        request.revision,
        request.payload,
        request.contentType,
        created,
        created + this.expirationMs,
        request.lineage?.parentFunctionUid ?? null,
        request.lineage?.rootRequestUid ?? null,
        request.lineage?.depth ?? null,
      );
      request.functions.forEach((fn, index) =>
        insertFunction.run(
          fn.functionUid,
          request.requestUid,
          index,
          fn.path,
          fn.pendingLaunch ?? null,
          fn.traceparent ?? null,
        ),
      );
      if (request.input) this.inputRecorded(request.requestUid, request.input);
      const parentRequestUid = request.lineage && requestUidOf(request.lineage.parentFunctionUid);
      if (parentRequestUid) this.notify(parentRequestUid);
    });
  }

  async claimLaunch(functionUid: string): Promise<string | undefined> {
    return this.write(() => {
      const row = this.statement("SELECT launch FROM functions WHERE function_uid = ?").get(functionUid) as
        { launch: string | null } | undefined;
      if (!row?.launch) return undefined;
      this.statement("UPDATE functions SET launch = NULL WHERE function_uid = ?").run(functionUid);
      return row.launch;
    });
  }

  async recordApply(functionUid: string, result: ApplyResult): Promise<void> {
    return this.write(() => this.applyRecorded(functionUid, result));
  }

  private applyRecorded(functionUid: string, result: ApplyResult): void {
    const info = this.statement(
      "UPDATE functions SET apply_error = ?, apply_code = ?, apply_message = ? WHERE function_uid = ?",
    ).run(result.error ? 1 : 0, result.code, result.message, functionUid);
    if (result.error) {
      // A function that could not be started is finished: waiting callers must not wait for it.
      const now = Date.now();
      const finished = this.statement(
        "UPDATE functions SET status = 'failed', finished_at = ?, reason = ? WHERE function_uid = ? AND status IN ('pending', 'running')",
      ).run(now, result.message, functionUid);
      if (finished.changes > 0) this.stepsOwed(functionUid, now);
    }
    const requestUid = info.changes > 0 ? requestUidOf(functionUid) : undefined;
    if (requestUid) this.notify(requestUid);
  }

  async updateStatus(functionUid: string, change: StatusChange): Promise<void> {
    return this.write(() => this.statusUpdated(functionUid, change));
  }

  private statusUpdated(functionUid: string, change: StatusChange): void {
    const current = this.statement(
      "SELECT request_uid, status, attempts, started_at FROM functions WHERE function_uid = ?",
    ).get(functionUid) as
      | { request_uid: string; status: FunctionStatus; attempts: number; started_at: number | null }
      | undefined;
    if (!current) return;
    if (FINISHED_STATUSES.has(current.status)) return;
    if (STATUS_RANK[change.status] < STATUS_RANK[current.status]) return;
    const known = {
      status: current.status,
      attempts: current.attempts,
      started: current.started_at !== null,
    };
    if (tellsNothingNew(known, change)) return;
    this.statement(
      `UPDATE functions SET status = ?,
           attempts = COALESCE(?, attempts),
           started_at = COALESCE(started_at, ?),
           finished_at = COALESCE(?, finished_at),
           reason = COALESCE(?, reason)
         WHERE function_uid = ?`,
    ).run(
      change.status,
      change.attempts ?? null,
      change.startedAt?.getTime() ?? null,
      change.finishedAt?.getTime() ?? null,
      change.reason ?? null,
      functionUid,
    );
    if (FINISHED_STATUSES.has(change.status))
      this.stepsOwed(functionUid, change.finishedAt?.getTime() ?? Date.now());
    this.notify(current.request_uid);
  }

  /** Within the write that finished the function: the debt and the finish are committed together. */
  private stepsOwed(functionUid: string, finishedAt: number): void {
    this.statement(
      "INSERT INTO steps_owed (function_uid, finished_at) VALUES (?, ?) ON CONFLICT (function_uid) DO NOTHING",
    ).run(functionUid, finishedAt);
  }

  async putResponse(functionUid: string, response: StoredResponse): Promise<void> {
    return this.write(() => this.responsePut(functionUid, response));
  }

  private responsePut(functionUid: string, response: StoredResponse): void {
    const now = Date.now();
    const owner = this.statement(
      `SELECT f.request_uid FROM functions f JOIN requests r ON r.request_uid = f.request_uid
         WHERE f.function_uid = ? AND r.expires_at > ?`,
    ).get(functionUid, now) as { request_uid: string } | undefined;
    if (!owner)
      throw new GitfaasError("FUNCTION_NOT_FOUND", `no function '${functionUid}' is waiting for a response`);
    this.statement(
      "UPDATE functions SET response = ?, response_type = ?, response_at = ? WHERE function_uid = ?",
    ).run(response.body, response.contentType, response.at.getTime(), functionUid);
    // As the original, an answer lives for the expiration time counted from when it was posted.
    this.statement("UPDATE requests SET expires_at = MAX(expires_at, ?) WHERE request_uid = ?").run(
      now + this.expirationMs,
      owner.request_uid,
    );
    this.notify(owner.request_uid);
  }

  /** Reads first commit what is queued, so they see every write issued before them. */
  private read<T>(work: () => T): Promise<T> {
    this.commitQueued();
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translated(error, this.db.open));
    }
  }

  async getRequest(requestUid: string): Promise<RequestRecord | undefined> {
    return this.read(() => this.requestRead(requestUid));
  }

  private requestRead(requestUid: string): RequestRecord | undefined {
    const request = this.statement(
      `SELECT ${REQUEST_COLUMNS} FROM requests WHERE request_uid = ? AND expires_at > ?`,
    ).get(requestUid, Date.now()) as RequestRow | undefined;
    return request && this.withFunctions(request);
  }

  private withFunctions(request: RequestRow, known?: readonly FunctionRow[]): RequestRecord {
    const requestUid = request.request_uid;
    const rows =
      known ??
      (this.statement(
        `SELECT ${FUNCTION_COLUMNS} FROM functions f JOIN requests r ON r.request_uid = f.request_uid
         WHERE f.request_uid = ? ORDER BY f.idx`,
      ).all(requestUid) as FunctionRow[]);
    return {
      requestUid: request.request_uid,
      topic: request.topic,
      revision: request.revision,
      contentType: request.content_type,
      createdAt: new Date(request.created_at),
      expiresAt: new Date(request.expires_at),
      functions: rows.map(toFunctionRecord),
      lineage: lineageOf(request),
    };
  }

  async getFunction(functionUid: string): Promise<FunctionRecord | undefined> {
    return this.read(() => {
      const row = this.statement(
        `SELECT ${FUNCTION_COLUMNS} FROM functions f JOIN requests r ON r.request_uid = f.request_uid
           WHERE f.function_uid = ? AND r.expires_at > ?`,
      ).get(functionUid, Date.now()) as FunctionRow | undefined;
      return row ? toFunctionRecord(row) : undefined;
    });
  }

  async getPayload(functionUid: string): Promise<{ body: Buffer; contentType: string } | undefined> {
    return this.read(() => {
      const row = this.statement(
        `SELECT r.payload, r.content_type FROM functions f JOIN requests r ON r.request_uid = f.request_uid
           WHERE f.function_uid = ? AND r.expires_at > ?`,
      ).get(functionUid, Date.now()) as { payload: Buffer; content_type: string } | undefined;
      return row ? { body: row.payload, contentType: row.content_type } : undefined;
    });
  }

  async listUnfinished(): Promise<FunctionRecord[]> {
    return this.read(() => {
      const rows = this.statement(
        `SELECT ${FUNCTION_COLUMNS} FROM functions f JOIN requests r ON r.request_uid = f.request_uid
           WHERE f.status IN ('pending', 'running') AND r.expires_at > ? ORDER BY r.created_at, f.idx`,
      ).all(Date.now()) as FunctionRow[];
      return rows.map(toFunctionRecord);
    });
  }

  watchRequest(requestUid: string, listener: () => void): () => void {
    this.changes.on(requestUid, listener);
    return () => this.changes.off(requestUid, listener);
  }

  /**
   * Deletes expired requests a batch per transaction: one DELETE of a million requests held the event
   * loop (and every publish) for the whole sweep; between batches, the writes that queued meanwhile
   * are committed.
   */
  async purgeExpired(now: Date = new Date()): Promise<number> {
    const at = now.getTime();
    await this.write(() => this.pipelinesPurged(at));
    let purged = 0;
    for (;;) {
      const batch = await this.write(
        () =>
          this.statement(
            `DELETE FROM requests WHERE request_uid IN
               (SELECT request_uid FROM requests WHERE expires_at <= ? LIMIT ${PURGE_BATCH})`,
          ).run(at).changes,
      );
      purged += batch;
      if (batch < PURGE_BATCH) return purged;
    }
  }

  // Pipelines: replay inputs, idempotency keys, schedule ticks.

  private inputRecorded(requestUid: string, input: RequestInput): void {
    this.statement("INSERT INTO request_inputs (request_uid, params, replay_of) VALUES (?, ?, ?)").run(
      requestUid,
      JSON.stringify(input.params),
      input.replayOf,
    );
  }

  async getRequestInput(requestUid: string): Promise<RequestInput | undefined> {
    return this.read(() => {
      const row = this.statement(
        `SELECT i.params, i.replay_of FROM request_inputs i JOIN requests r ON r.request_uid = i.request_uid
           WHERE i.request_uid = ? AND r.expires_at > ?`,
      ).get(requestUid, Date.now()) as { params: string; replay_of: string | null } | undefined;
      return row
        ? { params: JSON.parse(row.params) as Record<string, string>, replayOf: row.replay_of }
        : undefined;
    });
  }

  async claimIdempotencyKey(key: string, fingerprint: string): Promise<IdempotencyClaim | undefined> {
    return this.write(() => {
      const now = Date.now();
      this.statement("DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?").run(key, now);
      const taken = this.statement(
        "INSERT OR IGNORE INTO idempotency_keys (key, fingerprint, expires_at) VALUES (?, ?, ?)",
      ).run(key, fingerprint, now + this.expirationMs);
      if (taken.changes === 1) return undefined;
      return this.statement("SELECT fingerprint, answer FROM idempotency_keys WHERE key = ?").get(
        key,
      ) as IdempotencyClaim;
    });
  }

  async completeIdempotencyKey(key: string, answer: string): Promise<void> {
    await this.write(() =>
      this.statement("UPDATE idempotency_keys SET answer = ? WHERE key = ?").run(answer, key),
    );
  }

  async releaseIdempotencyKey(key: string): Promise<void> {
    await this.write(() => this.statement("DELETE FROM idempotency_keys WHERE key = ?").run(key));
  }

  async claimScheduleTick(claim: TickClaim): Promise<boolean> {
    return this.write(
      () =>
        this.statement(
          `INSERT OR IGNORE INTO schedule_ticks (topic, at, expires_at, planned_uid, claimed_at, settled)
             VALUES (?, ?, ?, ?, ?, 0)`,
        ).run(
          claim.topic,
          claim.at.getTime(),
          Date.now() + this.expirationMs,
          claim.requestUid,
          claim.claimedAt.getTime(),
        ).changes === 1,
    );
  }

  async recordScheduleFire(topic: string, fire: ScheduleFire): Promise<void> {
    await this.write(() =>
      this.statement("UPDATE schedule_ticks SET request_uid = ?, settled = 1 WHERE topic = ? AND at = ?").run(
        fire.requestUid,
        topic,
        fire.at.getTime(),
      ),
    );
  }

  async skipScheduleTick(topic: string, at: Date): Promise<void> {
    await this.write(() =>
      this.statement("UPDATE schedule_ticks SET settled = 1 WHERE topic = ? AND at = ?").run(
        topic,
        at.getTime(),
      ),
    );
  }

  async listStaleTicks(claimedBefore: Date): Promise<TickClaim[]> {
    return this.read(() => {
      const rows = this.statement(
        `SELECT topic, at, planned_uid, claimed_at FROM schedule_ticks
           WHERE settled = 0 AND claimed_at <= ? AND expires_at > ? ORDER BY claimed_at, topic`,
      ).all(claimedBefore.getTime(), Date.now()) as {
        topic: string;
        at: number;
        planned_uid: string;
        claimed_at: number;
      }[];
      return rows.map((row) => ({
        topic: row.topic,
        at: new Date(row.at),
        requestUid: row.planned_uid,
        claimedAt: new Date(row.claimed_at),
      }));
    });
  }

  async retakeScheduleTick(topic: string, at: Date, staleBefore: Date, now: Date): Promise<boolean> {
    return this.write(
      () =>
        this.statement(
          "UPDATE schedule_ticks SET claimed_at = ? WHERE topic = ? AND at = ? AND settled = 0 AND claimed_at <= ?",
        ).run(now.getTime(), topic, at.getTime(), staleBefore.getTime()).changes === 1,
    );
  }

  async lastScheduleFire(topic: string): Promise<ScheduleFire | undefined> {
    return this.read(() => {
      const row = this.statement(
        "SELECT at, request_uid FROM schedule_ticks WHERE topic = ? AND request_uid IS NOT NULL ORDER BY at DESC LIMIT 1",
      ).get(topic) as { at: number; request_uid: string } | undefined;
      return row ? { at: new Date(row.at), requestUid: row.request_uid } : undefined;
    });
  }

  private pipelinesPurged(now: number): void {
    this.statement("DELETE FROM idempotency_keys WHERE expires_at <= ?").run(now);
    this.statement("DELETE FROM schedule_ticks WHERE expires_at <= ?").run(now);
  }

  // ---- Pipelines ----

  async claimFiring(claim: FiringClaim): Promise<boolean> {
    return this.write(() => {
      const live = this.statement("SELECT 1 FROM requests WHERE request_uid = ? AND expires_at > ?").get(
        claim.sourceRequestUid,
        Date.now(),
      );
      if (!live)
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no request '${claim.sourceRequestUid}' (unknown or expired)`,
        );
      const info = this.statement(
        `INSERT INTO firings (${FIRING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 'claimed', NULL, ?)
           ON CONFLICT (firing_key) DO NOTHING`,
      ).run(
        claim.key,
        claim.sourceRequestUid,
        claim.sourceFunctionUid,
        claim.kind,
        claim.topic,
        claim.childRequestUid,
        claim.claimedAt.getTime(),
      );
      return info.changes === 1;
    });
  }

  async settleFiring(
    key: string,
    state: Exclude<FiringState, "claimed">,
    reason?: string | null,
  ): Promise<void> {
    return this.write(() => {
      const row = this.statement("SELECT request_uid FROM firings WHERE firing_key = ?").get(key) as
        { request_uid: string } | undefined;
      if (!row) return;
      this.statement("UPDATE firings SET state = ?, reason = ? WHERE firing_key = ?").run(
        state,
        reason ?? null,
        key,
      );
      this.notify(row.request_uid);
    });
  }

  async retakeFiring(key: string, staleBefore: Date, now: Date): Promise<boolean> {
    return this.write(
      () =>
        this.statement(
          "UPDATE firings SET claimed_at = ? WHERE firing_key = ? AND state = 'claimed' AND claimed_at <= ?",
        ).run(now.getTime(), key, staleBefore.getTime()).changes === 1,
    );
  }

  async listStaleFirings(staleBefore: Date): Promise<FiringRecord[]> {
    return this.read(() => {
      const rows = this.statement(
        `SELECT ${FIRING_COLUMNS} FROM firings WHERE state = 'claimed' AND claimed_at <= ? ORDER BY claimed_at`,
      ).all(staleBefore.getTime()) as FiringRow[];
      return rows.map(toFiringRecord);
    });
  }

  async listFirings(requestUid: string): Promise<FiringRecord[]> {
    return this.read(() => {
      const rows = this.statement(
        `SELECT ${FIRING_COLUMNS} FROM firings WHERE request_uid = ? ORDER BY claimed_at, firing_key`,
      ).all(requestUid) as FiringRow[];
      return rows.map(toFiringRecord);
    });
  }

  async listTree(rootRequestUid: string): Promise<RequestRecord[]> {
    return this.read(() => {
      const rows = this.statement(
        `SELECT ${REQUEST_COLUMNS} FROM requests
           WHERE (request_uid = ? OR root_request_uid = ?) AND expires_at > ? ORDER BY created_at, request_uid`,
      ).all(rootRequestUid, rootRequestUid, Date.now()) as RequestRow[];
      // The functions of the whole tree in one query, not one per request.
      const functions = new Map<string, FunctionRow[]>(rows.map((row) => [row.request_uid, []]));
      const functionRows = this.statement(
        `SELECT ${FUNCTION_COLUMNS} FROM functions f JOIN requests r ON r.request_uid = f.request_uid
           WHERE (r.request_uid = ? OR r.root_request_uid = ?) ORDER BY f.request_uid, f.idx`,
      ).all(rootRequestUid, rootRequestUid) as FunctionRow[];
      for (const fn of functionRows) functions.get(fn.request_uid)?.push(fn);
      return rows.map((row) => this.withFunctions(row, functions.get(row.request_uid)));
    });
  }

  async listOwedSteps(finishedBefore: Date): Promise<string[]> {
    return this.read(() => {
      const rows = this.statement(
        "SELECT function_uid FROM steps_owed WHERE finished_at <= ? ORDER BY finished_at, function_uid",
      ).all(finishedBefore.getTime()) as { function_uid: string }[];
      return rows.map((row) => row.function_uid);
    });
  }

  async clearOwedSteps(functionUid: string): Promise<void> {
    await this.write(() => this.statement("DELETE FROM steps_owed WHERE function_uid = ?").run(functionUid));
  }

  /**
   * A read answers on a full disk: ready means a write can be committed, so the probe commits one (a
   * single row, one page). A write rolled back would not do: in WAL mode nothing reaches the disk
   * before the commit. It joins the writes of its turn, as any other.
   */
  async ping(): Promise<void> {
    await this.write(() =>
      this.statement(
        "INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
      ).run(Date.now()),
    );
  }

  async close(): Promise<void> {
    this.commitQueued();
    this.changes.removeAllListeners();
    if (this.db.open) this.db.close();
  }
}
