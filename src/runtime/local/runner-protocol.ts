/**
 * What gitfaas and its local runner (runner-main.ts) say to each other: one JSON object per line, on
 * the runner's standard input and output. The pipe carries the lambdas' environment values, which
 * never go through argv or a file.
 */
import type { Readable, Writable } from "node:stream";
import { createInterface } from "node:readline";
import type { FunctionLaunch, StatusReport, UnfinishedFunction } from "../port.js";

/** The LocalRuntime options that can cross a process boundary (no functions, no logger). */
export interface RunnerSettings {
  readonly dataDir: string;
  readonly concurrency: number;
  readonly hostEnv: Readonly<Record<string, string>>;
  readonly logLimitBytes?: number;
  readonly retryDelayMs?: number;
  readonly adoptPollMs?: number;
  readonly ownRunsOnly?: boolean;
}

export type ToRunner =
  | { readonly type: "start"; readonly settings: RunnerSettings }
  /** gitfaas listens at `url` (lambdas get it as GITFAAS_URL): containers may start. */
  | { readonly type: "listening"; readonly url: string }
  | { readonly type: "apply"; readonly launch: FunctionLaunch }
  /**
   * Take over `unfinished` (after a restart of gitfaas or of the runner). `relaunch`: functions
   * handed to a runner that died before it said they were kept: applied again unless their run folder
   * shows that it kept them.
   */
  | {
      readonly type: "reconcile";
      readonly id: number;
      readonly unfinished: readonly UnfinishedFunction[];
      readonly relaunch: readonly FunctionLaunch[];
    }
  | { readonly type: "close"; readonly id: number };

export type FromRunner =
  | { readonly type: "ready" }
  /** The function's launch is on disk: a restart of either process runs it. */
  | { readonly type: "kept"; readonly functionUid: string }
  | { readonly type: "status"; readonly report: StatusReport }
  | {
      readonly type: "done";
      readonly id: number;
      readonly taken?: readonly string[];
      readonly error?: string;
    }
  | {
      readonly type: "log";
      readonly level: "debug" | "info" | "warn" | "error";
      readonly fields: Record<string, unknown>;
      readonly message: string;
    };

export function send(
  to: Writable,
  message: ToRunner | FromRunner,
  written?: (error?: Error | null) => void,
): void {
  to.write(`${JSON.stringify(message)}\n`, written);
}

/** Calls `handle` with each message read from `from`, in order; resolves at its end. */
export function receive<T>(from: Readable, handle: (message: T) => void): Promise<void> {
  const lines = createInterface({ input: from, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (line.length > 0) handle(JSON.parse(line) as T);
  });
  return new Promise((resolve) => lines.once("close", resolve));
}

/** A status report as read back from JSON: its times are Dates again. */
export function revivedReport(report: StatusReport): StatusReport {
  const revive = (value: Date | string | null | undefined): Date | null | undefined =>
    typeof value === "string" ? new Date(value) : value;
  return { ...report, startedAt: revive(report.startedAt), finishedAt: revive(report.finishedAt) };
}
