import { spawn, type ChildProcess } from "node:child_process";
import { createReadStream } from "node:fs";
import { appendFile, mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { join, posix } from "node:path";
import { GitfaasError } from "../../errors/index.js";
import { isFunctionUid } from "../../ids/index.js";
import type { Logger } from "../../logging/index.js";
import type {
  ApplyOutcome,
  FunctionLaunch,
  LogOutput,
  LogRange,
  Runtime,
  StatusListener,
  StatusReport,
  UnfinishedFunction,
} from "../port.js";
import { planRun, type LocalContainer, type LocalRunPlan } from "./pod-spec.js";
import { StatusListeners } from "../status-listeners.js";
import { Semaphore } from "./semaphore.js";

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

const KILL_GRACE_MS = 2000;
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Runs each container of a Job or bare Pod as a child process on this machine, so that a topic can
 * be tried with no cluster. Images are not pulled: commands run on the host, in the snapshot of the
 * revision they came from; emptyDir and ephemeral volumes are fresh folders removed after each attempt.
 */
export class LocalRuntime implements Runtime {
  readonly name = "local";
  private readonly statuses: StatusListeners;
  private readonly slots: Semaphore;
  private readonly children = new Set<ChildProcess>();
  private readonly executions = new Set<Promise<void>>();
  private closing = false;
  /** Aborted at close: ends retry pauses at once. */
  private readonly stopping = new AbortController();
  private readonly runsDir: string;

  constructor(private readonly options: LocalRuntimeOptions) {
    this.statuses = new StatusListeners(options.logger);
    this.slots = new Semaphore(Math.max(1, options.concurrency));
    this.runsDir = join(options.dataDir, "runs");
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
    await mkdir(runDir, { recursive: true });
    const execution = this.execute(launch, plans, runDir).catch((error: unknown) => {
      this.options.logger.error({ err: error, functionUid: launch.functionUid }, "local run crashed");
      this.report({
        functionUid: launch.functionUid,
        status: "failed",
        finishedAt: new Date(),
        reason: `local runtime error: ${error instanceof Error ? error.message : String(error)}`,
      });
    });
    this.executions.add(execution);
    void execution.finally(() => this.executions.delete(execution));
    const queued = this.slots.queued > 0 ? " (queued: the concurrency limit is reached)" : "";
    return {
      objects: plans.map((plan) => ({ kind: plan.kind, name: plan.name, namespace: undefined })),
      message: `started ${plans.map((plan) => `${plan.kind}/${plan.name}`).join(", ")} locally${queued}`,
    };
  }

  private async execute(
    launch: FunctionLaunch,
    plans: readonly LocalRunPlan[],
    runDir: string,
  ): Promise<void> {
    const release = await this.slots.acquire();
    try {
      if (this.closing) {
        this.report({
          functionUid: launch.functionUid,
          status: "failed",
          finishedAt: new Date(),
          reason: "gitfaas stopped before it ran",
        });
        return;
      }
      const startedAt = new Date();
      let attempts = 0;
      const onAttempt = (attempt: number): void => {
        if (attempt <= attempts) return;
        attempts = attempt;
        this.report({ functionUid: launch.functionUid, status: "running", attempts, startedAt });
      };
      const results = await Promise.all(
        plans.map((plan, index) => this.runPlan(launch, plan, runDir, index, onAttempt)),
      );
      const failed = results.find((result) => !result.ok);
      this.report({
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

  private async runPlan(
    launch: FunctionLaunch,
    plan: LocalRunPlan,
    runDir: string,
    objectIndex: number,
    onAttempt: (attempt: number) => void,
  ): Promise<PlanResult> {
    const jobDeadline =
      plan.jobDeadlineSeconds === undefined ? undefined : Date.now() + plan.jobDeadlineSeconds * 1000;
    let last: AttemptResult | undefined;
    for (let attempt = 1; attempt <= plan.maxAttempts; attempt++) {
      if (this.closing) return { ok: false, attempts: attempt - 1, reason: "gitfaas stopped while it ran" };
      onAttempt(attempt);
      const scratchDir = join(runDir, `object-${objectIndex}`, `attempt-${attempt}`);
      last = await this.runAttempt(
        launch,
        plan,
        scratchDir,
        join(runDir, "output.log"),
        attempt,
        jobDeadline,
      );
      if (last.ok) return { ok: true, attempts: attempt, reason: null };
      if (last.jobDeadlineExceeded) {
        return {
          ok: false,
          attempts: attempt,
          reason: `DeadlineExceeded: ${plan.kind} ${plan.name} ran longer than ${plan.jobDeadlineSeconds}s`,
        };
      }
      if (attempt < plan.maxAttempts) {
        const delay = Math.min((this.options.retryDelayMs ?? 1000) * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
        if (jobDeadline !== undefined && Date.now() + delay >= jobDeadline) {
          return {
            ok: false,
            attempts: attempt,
            reason: `DeadlineExceeded: ${plan.kind} ${plan.name} ran longer than ${plan.jobDeadlineSeconds}s`,
          };
        }
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    }
    const tries = plan.maxAttempts === 1 ? "" : `BackoffLimitExceeded after ${plan.maxAttempts} attempts: `;
    return { ok: false, attempts: plan.maxAttempts, reason: `${tries}${last?.reason ?? "not run"}` };
  }

  private async runAttempt(
    launch: FunctionLaunch,
    plan: LocalRunPlan,
    attemptDir: string,
    logFile: string,
    attempt: number,
    jobDeadline: number | undefined,
  ): Promise<AttemptResult> {
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
    const podDeadline =
      plan.podDeadlineSeconds === undefined ? undefined : Date.now() + plan.podDeadlineSeconds * 1000;
    const deadline = Math.min(jobDeadline ?? Infinity, podDeadline ?? Infinity);
    try {
      for (const container of plan.initContainers) {
        const result = await this.runContainer(
          launch,
          plan,
          container,
          volumeDirs,
          logFile,
          attempt,
          deadline,
          jobDeadline,
        );
        if (!result.ok) return result;
      }
      const results = await Promise.all(
        plan.containers.map((container) =>
          this.runContainer(launch, plan, container, volumeDirs, logFile, attempt, deadline, jobDeadline),
        ),
      );
      return results.find((result) => !result.ok) ?? { ok: true, reason: "", jobDeadlineExceeded: false };
    } finally {
      // Fresh volumes for every attempt, gone once it ends: the local form of scale to zero.
      await rm(join(attemptDir, "volumes"), { recursive: true, force: true });
    }
  }

  private async runContainer(
    launch: FunctionLaunch,
    plan: LocalRunPlan,
    container: LocalContainer,
    volumeDirs: ReadonlyMap<string, string>,
    logFile: string,
    attempt: number,
    deadline: number,
    jobDeadline: number | undefined,
  ): Promise<AttemptResult> {
    const mounts = container.mounts.map((mount) => {
      const hostDir = volumeDirs.get(mount.volume);
      if (hostDir === undefined) {
        throw new GitfaasError(
          "UNSUPPORTED_MANIFEST",
          `${launch.path}: container ${container.name} mounts unknown volume ${mount.volume}`,
        );
      }
      return { mountPath: posix.normalize(mount.mountPath).replace(/\/$/, ""), hostDir };
    });
    const toHost = (value: string): string => mapMountedPath(value, mounts);
    const env: Record<string, string> = { ...this.options.hostEnv, GITFAAS_URL: this.options.gitfaasUrl() };
    for (const [name, value] of container.env) env[name] = toHost(value);
    const [command, ...args] = container.command.map(toHost);
    if (command === undefined)
      return { ok: false, reason: `container ${container.name} has no command`, jobDeadlineExceeded: false };

    await appendFile(
      logFile,
      `--- ${plan.kind}/${plan.name} container ${container.name}, attempt ${attempt} ---\n`,
    );
    const log = await open(logFile, "a");
    try {
      return await new Promise<AttemptResult>((resolve) => {
        let settled = false;
        let timedOut = false;
        const child = spawn(command, args, {
          cwd: launch.revisionDir,
          env,
          stdio: ["ignore", log.fd, log.fd],
          // Its own process group, so a deadline kills whatever the lambda itself started.
          detached: true,
        });
        this.children.add(child);
        const remaining = deadline - Date.now();
        const timer =
          Number.isFinite(remaining) && remaining < 2 ** 31
            ? setTimeout(
                () => {
                  timedOut = true;
                  killGroup(child, "SIGTERM");
                  setTimeout(() => killGroup(child, "SIGKILL"), KILL_GRACE_MS).unref();
                },
                Math.max(0, remaining),
              )
            : undefined;
        const finish = (result: AttemptResult): void => {
          if (settled) return;
          settled = true;
          if (timer) clearTimeout(timer);
          this.children.delete(child);
          resolve(result);
        };
        child.on("error", (error: NodeJS.ErrnoException) => {
          const reason =
            error.code === "ENOENT"
              ? `container ${container.name}: command not found on this host: ${command}`
              : `container ${container.name}: ${error.message}`;
          void appendFile(logFile, `${reason}\n`).catch(() => undefined);
          finish({ ok: false, reason, jobDeadlineExceeded: false });
        });
        child.on("exit", (code, signal) => {
          if (timedOut) {
            const jobWide = jobDeadline !== undefined && Date.now() >= jobDeadline - 50;
            finish({
              ok: false,
              reason: `container ${container.name}: DeadlineExceeded`,
              jobDeadlineExceeded: jobWide,
            });
          } else if (code === 0) {
            finish({ ok: true, reason: "", jobDeadlineExceeded: false });
          } else {
            const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
            finish({ ok: false, reason: `container ${container.name} ${how}`, jobDeadlineExceeded: false });
          }
        });
      });
    } finally {
      await log.close();
    }
  }

  async reconcile(unfinished: readonly UnfinishedFunction[]): Promise<void> {
    // Child processes die with the gitfaas that started them: nothing found unfinished can still run.
    for (const fn of unfinished) {
      this.report({
        functionUid: fn.functionUid,
        status: "failed",
        finishedAt: new Date(),
        reason: "interrupted: gitfaas restarted while this ran on the local runtime",
      });
    }
  }

  async logs(functionUid: string, range: LogRange = {}): Promise<LogOutput | undefined> {
    if (!isFunctionUid(functionUid)) return undefined;
    const runDir = join(this.runsDir, functionUid);
    const file = join(runDir, "output.log");
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      // A run folder without output yet: the function is known, it printed nothing so far.
      if (!(await stat(runDir).catch(() => undefined))) return undefined;
      return { size: 0, stream: Readable.from([]) };
    }
    const start = Math.max(0, size - (range.tail ?? size));
    if (start >= size) return { size: 0, stream: Readable.from([]) };
    // Ends at the size seen now, so that content-length holds while a running lambda still writes.
    return { size: size - start, stream: createReadStream(file, { start, end: size - 1 }) };
  }

  async prune(before: Date): Promise<void> {
    const entries = await readdir(this.runsDir).catch(() => [] as string[]);
    for (const entry of entries) {
      const info = await stat(join(this.runsDir, entry)).catch(() => undefined);
      if (info && info.mtime < before) await rm(join(this.runsDir, entry), { recursive: true, force: true });
    }
  }

  async ping(): Promise<void> {
    await mkdir(this.runsDir, { recursive: true });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.stopping.abort();
    for (const child of this.children) killGroup(child, "SIGTERM");
    // A lambda that ignores SIGTERM must not hold gitfaas's exit.
    const escalate = setTimeout(() => {
      for (const child of this.children) killGroup(child, "SIGKILL");
    }, KILL_GRACE_MS);
    await Promise.allSettled([...this.executions]);
    clearTimeout(escalate);
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

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
