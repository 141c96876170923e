/**
 * The records of a container run's supervisor (see supervised.ts), which the next gitfaas adopts a run
 * from after a crash:
 *
 * - `<procDir>/supervisor.json` `{ pid, startTime, startedAt }`, written by gitfaas as the supervisor
 *   starts. `startTime` is field 22 of /proc/<pid>/stat: a pid recycled by another process has another.
 * - `<procDir>/exit.json` `{ code }` (128 + n for a command signal n ended), written by the supervisor
 *   once the command ended and all its output is in the log, to a temporary name then renamed, so a
 *   reader never sees half a file. No exit.json and no supervisor: it was killed (SIGKILL).
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

export interface SupervisorSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The function's output.log, shared (append only) with its other container runs. */
  readonly logFile: string;
  /** Bytes of output kept per function: the log is cut to them when the function settles (compactLog). */
  readonly logLimit: number;
}

export type ExitRecord =
  | { readonly code: number | null; readonly signal: string | null }
  | { readonly spawnError: string; readonly notFound: boolean };

export interface SupervisorRecord {
  readonly pid: number;
  readonly startTime: string;
  readonly startedAt: number;
}

/** Field 22 (starttime, in clock ticks since boot) and field 3 (state) of /proc/<pid>/stat. */
export function readProcStat(pid: number): { startTime: string; state: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const startTime = fields[19];
  return state === undefined || startTime === undefined ? undefined : { startTime, state };
}

/**
 * What a later process tells this process by (its pid and start time: a recycled pid has another start
 * time), taken as it starts; undefined when it is gone already.
 */
export function processRecord(pid: number | undefined): SupervisorRecord | undefined {
  const stat = pid === undefined ? undefined : readProcStat(pid);
  if (pid === undefined || stat === undefined) return undefined;
  return { pid, startTime: stat.startTime, startedAt: Date.now() };
}

/** Whether the process a record names is still running: not gone, not a zombie, not another with its pid. */
export function stillRunning(record: SupervisorRecord): boolean {
  const now = readProcStat(record.pid);
  return now !== undefined && now.startTime === record.startTime && now.state !== "Z" && now.state !== "X";
}

export function writeAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, file);
}
