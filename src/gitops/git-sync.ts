import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitfaasError, describeError, isGitfaasError } from "../errors/index.js";
import type { Logger } from "../logging/index.js";
import { authEnvironment, hasToken, httpUsername, type GitAuth } from "./auth.js";
import { GitRunner } from "./git-process.js";
import { Scrubber } from "./scrub.js";
import {
  copyPlainDir,
  freshTempDir,
  layoutFor,
  pathExists,
  publishSnapshot,
  pruneSnapshots,
  readLastGood,
  writeLastGood,
  type Layout,
} from "./snapshots.js";
import {
  checkBranchSetting,
  checkRepoSetting,
  checkTokenTransport,
  displayRepo,
  resolveSource,
  type RepoSource,
} from "./source.js";

export interface GitSyncOptions<T> {
  /** http(s)://, ssh://, git@host:path (scp-like), file://, or a local path (a git repository or a plain folder). */
  repo: string;
  branch: string;
  /** Mirror and snapshots live under `<dataDir>/git/`. */
  dataDir: string;
  auth: GitAuth;
  /** Validates a snapshot and builds what is served from it; throwing refuses this revision. */
  load: (snapshotDir: string, revision: string) => Promise<T>;
  logger: Logger;
  /** The git executable; default `git`, looked up in `searchPath`. */
  gitBinary?: string;
  /** PATH given to git (and so to ssh and tar); default the usual system folders. */
  searchPath?: string;
  /** A git command running longer than this is killed; default two minutes. */
  gitTimeoutMs?: number;
  /**
   * How long a snapshot stays on disk after it stopped being served, for runs queued against it;
   * default one hour. The two most recent previous snapshots stay whatever their age, and at most
   * MAX_SNAPSHOTS (current included) are kept whatever the grace.
   */
  snapshotGraceMs?: number;
  /** The clock behind lastSyncAt and snapshot ages; default the system's, tests drive their own. */
  now?: () => Date;
  /** Told of each head refused (for metrics): once per commit that does not validate, each time git fails. */
  onRefused?: (refusal: { readonly revision: string | null; readonly code: string }) => void;
}

export interface Revision<T> {
  /** Commit sha, or `dir-` + a content hash for a plain folder. */
  readonly id: string;
  readonly dir: string;
  readonly loadedAt: Date;
  readonly content: T;
}

export interface SyncStatus {
  /** The revision being served. */
  revision: string | null;
  /** When a sync last ended with the served revision equal to the source's head. */
  lastSyncAt: Date | null;
  /** Why the last sync did not end that way; null once one does. */
  lastError: { revision: string | null; code: string; message: string; at: Date } | null;
}

export interface SyncOutcome<T> {
  served: Revision<T> | undefined;
  refused?: { revision: string | null; code: string; message: string };
}

const DEFAULT_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_GIT_TIMEOUT_MS = 120_000;
const DEFAULT_SNAPSHOT_GRACE_MS = 60 * 60 * 1000;
/** Previous snapshots kept whatever their age. */
const MIN_PREVIOUS_SNAPSHOTS = 2;
/** Snapshots kept at most, the current one included, whatever the grace. */
const MAX_SNAPSHOTS = 20;

type Refusal = NonNullable<SyncOutcome<unknown>["refused"]>;

/** The source's newest revision, before it is validated. */
interface Candidate {
  readonly id: string;
  /** The snapshot folder, written on first call if it does not exist yet. */
  readonly snapshot: () => Promise<string>;
}

/**
 * Follows one branch of one repository (or one plain folder) and serves its newest revision that
 * `load` accepts. Every revision is an immutable folder of its own, so whatever is reading the
 * served one is never disturbed by the next sync.
 */
