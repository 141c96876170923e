import { appendFile, mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { join, posix } from "node:path";
import { GitfaasError } from "../../errors/index.js";
import type { Logger } from "../../logging/index.js";
import type {
  ApplyOutcome,
  FunctionLaunch,
  Runtime,
  StatusListener,
  StatusReport,
  UnfinishedFunction,
} from "../port.js";
import { planRun, type LocalContainer, type LocalRunPlan } from "./pod-spec.js";
import { StatusListeners } from "../status-listeners.js";
import { Semaphore } from "./semaphore.js";
import { LocalRunFolders } from "./run-files.js";
import { adoptSupervised, compactLog, startSupervised, type SupervisedRun } from "./supervised.js";
import type { ExitRecord, SupervisorSpec } from "./supervisor.js";

export interface LocalRuntimeOptions {
  /** Runs keep their output and scratch volumes under `<dataDir>/runs/<function uid>/`. */
  readonly dataDir: string;
  /** Given to lambdas as GITFAAS_URL unless their manifest sets it (known once the server listens). */
  readonly gitfaasUrl: () => string;
  /** Runs beyond this many wait their turn. */
  readonly concurrency: number;
  /** The only variables of gitfaas's own environment a lambda inherits (PATH, HOME…): never its secrets. */
  readonly hostEnv: Readonly<Record<string, string>>;
  /** Pause before the second attempt; it doubles for each further one, as Kubernetes' backoff does. */
  readonly retryDelayMs?: number;
  /**
   * Resolves once `gitfaasUrl` is known. Runs taken over at start (before the server listens) start
   * no container before it; absent: known from the start.
   */
  readonly listening?: Promise<void>;
  /** Bytes of output kept per function (head and tail); default 8 MiB. */
  readonly logLimitBytes?: number;
  /** How often the end of a run adopted from an earlier gitfaas is looked for; default 200 ms. */
  readonly adoptPollMs?: number;
  /**
   * The store is shared with other replicas: an unfinished function with no folder here is another
   * replica's, not one this runtime lost.
   */
  readonly ownRunsOnly?: boolean;
  readonly logger: Logger;
}

interface AttemptResult {
  readonly ok: boolean;
  readonly reason: string;
  readonly jobDeadlineExceeded: boolean;
}

interface PlanResult {
  readonly ok: boolean;
  readonly attempts: number;
  readonly reason: string | null;
}

/** How a function's run gets its slot (see execute). */
interface RunStart {
  readonly resumedFrom?: Date;
  readonly slot?: Promise<() => void>;
}

/** What one object's attempts share. `firstAttempt` is above 1 when a run is taken over after a restart. */
interface PlanContext {
  readonly launch: FunctionLaunch;
  readonly plan: LocalRunPlan;
  readonly runDir: string;
  readonly objectIndex: number;
  readonly jobDeadline: number | undefined;
  readonly firstAttempt: number;
}

interface AttemptContext extends PlanContext {
  readonly attempt: number;
  readonly volumeDirs: ReadonlyMap<string, string>;
  /** The earlier of the Job's and the pod's deadline. */
  readonly deadline: number;
}

/** `launch.json`: kept from apply until the function settles, so that a restart can queue or resume it. */
interface KeptLaunch {
  readonly launch: FunctionLaunch;
  /** Orders the functions queued again after a restart as they first came. */
  readonly order: number;
}

/** What a run folder says about a function found unfinished at start. */
type RunState =
  | { readonly kind: "missing" }
  | { readonly kind: "settled"; readonly report: StatusReport }
  | { readonly kind: "kept"; readonly kept: KeptLaunch; readonly startedAt: Date | undefined }
  /** `ran`: containers were started for it. */
  | { readonly kind: "unknown"; readonly ran: boolean };

const KILL_GRACE_MS = 2000;
const MAX_RETRY_DELAY_MS = 30_000;
const DEFAULT_LOG_LIMIT = 8 * 1024 * 1024;

/**
 * Runs each container of a Job or bare Pod as a child process on this machine, so that a topic can
 * be tried with no cluster. Images are not pulled: commands run on the host, in the snapshot of the
 * revision they came from; emptyDir and ephemeral volumes are fresh folders removed after each attempt.
 *
 * Each container runs under a supervisor (a shell, supervised.ts; its records: supervisor.ts) that outlives a crash of gitfaas and records
 * how the command ended. A run folder `<dataDir>/runs/<function uid>/` holds `launch.json` (from
 * apply until the function settles), `run.json` (once it took a slot), `procs/<object>-<attempt>-
 * <container>/` (each supervisor's records), `result.json` (the final status) and `output.log`.
 * After a restart, `reconcile` reads them: a settled function is reported again, one that waited
 * for a slot waits again, one that ran is taken over where it was: its live runs are adopted and
 * awaited, containers not started yet start, and further attempts follow as if nothing happened.
 */
export class LocalRuntime extends LocalRunFolders implements Runtime {
  readonly name = "local";
  private readonly statuses: StatusListeners;
  private readonly slots: Semaphore;
  private readonly live = new Set<SupervisedRun>();
  private readonly executions = new Set<Promise<void>>();
  private closing = false;
  /** Aborted at close: ends retry pauses at once. */
  private readonly stopping = new AbortController();
  private applied = 0;

  constructor(private readonly options: LocalRuntimeOptions) {
    super(options.dataDir);
    this.statuses = new StatusListeners(options.logger);
    this.slots = new Semaphore(Math.max(1, options.concurrency));
  }

  private get logLimit(): number {
    return this.options.logLimitBytes ?? DEFAULT_LOG_LIMIT;
  }

  onStatus(listener: StatusListener): void {
    this.statuses.add(listener);
  }

  private report(report: StatusReport | undefined): void {
    this.statuses.report(report);
  }

  async apply(launch: FunctionLaunch): Promise<ApplyOutcome> {
    if (this.closing) throw new GitfaasError("RUNTIME_FAILED", "the local runtime is shutting down");
    // Every object is read before anything starts, so a manifest is run whole or not at all.
    const plans = launch.objects.map((object) => planRun(object, launch.path));
    const runDir = join(this.runsDir, launch.functionUid);
    // Its place in the queue is taken now, in the order of the calls: the writes below may end in
    // another order when launches come faster than they are written (from the local runner, they do).
    const slot = this.slots.acquire();
    const queued = this.slots.queued > 0;
    try {
      await mkdir(runDir, { recursive: true });
      // Only the owner reads it: rendered env values can be secrets.
      const kept: KeptLaunch = { launch, order: Date.now() * 1000 + (this.applied++ % 1000) };
      await writeFile(join(runDir, "launch.json"), JSON.stringify(kept), { mode: 0o600 });
    } catch (error) {
      void slot.then((release) => release());
      throw error;
    }
    this.track(launch.functionUid, this.execute(launch, plans, runDir, { slot }));
    return applyOutcome(plans, queued);
  }

  /** Of these functions, those whose launch this runtime never kept (no launch, no result on disk). */
  async unkept(functionUids: readonly string[]): Promise<Set<string>> {
    const states = await Promise.all(
      functionUids.map(async (uid) => ({ uid, state: await readRunState(join(this.runsDir, uid)) })),
    );
    return new Set(
      states
        .filter(({ state }) => state.kind === "missing" || (state.kind === "unknown" && !state.ran))
        .map(({ uid }) => uid),
    );
  }

  private track(functionUid: string, run: Promise<void>): void {
    const execution = run.catch((error: unknown) => {
      this.options.logger.error({ err: error, functionUid }, "local run crashed");
      this.report({
        functionUid,
        status: "failed",
        finishedAt: new Date(),
        reason: `local runtime error: ${error instanceof Error ? error.message : String(error)}`,
      });
    });
    this.executions.add(execution);
    void execution.finally(() => this.executions.delete(execution));
  }

  /**
   * `start.resumedFrom`: the start of a run taken over after a restart; it takes its slot at once.
   * `start.slot`: its place in the queue, taken by apply; else one is taken now.
   */
  private async execute(
    launch: FunctionLaunch,
    plans: readonly LocalRunPlan[],
    runDir: string,
    start: RunStart,
  ): Promise<void> {
    const { resumedFrom } = start;
    const release = resumedFrom ? this.slots.take() : await (start.slot ?? this.slots.acquire());
    try {
      // Never started: launch.json stays, and the next start queues it again.
      if (this.closing && !resumedFrom) return;
      const startedAt = resumedFrom ?? new Date();
      if (!resumedFrom) await writeFile(join(runDir, "run.json"), JSON.stringify({ startedAt }));
      let attempts = 0;
      const onAttempt = (attempt: number): void => {
        if (attempt <= attempts) return;
        attempts = attempt;
        this.report({ functionUid: launch.functionUid, status: "running", attempts, startedAt });
      };
      const contexts = await Promise.all(
        plans.map((plan, objectIndex) => this.planContext(launch, plan, runDir, { objectIndex, startedAt })),
      );
      const results = await Promise.all(contexts.map((context) => this.runPlan(context, onAttempt)));
      const failed = results.find((result) => !result.ok);
      await this.settle(runDir, {
        functionUid: launch.functionUid,
        status: failed ? "failed" : "succeeded",
        attempts: Math.max(...results.map((result) => result.attempts)),
        startedAt,
        finishedAt: new Date(),
        reason: failed?.reason ?? null,
      });
    } finally {
      release();
    }
  }

  private async planContext(
    launch: FunctionLaunch,
    plan: LocalRunPlan,
    runDir: string,
    at: { objectIndex: number; startedAt: Date },
  ): Promise<PlanContext> {
    const jobDeadline =
      plan.jobDeadlineSeconds === undefined
        ? undefined
        : at.startedAt.getTime() + plan.jobDeadlineSeconds * 1000;
    // Attempts already begun (by an earlier gitfaas): the last one is taken over, not run again.
    const prefix = `o${at.objectIndex}-a`;
    const begun = (await readdir(join(runDir, "procs")).catch(() => [] as string[]))
      .filter((entry) => entry.startsWith(prefix))
      .map((entry) => Number.parseInt(entry.slice(prefix.length), 10))
      .filter((attempt) => Number.isInteger(attempt));
    const firstAttempt = Math.max(1, ...begun);
    return { launch, plan, runDir, objectIndex: at.objectIndex, jobDeadline, firstAttempt };
  }

  /**
   * The final status is on disk before anyone hears it: a crash in between reports it again. A disk
   * that refuses the bookkeeping (full) does not change how the function ended: it is reported anyway.
   */
  private async settle(runDir: string, final: StatusReport): Promise<void> {
    try {
      await compactLog(join(runDir, "output.log"), this.logLimit);
      await writeFile(join(runDir, "result.json"), JSON.stringify(final));
      await rm(join(runDir, "launch.json"), { force: true });
    } catch (error) {
      this.options.logger.warn(
        { err: error, functionUid: final.functionUid },
        "could not record a run's end on disk; reporting it anyway",
      );
    }
    this.report(final);
  }

  private async runPlan(context: PlanContext, onAttempt: (attempt: number) => void): Promise<PlanResult> {
    const { plan, jobDeadline } = context;
    const deadlineExceeded = (attempt: number): PlanResult => ({
      ok: false,
      attempts: attempt,
      reason: `DeadlineExceeded: ${plan.kind} ${plan.name} ran longer than ${plan.jobDeadlineSeconds}s`,
    });
    let last: AttemptResult | undefined;
    for (let attempt = context.firstAttempt; attempt <= plan.maxAttempts; attempt++) {
      // The first attempt may be one taken over at start: it is awaited (and ended by close), never
      // abandoned while it runs.
      if (this.closing && attempt > context.firstAttempt)
        return { ok: false, attempts: attempt - 1, reason: "gitfaas stopped while it ran" };
      onAttempt(attempt);
      last = await this.runAttempt(context, attempt);
      if (last.ok) return { ok: true, attempts: attempt, reason: null };
      if (last.jobDeadlineExceeded) return deadlineExceeded(attempt);
      if (attempt < plan.maxAttempts) {
        const delay = Math.min((this.options.retryDelayMs ?? 1000) * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
        if (jobDeadline !== undefined && Date.now() + delay >= jobDeadline) return deadlineExceeded(attempt);
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
    const tries = plan.maxAttempts === 1 ? "" : `BackoffLimitExceeded after ${plan.maxAttempts} attempts: `;
    return { ok: false, attempts: plan.maxAttempts, reason: `${tries}${last?.reason ?? "not run"}` };
  }

  private async runAttempt(context: PlanContext, attempt: number): Promise<AttemptResult> {
    const { plan } = context;
    const attemptDir = join(context.runDir, `object-${context.objectIndex}`, `attempt-${attempt}`);
    const volumeDirs = new Map<string, string>();
    for (const volume of plan.volumes) {
      if (volume.type === "hostPath") {
        volumeDirs.set(volume.name, volume.path);
      } else {
        const dir = join(attemptDir, "volumes", volume.name);
        await mkdir(dir, { recursive: true });
        volumeDirs.set(volume.name, dir);
      }
    }
    // An attempt taken over after a restart counts its pod deadline from the restart.
    const podDeadline =
      plan.podDeadlineSeconds === undefined ? undefined : Date.now() + plan.podDeadlineSeconds * 1000;
    const deadline = Math.min(context.jobDeadline ?? Infinity, podDeadline ?? Infinity);
    const at: AttemptContext = { ...context, attempt, volumeDirs, deadline };
    try {
      for (const [index, container] of plan.initContainers.entries()) {
        const result = await this.runContainer(at, container, `init${index}`);
        if (!result.ok) return result;
      }
      const results = await Promise.all(
        plan.containers.map((container, index) => this.runContainer(at, container, `main${index}`)),
      );
      return results.find((result) => !result.ok) ?? { ok: true, reason: "", jobDeadlineExceeded: false };
    } finally {
      // Fresh volumes for every attempt, gone once it ends: the local form of scale to zero.
      await rm(join(attemptDir, "volumes"), { recursive: true, force: true });
    }
  }

  /** Takes over the container's run if an earlier gitfaas started it, or starts it. */
  private async runContainer(
    context: AttemptContext,
    container: LocalContainer,
    slot: string,
  ): Promise<AttemptResult> {
    const procDir = join(context.runDir, "procs", `o${context.objectIndex}-a${context.attempt}-${slot}`);
    const adopted = await adoptSupervised(procDir, this.options.adoptPollMs ?? 200);
    if (adopted) return this.watch(context, container, adopted);
    await this.listening();
    if (this.closing)
      return { ok: false, reason: "gitfaas stopped before it started", jobDeadlineExceeded: false };
    const spec = this.supervisorSpec(context, container);
    if (typeof spec === "string") return { ok: false, reason: spec, jobDeadlineExceeded: false };
    await rm(procDir, { recursive: true, force: true });
    await mkdir(procDir, { recursive: true });
    await appendFile(
      spec.logFile,
      `--- ${context.plan.kind}/${context.plan.name} container ${container.name}, attempt ${context.attempt} ---\n`,
    );
    return this.watch(context, container, await startSupervised(procDir, spec));
  }

  private async listening(): Promise<void> {
    if (!this.options.listening) return;
    const stopped = new Promise<void>((resolve) =>
      this.stopping.signal.addEventListener("abort", () => resolve()),
    );
    await Promise.race([this.options.listening, stopped]);
  }

  /** The supervisor's spec, or why the container cannot run. */
  private supervisorSpec(context: AttemptContext, container: LocalContainer): SupervisorSpec | string {
    const mounts = container.mounts.map((mount) => {
      const hostDir = context.volumeDirs.get(mount.volume);
      if (hostDir === undefined) {
        throw new GitfaasError(
          "UNSUPPORTED_MANIFEST",
          `${context.launch.path}: container ${container.name} mounts unknown volume ${mount.volume}`,
        );
      }
      return { mountPath: posix.normalize(mount.mountPath).replace(/\/$/, ""), hostDir };
    });
    const toHost = (value: string): string => mapMountedPath(value, mounts);
    const env: Record<string, string> = { ...this.options.hostEnv, GITFAAS_URL: this.options.gitfaasUrl() };
    for (const [name, value] of container.env) env[name] = toHost(value);
    const [command, ...args] = container.command.map(toHost);
    if (command === undefined) return `container ${container.name} has no command`;
    return {
      command,
      args,
      cwd: context.launch.revisionDir,
      env,
      logFile: join(context.runDir, "output.log"),
      logLimit: this.logLimit,
    };
  }

  /** Waits for the run to end, ending its process group at the deadline. */
  private async watch(
    context: AttemptContext,
    container: LocalContainer,
    run: SupervisedRun,
  ): Promise<AttemptResult> {
    this.live.add(run);
    // Taken over while gitfaas stops: ended like the runs close() found.
    if (this.closing) {
      run.kill("SIGTERM");
      setTimeout(() => run.kill("SIGKILL"), KILL_GRACE_MS).unref();
    }
    let timedOut = false;
    const remaining = context.deadline - Date.now();
    const timer =
      Number.isFinite(remaining) && remaining < 2 ** 31
        ? setTimeout(
            () => {
              timedOut = true;
              run.kill("SIGTERM");
              setTimeout(() => run.kill("SIGKILL"), KILL_GRACE_MS).unref();
            },
            Math.max(0, remaining),
          )
        : undefined;
    try {
      const ended = await run.ended;
      if (timedOut) {
        const jobWide = context.jobDeadline !== undefined && Date.now() >= context.jobDeadline - 50;
        return {
          ok: false,
          reason: `container ${container.name}: DeadlineExceeded`,
          jobDeadlineExceeded: jobWide,
        };
      }
      return attemptResult(container.name, ended);
    } finally {
      if (timer) clearTimeout(timer);
      this.live.delete(run);
    }
  }

  /**
   * After a restart: settles or takes over the functions the store still believes unfinished, and
   * returns those it took over (running or waiting for a slot): they hold their topic's slot.
   */
  async reconcile(unfinished: readonly UnfinishedFunction[]): Promise<readonly string[]> {
    const taken: { uid: string; kept: KeptLaunch; plans: LocalRunPlan[]; startedAt: Date | undefined }[] = [];
    for (const fn of unfinished) {
      const runDir = join(this.runsDir, fn.functionUid);
      const state = await readRunState(runDir);
      if (state.kind === "missing") {
        // Never reached this runtime (or, with a shared store, another replica's).
        if (!this.options.ownRunsOnly) this.interrupted(fn.functionUid, "before it started");
      } else if (state.kind === "settled") {
        this.report(state.report);
      } else if (state.kind === "kept") {
        try {
          const plans = state.kept.launch.objects.map((object) => planRun(object, state.kept.launch.path));
          taken.push({ uid: fn.functionUid, kept: state.kept, plans, startedAt: state.startedAt });
        } catch (error) {
          await endRecordedRuns(runDir);
          this.interrupted(fn.functionUid, `and could not take it over: ${describe(error)}`);
        }
      } else {
        // A run folder this version cannot take over: its processes end before it is called failed.
        await endRecordedRuns(runDir);
        this.interrupted(fn.functionUid, "while it ran");
      }
    }
    // Runs that had started take their slots first (even beyond the limit), then the queue in its order.
    taken.sort(
      (a, b) =>
        Number(a.startedAt === undefined) - Number(b.startedAt === undefined) || a.kept.order - b.kept.order,
    );
    // Started together after every await above, so that the caller hears of none finishing before it
    // has counted them.
    for (const { uid, kept, plans, startedAt } of taken) {
      this.track(uid, this.execute(kept.launch, plans, join(this.runsDir, uid), { resumedFrom: startedAt }));
    }
    return taken.map((entry) => entry.uid);
  }

  private interrupted(functionUid: string, when: string): void {
    this.report({
      functionUid,
      status: "failed",
      finishedAt: new Date(),
      reason: `interrupted: gitfaas restarted ${when} on the local runtime`,
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.stopping.abort();
    for (const run of this.live) run.kill("SIGTERM");
    // A lambda that ignores SIGTERM must not hold gitfaas's exit.
    const escalate = setTimeout(() => {
      for (const run of this.live) run.kill("SIGKILL");
    }, KILL_GRACE_MS);
    await Promise.allSettled([...this.executions]);
    clearTimeout(escalate);
  }
}

/** What apply answers: the objects started, and whether they wait for a slot. */
export function applyOutcome(plans: readonly LocalRunPlan[], queued: boolean): ApplyOutcome {
  return {
    objects: plans.map((plan) => ({ kind: plan.kind, name: plan.name, namespace: undefined })),
    message: `started ${plans.map((plan) => `${plan.kind}/${plan.name}`).join(", ")} locally${queued ? " (queued: the concurrency limit is reached)" : ""}`,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function attemptResult(containerName: string, ended: ExitRecord | undefined): AttemptResult {
  const failed = (reason: string): AttemptResult => ({ ok: false, reason, jobDeadlineExceeded: false });
  if (ended === undefined)
    return failed(`container ${containerName} was killed (no exit status was recorded)`);
  if ("spawnError" in ended) {
    return failed(
      ended.notFound
        ? `container ${containerName}: command not found on this host: ${ended.spawnError.replace(/^spawn (.*) ENOENT$/, "$1")}`
        : `container ${containerName}: ${ended.spawnError}`,
    );
  }
  if (ended.code === 0) return { ok: true, reason: "", jobDeadlineExceeded: false };
  return failed(
    ended.signal
      ? `container ${containerName} was killed by ${ended.signal}`
      : `container ${containerName} exited with code ${ended.code}`,
  );
}

async function readRunState(runDir: string): Promise<RunState> {
  const read = async <T>(name: string): Promise<T | undefined> => {
    try {
      return JSON.parse(await readFile(join(runDir, name), "utf8")) as T;
    } catch {
      return undefined;
    }
  };
  if (!(await stat(runDir).catch(() => undefined))) return { kind: "missing" };
  const result = await read<StatusReport>("result.json");
  if (result) {
    const revive = (value: Date | string | null | undefined) => (value ? new Date(value) : null);
    return {
      kind: "settled",
      report: { ...result, startedAt: revive(result.startedAt), finishedAt: revive(result.finishedAt) },
    };
  }
  const kept = await read<KeptLaunch>("launch.json");
  if (!kept)
    return { kind: "unknown", ran: (await stat(join(runDir, "procs")).catch(() => undefined)) !== undefined };
  const run = await read<{ startedAt: string }>("run.json");
  return { kind: "kept", kept, startedAt: run ? new Date(run.startedAt) : undefined };
}

/** Ends, with their whole process groups, the runs recorded in a folder that cannot be taken over. */
async function endRecordedRuns(runDir: string): Promise<void> {
  const procs = await readdir(join(runDir, "procs")).catch(() => [] as string[]);
  for (const entry of procs) {
    const run = await adoptSupervised(join(runDir, "procs", entry), 50);
    run?.kill("SIGKILL");
    await run?.ended;
  }
}

/**
 * A volume cannot be mounted at its mountPath without a container, so a path that starts with a
 * mountPath (in args or env values) is pointed at the folder standing in for that volume.
 */
export function mapMountedPath(
  value: string,
  mounts: readonly { readonly mountPath: string; readonly hostDir: string }[],
): string {
  const longestFirst = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const { mountPath, hostDir } of longestFirst) {
    if (mountPath === "") continue;
    if (value === mountPath || value.startsWith(`${mountPath}/`))
      return hostDir + value.slice(mountPath.length);
  }
  return value;
}
