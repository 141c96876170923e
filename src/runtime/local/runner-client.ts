import { spawn, type ChildProcessByStdio } from "node:child_process";
import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { GitfaasError } from "../../errors/index.js";
import type { Logger } from "../../logging/index.js";
import type { ApplyOutcome, FunctionLaunch, Runtime, StatusListener, UnfinishedFunction } from "../port.js";
import { StatusListeners } from "../status-listeners.js";
import { applyOutcome, type LocalRuntimeOptions } from "./local-runtime.js";
import { planRun } from "./pod-spec.js";
import { LocalRunFolders } from "./run-files.js";
import {
  receive,
  revivedReport,
  send,
  type FromRunner,
  type RunnerSettings,
  type ToRunner,
} from "./runner-protocol.js";
import { processRecord, stillRunning, writeAtomically, type SupervisorRecord } from "./supervisor.js";

type RunnerProcess = ChildProcessByStdio<Writable, Readable, null>;

/** How long a runner left by a killed gitfaas may take to keep what it was handed, before it is ended. */
const PREVIOUS_RUNNER_GRACE_MS = 30_000;

/** Node flags the runner needs too (a loader such as tsx in development); never --inspect and the like. */
const INHERITED_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

function loaderFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  execArgv.forEach((flag, index) => {
    const name = flag.split("=", 1)[0] ?? flag;
    if (!INHERITED_FLAGS.has(name)) return;
    const value = flag.includes("=") ? undefined : execArgv[index + 1];
    kept.push(...(value === undefined ? [flag] : [flag, value]));
  });
  return kept;
}