export class GitSync<T> {
  private readonly layout: Layout;
  private readonly logger: Logger;
  /** The one place that knows every secret given to git; whatever git printed passes through it. */
  private readonly scrubber: Scrubber;
  private served: Revision<T> | undefined;
  /** Snapshots served before the current one, most recently replaced first, with when that happened. */
  private retired: { readonly id: string; readonly at: number }[] = [];
  /** Private folders of git invocations under way, removed after each one and in stop(). */
  private readonly privateDirs = new Set<string>();
  private lastSyncAt: Date | null = null;
  private lastError: SyncStatus["lastError"] = null;
  // A revision `load` refused: its content cannot change, so it is not extracted and loaded again.
  private refusedRevision: { id: string; refusal: Refusal } | undefined;
  private readonly listeners = new Set<(revision: Revision<T>) => void>();
  private running: Promise<SyncOutcome<T>> | undefined;
  private queued: Promise<SyncOutcome<T>> | undefined;
  private tmpCleaned = false;
  /** Whether the revision recorded as last good was already looked for (once, while nothing is served). */
  private lastGoodTried = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private pollGeneration = 0;

  constructor(private readonly options: GitSyncOptions<T>) {
    checkRepoSetting(options.repo, options.auth.username);
    checkBranchSetting(options.branch);
    checkTokenTransport(options.repo, hasToken(options.auth));
    const grace = options.snapshotGraceMs;
    if (grace !== undefined && !(Number.isFinite(grace) && grace >= 0)) {
      throw new GitfaasError(
        "INVALID_SETTING",
        `snapshot grace must be a non-negative number of ms, got ${grace}`,
        { setting: "snapshotGraceMs" },
      );
    }
    this.layout = layoutFor(options.dataDir);
    this.scrubber = new Scrubber({ username: httpUsername(options.auth), token: options.auth.token });
    this.logger = options.logger.child({ repo: displayRepo(options.repo), branch: options.branch });
  }

  /**
   * Fetches now. Calls never overlap: a call made while a sync runs waits for one fresh sync that
   * starts after it, shared by every caller that arrived meanwhile. Never rejects for git or
   * validation failures: those are reported in `refused` while the last good revision keeps serving.
   */
  sync(): Promise<SyncOutcome<T>> {
    if (this.queued !== undefined) return this.queued;
    if (this.running === undefined) return this.startSync();
    this.queued = this.running.then(() => {
      this.queued = undefined;
      return this.startSync();
    });
    return this.queued;
  }

  current(): Revision<T> | undefined {
    return this.served;
  }

  status(): SyncStatus {
    return {
      revision: this.served?.id ?? null,
      lastSyncAt: this.lastSyncAt,
      lastError: this.lastError === null ? null : { ...this.lastError },
    };
  }