/** runner-main, compiled (.js) or run from source (.ts, in tests and the benches). */
const RUNNER_ENTRY = fileURLToPath(
  new URL(`./runner-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/**
 * The local runtime as gitfaas uses it: the runs themselves are started and watched by a local
 * runner process (runner-main.ts), so that a publish is answered once its request is recorded and
 * its launch is in the runner's pipe, with no fork and no run-folder bookkeeping on gitfaas's event
 * loop. Output and pruning are read straight from the run folders.
 *
 * Nothing accepted is lost when a process dies: gitfaas killed, the runner still reads what is in its
 * pipe, keeps it on disk, and exits; the next gitfaas waits for it to be gone before it takes the runs
 * over. The runner killed, gitfaas starts another and hands it every function not finished yet: the
 * launches it had not kept are applied again, the others are taken over from their run folders.
 */
export class LocalRunnerClient extends LocalRunFolders implements Runtime {
  readonly name = "local";
  private readonly statuses: StatusListeners;
  private runner: Promise<RunnerProcess> | undefined;
  /** Handed to a runner that has not said it kept them yet. */
  private readonly unkept = new Map<string, FunctionLaunch>();
  /** Handed over and not finished. */
  private readonly unsettled = new Set<string>();
  private readonly calls = new Map<number, (answer: Extract<FromRunner, { type: "done" }>) => void>();
  private nextCall = 1;
  private closing = false;
  /** Calls waiting for the runner's answer (see hold). */
  private holding = 0;

  constructor(private readonly options: LocalRuntimeOptions) {
    super(options.dataDir);
    this.statuses = new StatusListeners(options.logger);
  }

  onStatus(listener: StatusListener): void {
    this.statuses.add(listener);
  }

  async apply(launch: FunctionLaunch): Promise<ApplyOutcome> {
    if (this.closing) throw new GitfaasError("RUNTIME_FAILED", "the local runtime is shutting down");
    // Read here, before anything is handed over: a manifest this runtime cannot take is the caller's error.
    const plans = launch.objects.map((object) => planRun(object, launch.path));
    const runner = await this.started();
    this.unkept.set(launch.functionUid, launch);
    this.unsettled.add(launch.functionUid);
    // Once in the pipe it survives a crash of gitfaas (see above); a runner that died meanwhile is
    // replaced, and the launch handed to the next.
    await new Promise<void>((resolve) => send(runner.stdin, { type: "apply", launch }, () => resolve()));
    // The runner gives slots in the order it is handed functions: beyond the limit, this one waits.
    return applyOutcome(plans, this.unsettled.size > this.options.concurrency);
  }

  async reconcile(unfinished: readonly UnfinishedFunction[]): Promise<readonly string[]> {
    if (unfinished.length === 0) return [];
    for (const fn of unfinished) this.unsettled.add(fn.functionUid);
    const answer = await this.call({ type: "reconcile", unfinished, relaunch: [] });
    return answer.taken ?? [];
  }

  async close(): Promise<void> {
    this.closing = true;
    const runner = await this.runner?.catch(() => undefined);
    if (!runner || runner.exitCode !== null || runner.signalCode !== null) return;
    // Held until it exits: gitfaas stops once its runs are ended and recorded.
    this.hold(runner, +1);
    const exited = new Promise<void>((resolve) => runner.once("exit", () => resolve()));
    // A runner that dies meanwhile answers nothing: its exit is the end too.
    await Promise.race([this.call({ type: "close" }).catch(() => undefined), exited]);
    await exited;
  }

  /** Sends a message that the runner answers with `done`; rejects with the error it answers. */
  private async call(message: DistributiveOmit<Extract<ToRunner, { id: number }>, "id">) {
    const runner = await this.started();
    const id = this.nextCall++;
    this.hold(runner, +1);
    const answer = await new Promise<Extract<FromRunner, { type: "done" }>>((resolve) => {
      this.calls.set(id, resolve);
      send(runner.stdin, { ...message, id } as ToRunner);
    }).finally(() => this.hold(runner, -1));
    if (answer.error !== undefined) throw new Error(`the local runner failed: ${answer.error}`);
    return answer;
  }

  private started(): Promise<RunnerProcess> {
    this.runner ??= this.start();
    return this.runner;
  }

  private async start(): Promise<RunnerProcess> {
    const record = join(this.options.dataDir, "local-runner.json");
    await previousRunnerGone(record, this.options.logger);
    const runner = spawn(process.execPath, [...loaderFlags(process.execArgv), RUNNER_ENTRY], {
      // Nothing of gitfaas's environment: its secrets stay in gitfaas.
      env: { ...this.options.hostEnv },
      stdio: ["pipe", "pipe", "inherit"],
    });
    runner.stdin.on("error", () => undefined);
    recordRunner(record, runner.pid);
    const ready = new Promise<void>((resolve, reject) => {
      runner.once("error", reject);
      runner.once("exit", (code, signal) => reject(new Error(`exited (${signal ?? code}) as it started`)));
      void receive<FromRunner>(runner.stdout, (message) =>
        message.type === "ready" ? resolve() : this.heard(message),
      );
    });
    runner.once("exit", (code, signal) => this.lost(runner, code, signal));
    send(runner.stdin, { type: "start", settings: this.settings() });
    this.hold(runner, +1);
    await ready
      .finally(() => this.hold(runner, -1))
      .catch((error: unknown) => {
        this.runner = undefined;
        throw new GitfaasError("RUNTIME_FAILED", `the local runner could not start: ${String(error)}`);
      });
    void (this.options.listening ?? Promise.resolve()).then(() =>
      send(runner.stdin, { type: "listening", url: this.options.gitfaasUrl() }),
    );
    return runner;
  }

  /**
   * The runner and its pipes keep gitfaas's event loop alive only while gitfaas waits for an answer
   * from it (its server keeps it alive while it serves): a gitfaas that ends without closing its
   * runtime is not held by it.
   */
  private hold(runner: RunnerProcess, change: 1 | -1): void {
    this.holding += change;
    holdsProcess(runner, this.holding > 0);
  }

  private settings(): RunnerSettings {
    const { dataDir, concurrency, hostEnv, logLimitBytes, retryDelayMs, adoptPollMs, ownRunsOnly } =
      this.options;
    return { dataDir, concurrency, hostEnv, logLimitBytes, retryDelayMs, adoptPollMs, ownRunsOnly };
  }

  private heard(message: FromRunner): void {
    switch (message.type) {
      case "kept":
        this.unkept.delete(message.functionUid);
        return;
      case "status": {
        const report = revivedReport(message.report);
        if (report.status === "succeeded" || report.status === "failed") {
          this.unsettled.delete(report.functionUid);
          this.unkept.delete(report.functionUid);
        }
        this.statuses.report(report);
        return;
      }
      case "done":
        this.calls.get(message.id)?.(message);
        this.calls.delete(message.id);
        return;
      case "log":
        this.options.logger[message.level](message.fields, message.message);
        return;
      case "ready":
        return;
    }
  }

  /** The runner ended: at close, as asked; otherwise another takes over what it had. */
  private lost(runner: RunnerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    for (const [id, answer] of this.calls) answer({ type: "done", id, error: "the local runner exited" });
    this.calls.clear();
    if (this.closing) return;
    this.options.logger.error(
      { code, signal, pid: runner.pid, unfinished: this.unsettled.size },
      "the local runner exited; starting another to take over its runs",
    );
    this.runner = undefined;
    if (this.unsettled.size === 0) return;
    const relaunch = [...this.unkept.values()];
    const unfinished = [...this.unsettled]
      .filter((functionUid) => !this.unkept.has(functionUid))
      .map((functionUid) => ({ functionUid, status: "running" as const, applied: true }));
    void this.call({ type: "reconcile", unfinished, relaunch }).catch((error: unknown) =>
      this.options.logger.error({ err: error }, "could not hand the runs over to a new local runner"),
    );
  }
}

/** Whether the runner and its pipes keep gitfaas's event loop alive. */
function holdsProcess(runner: RunnerProcess, hold: boolean): void {
  for (const handle of [runner, runner.stdin, runner.stdout] as { ref(): void; unref(): void }[]) {
    if (hold) handle.ref();
    else handle.unref();
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

function recordRunner(file: string, pid: number | undefined): void {
  const record = processRecord(pid);
  if (record !== undefined) writeAtomically(file, JSON.stringify(record));
}

/**
 * Waits for the runner of a gitfaas that was killed to finish keeping what it was handed (it exits
 * then), so that no run is taken over twice; one that takes too long is ended.
 */
async function previousRunnerGone(file: string, logger: Logger): Promise<void> {
  const record = await readFile(file, "utf8").then(
    (text) => JSON.parse(text) as SupervisorRecord,
    () => undefined,
  );
  if (!record) return;
  const alive = (): boolean => stillRunning(record);
  const until = Date.now() + PREVIOUS_RUNNER_GRACE_MS;
  while (alive() && Date.now() < until) await sleep(20);
  if (alive()) {
    logger.warn({ pid: record.pid }, "the previous local runner is still there; ending it");
    process.kill(record.pid, "SIGKILL");
    while (alive()) await sleep(20);
  }
}