  /** Syncs every `intervalMs`, counted from the end of one sync to the start of the next. */
  startPolling(intervalMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new GitfaasError(
        "INVALID_SETTING",
        `poll interval must be a positive number of ms, got ${intervalMs}`,
      );
    }
    this.stopPolling();
    const generation = this.pollGeneration;
    const schedule = (): void => {
      this.pollTimer = setTimeout(() => {
        this.pollTimer = undefined;
        void this.sync().then(() => {
          if (generation === this.pollGeneration) schedule();
        });
      }, intervalMs);
    };
    schedule();
  }

  /** Stops polling, waits for any sync under way and removes every private folder left. */
  async stop(): Promise<void> {
    this.stopPolling();
    try {
      await (this.queued ?? this.running);
    } finally {
      await Promise.all([...this.privateDirs].map((dir) => this.removePrivateDir(dir)));
    }
  }

  onChange(listener: (revision: Revision<T>) => void): () => void {
    // Wrapped so that the same function registered twice is called twice and removed independently.
    const entry = (revision: Revision<T>): void => listener(revision);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  private stopPolling(): void {
    this.pollGeneration += 1;
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private startSync(): Promise<SyncOutcome<T>> {
    const run = this.syncOnce().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async syncOnce(): Promise<SyncOutcome<T>> {
    const outcome = await this.syncHead();
    if (outcome.refused === undefined || this.served !== undefined || this.lastGoodTried) return outcome;
    this.lastGoodTried = true;
    return this.serveLastGood(outcome.refused);
  }

  private async syncHead(): Promise<SyncOutcome<T>> {
    let revision: string | null = null;
    try {
      await this.prepareLayout();
      const source = await resolveSource(this.options.repo);
      const candidate =
        source.kind === "dir" ? await this.snapshotPlainDir(source.path) : await this.snapshotGitHead(source);
      revision = candidate.id;
      if (candidate.id === this.served?.id) return this.upToDate();
      if (this.refusedRevision?.id === candidate.id) return this.refuse(this.refusedRevision.refusal, false);

      const dir = await candidate.snapshot();
      let content: T;
      try {
        content = await this.options.load(dir, candidate.id);
      } catch (error) {
        const refusal = this.refusalFor(candidate.id, error);
        this.refusedRevision = { id: candidate.id, refusal };
        await this.dropUnservedSnapshot(candidate.id);
        return this.refuse(refusal, true);
      }
      return await this.serve({ id: candidate.id, dir, loadedAt: this.now(), content });
    } catch (error) {
      return this.refuse(this.refusalFor(revision, error), true);
    }
  }

  /**
   * Nothing served yet and the head refused (invalid, or the remote unreachable): serves the revision
   * recorded as served last in this data dir, if it came from the same repository and branch, its
   * snapshot is still on disk and it still loads. The head's refusal stays in lastError.
   */
  private async serveLastGood(refusal: Refusal): Promise<SyncOutcome<T>> {
    const record = await readLastGood(this.layout);
    const repo = displayRepo(this.options.repo);
    if (record === undefined || record.repo !== repo || record.branch !== this.options.branch) {
      return { served: undefined, refused: refusal };
    }
    const dir = join(this.layout.snapshots, record.revision);
    if (!(await pathExists(dir))) return { served: undefined, refused: refusal };
    let content: T;
    try {
      content = await this.options.load(dir, record.revision);
    } catch (error) {
      this.logger.warn(
        { revision: record.revision, error: this.scrub(describeError(error)) },
        "the last good revision recorded does not load either",
      );
      return { served: undefined, refused: refusal };
    }
    await this.install({ id: record.revision, dir, loadedAt: this.now(), content });
    this.logger.warn(
      { revision: record.revision, refused: refusal.revision, code: refusal.code },
      "serving the last good revision recorded before the restart; the head is refused",
    );
    return this.refuse(refusal, false);
  }

  private async prepareLayout(): Promise<void> {
    if (!this.tmpCleaned) {
      // Half-written snapshots of a previous process that stopped mid-sync.
      await rm(this.layout.tmp, { recursive: true, force: true });
      // Where earlier versions kept a copy of the SSH key and the askpass script: never again in the data dir.
      await rm(join(this.layout.root, "ssh"), { recursive: true, force: true });
      await rm(join(this.layout.root, "askpass.sh"), { force: true });
      this.tmpCleaned = true;
    }
    await mkdir(this.layout.snapshots, { recursive: true });
    await mkdir(this.layout.tmp, { recursive: true });
    await mkdir(this.layout.home, { recursive: true });
  }

  /** Copies a plain folder; its id is the hash of the copy, so the snapshot is in place before it is asked for. */
  private async snapshotPlainDir(path: string): Promise<Candidate> {
    const temp = await freshTempDir(this.layout);
    try {
      const id = await copyPlainDir(path, temp);
      if (id === this.served?.id || id === this.refusedRevision?.id) {
        await rm(temp, { recursive: true, force: true });
        return { id, snapshot: () => Promise.resolve(join(this.layout.snapshots, id)) };
      }
      const dir = join(this.layout.snapshots, id);
      await publishSnapshot(temp, dir);
      return { id, snapshot: () => Promise.resolve(dir) };
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw new GitfaasError("GIT_FAILED", `copying ${path} failed: ${describeError(error)}`, { path });
    }
  }

  /** Fetches the branch into the mirror; the commit it points at is extracted only if it is asked for. */
  private async snapshotGitHead(source: Extract<RepoSource, { kind: "git" }>): Promise<Candidate> {
    const git = this.runner();
    const mirror = this.layout.mirror;
    if (!(await pathExists(join(mirror, "HEAD")))) {
      await rm(mirror, { recursive: true, force: true });
      await git.run(["-c", "init.defaultBranch=main", "init", "--bare", "--quiet", mirror], "init");
    }
    const ref = `refs/heads/${this.options.branch}`;
    await this.withCredentials(source, (credentials) =>
      this.runner(credentials).run(
        [
          `--git-dir=${mirror}`,
          // Background gc would keep writing into the mirror after the sync has returned.
          "-c",
          "gc.autoDetach=false",
          // A redirect would take the request, and the credentials asked for next, to another host.
          "-c",
          "http.followRedirects=false",
          "fetch",
          "--quiet",
          "--no-tags",
          "--no-write-fetch-head",
          "--force",
          "--end-of-options",
          source.url,
          `+${ref}:${ref}`,
        ],
        "fetch",
      ),
    );
    const sha = (
      await git.run(
        [`--git-dir=${mirror}`, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`],
        "rev-parse",
      )
    ).trim();
    if (!/^[0-9a-f]{40,64}$/.test(sha)) {
      throw new GitfaasError("GIT_FAILED", `branch ${this.options.branch} did not resolve to a commit`);
    }
    return { id: sha, snapshot: () => this.materialiseCommit(git, sha) };
  }

  private async materialiseCommit(git: GitRunner, sha: string): Promise<string> {
    const dir = join(this.layout.snapshots, sha);
    if (await pathExists(dir)) return dir;
    const temp = await freshTempDir(this.layout);
    try {
      await git.extractCommit(this.layout.mirror, sha, temp);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw error;
    }
    await publishSnapshot(temp, dir);
    return dir;
  }

  /**
   * Runs `use` with the environment that authenticates git to `source`. Whatever that needs on disk
   * (a 0600 copy of the SSH key, the askpass script) lives in a fresh 0700 folder under the system
   * temp dir, made for this one call and removed right after it.
   */
  private async withCredentials<R>(
    source: Extract<RepoSource, { kind: "git" }>,
    use: (env: Record<string, string>) => Promise<R>,
  ): Promise<R> {
    let made: Promise<string> | undefined;
    const privateDir = (): Promise<string> => {
      made ??= mkdtemp(join(tmpdir(), "gitfaas-git-")).then(async (dir) => {
        this.privateDirs.add(dir);
        await chmod(dir, 0o700);
        return dir;
      });
      return made;
    };
    try {
      return await use(await authEnvironment(this.options.auth, source, privateDir));
    } finally {
      const dir = await made?.catch(() => undefined);
      if (dir !== undefined) await this.removePrivateDir(dir);
    }
  }

  private async removePrivateDir(dir: string): Promise<void> {
    try {
      await rm(dir, { recursive: true, force: true });
      this.privateDirs.delete(dir);
    } catch (error) {
      this.logger.warn({ dir, error: describeError(error) }, "could not remove a private git folder");
    }
  }

  private runner(credentials: Readonly<Record<string, string>> = {}): GitRunner {
    const env: Record<string, string> = {
      PATH: this.options.searchPath ?? DEFAULT_SEARCH_PATH,
      HOME: this.layout.home,
      // Messages in English: failures are classified by their text.
      LC_ALL: "C",
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      // No ext:: or other transports that run commands named by the URL.
      GIT_ALLOW_PROTOCOL: "http:https:ssh:file",
      ...credentials,
    };
    return new GitRunner({
      gitBinary: this.options.gitBinary ?? "git",
      env,
      scrub: (text) => this.scrub(text),
      timeoutMs: this.options.gitTimeoutMs ?? DEFAULT_GIT_TIMEOUT_MS,
    });
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private upToDate(): SyncOutcome<T> {
    this.lastSyncAt = this.now();
    this.lastError = null;
    this.refusedRevision = undefined;
    this.logger.debug({ revision: this.served?.id }, "repository unchanged");
    return { served: this.served };
  }

  private async serve(revision: Revision<T>): Promise<SyncOutcome<T>> {
    const previous = this.served?.id ?? null;
    this.lastSyncAt = this.now();
    this.lastError = null;
    this.refusedRevision = undefined;
    this.logger.info({ revision: revision.id, previous }, "serving new revision");
    await this.install(revision);
    return { served: this.served };
  }

  /** Makes `revision` the one served: records it as last good, prunes, tells the listeners. */
  private async install(revision: Revision<T>): Promise<void> {
    const replaced = this.served;
    // The single assignment that switches what current() returns.
    this.served = Object.freeze(revision);
    if (replaced !== undefined && replaced.id !== revision.id) {
      this.retired = [
        { id: replaced.id, at: this.now().getTime() },
        ...this.retired.filter((old) => old.id !== replaced.id && old.id !== revision.id),
      ];
    }
    const record = {
      revision: revision.id,
      repo: displayRepo(this.options.repo),
      branch: this.options.branch,
    };
    await writeLastGood(this.layout, record).catch((error: unknown) => {
      this.logger.warn({ error: describeError(error) }, "could not record the last good revision");
    });
    const keep = new Set([revision.id, ...this.keptRetired().map((old) => old.id)]);
    await pruneSnapshots(this.layout.snapshots, keep).catch((error: unknown) => {
      this.logger.warn({ error: describeError(error) }, "could not delete old snapshots");
    });
    for (const listener of this.listeners) {
      try {
        listener(revision);
      } catch (error) {
        this.logger.error({ error: this.scrub(describeError(error)) }, "revision listener failed");
      }
    }
  }

  /**
   * Runs queued against an earlier revision work in its snapshot, maybe long after newer ones
   * arrived: a previous snapshot stays while younger than the grace (the two latest always), up to
   * MAX_SNAPSHOTS in all. Forgets the rest, which pruning then deletes.
   */
  private keptRetired(): readonly { id: string; at: number }[] {
    const grace = this.options.snapshotGraceMs ?? DEFAULT_SNAPSHOT_GRACE_MS;
    const now = this.now().getTime();
    this.retired = this.retired
      .filter((old, index) => index < MIN_PREVIOUS_SNAPSHOTS || now - old.at < grace)
      .slice(0, MAX_SNAPSHOTS - 1);
    return this.retired;
  }

  private refusalFor(revision: string | null, error: unknown): Refusal {
    const code = isGitfaasError(error) ? error.code : "GIT_FAILED";
    return { revision, code, message: this.scrub(describeError(error)) };
  }

  private refuse(refusal: Refusal, log: boolean): SyncOutcome<T> {
    this.lastError = { ...refusal, at: this.now() };
    // `log` is false only for a commit already refused (and told) at an earlier sync.
    if (log) this.options.onRefused?.({ revision: refusal.revision, code: refusal.code });
    if (log) {
      this.logger.warn(
        {
          revision: refusal.revision,
          code: refusal.code,
          error: refusal.message,
          serving: this.served?.id ?? null,
        },
        "revision refused; keeping the last good one",
      );
    }
    return { served: this.served, refused: { ...refusal } };
  }

  private async dropUnservedSnapshot(id: string): Promise<void> {
    if (id === this.served?.id || this.retired.some((old) => old.id === id)) return;
    await rm(join(this.layout.snapshots, id), { recursive: true, force: true });
  }

  private scrub(text: string): string {
    return this.scrubber.scrub(text);
  }
}
