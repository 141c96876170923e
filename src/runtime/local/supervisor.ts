/**
 * The supervisor of one container run of the local runtime: `node supervisor.js <procDir>`, with the
 * run's spec as JSON on stdin (not argv, not a file: a lambda's env can hold secrets). gitfaas starts
 * it detached, so it leads its own process group and outlives a crash of gitfaas; the command runs in
 * that group, so killing the group ends both. The next gitfaas adopts the run from two files:
 *
 * - `<procDir>/supervisor.json` `{ pid, startTime, startedAt }`, written before the command starts.
 *   `startTime` is field 22 of /proc/<pid>/stat: a pid recycled by another process has another one.
 * - `<procDir>/exit.json` `{ code, signal }` or `{ spawnError, notFound }`, written once the command
 *   ended and all its output is in the log. Both are written to a temporary name and renamed, so a
 *   reader never sees half a file. No exit.json and no supervisor: it was killed (SIGKILL).
 *
 * It ignores SIGTERM and SIGINT (sent to the whole group at a deadline or shutdown) so that it can
 * still record how the command ended.
 *
 * This file imports nothing of gitfaas (node: modules only), so it also runs from its .ts source.
 */
import { spawn } from "node:child_process";
import { fstatSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface SupervisorSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The function's output.log, shared (append only) with its other container runs. */
  readonly logFile: string;
  /** Bytes of output kept per function; see CappedLog. */
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

/** A supervisor's own exit code when it could not write exit.json: how its command ended, roughly. */
export const UNRECORDED_SUCCESS = 80;
export const UNRECORDED_FAILURE = 81;

export function writeAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * Output cap. `output.log` holds every container run of one function, front to back: a line
 * `--- <Kind>/<name> container <c>, attempt <n> ---` before each run, then what it printed. Once the
 * file reaches half the limit, a run keeps only its last half-limit bytes, written when it ends after
 * a line of its own `--- gitfaas: <N> bytes cut ---`. The file never has holes or rewritten parts
 * while a run writes to it; when the function settles gitfaas cuts it to the limit the same way.
 */
export class CappedLog {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private cut = 0;
  private overflowed = false;
  private lastByte = 0x0a;
  private readonly fd: number;

  // No parameter properties here: node's own type stripping (the .ts source in tests) refuses them.
  constructor(fd: number, limit: number) {
    this.fd = fd;
    this.headLimit = Math.floor(limit / 2);
    this.tailLimit = limit - this.headLimit;
  }

  write(chunk: Buffer): void {
    let rest = chunk;
    if (!this.overflowed) {
      // The file's size, not this run's count: the head is shared by every run of the function.
      const room = this.headLimit - fstatSync(this.fd).size;
      if (room >= rest.length) return this.put(rest);
      if (room > 0) this.put(rest.subarray(0, room));
      this.overflowed = true;
      rest = rest.subarray(Math.max(0, room));
    }
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Whole chunks only, while what is left still fills the tail: finish() trims the last bytes.
    for (
      let oldest = this.tail[0];
      oldest && this.tailBytes - oldest.length >= this.tailLimit;
      oldest = this.tail[0]
    ) {
      this.tail.shift();
      this.tailBytes -= oldest.length;
      this.cut += oldest.length;
    }
  }

  finish(): void {
    if (!this.overflowed) return;
    const all = Buffer.concat(this.tail);
    const kept = all.subarray(Math.max(0, all.length - this.tailLimit));
    this.cut += all.length - kept.length;
    if (this.cut > 0) {
      const newline = this.lastByte === 0x0a ? "" : "\n";
      this.put(Buffer.from(`${newline}--- gitfaas: ${this.cut} bytes cut ---\n`));
    }
    this.put(kept);
  }

  private put(bytes: Buffer): void {
    if (bytes.length === 0) return;
    try {
      writeSync(this.fd, bytes);
    } catch {
      // A full disk loses output, never the run: how the command ends is still recorded.
      return;
    }
    this.lastByte = bytes[bytes.length - 1] ?? this.lastByte;
  }
}

async function readSpec(): Promise<SupervisorSpec> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as SupervisorSpec;
}

/** Runs the command to its end; resolves once its output is written and how it ended is known. */
function supervise(spec: SupervisorSpec): Promise<ExitRecord> {
  const log = new CappedLog(openSync(spec.logFile, "a"), spec.logLimit);
  return new Promise((resolve) => {
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Buffer) => log.write(chunk));
    child.stderr.on("data", (chunk: Buffer) => log.write(chunk));
    let exited: ExitRecord | undefined;
    let finished = false;
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (finished) return;
      finished = true;
      const notFound = error.code === "ENOENT";
      log.write(
        Buffer.from(notFound ? `command not found on this host: ${spec.command}\n` : `${error.message}\n`),
      );
      log.finish();
      resolve({ spawnError: error.message, notFound });
    });
    // `close` waits for the pipes; a background process the command left holding them must not keep
    // the supervisor forever, so the pipes get a moment after `exit`, not more.
    const done = (): void => {
      if (!exited || finished) return;
      finished = true;
      log.finish();
      resolve(exited);
    };
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, 1000).unref();
    });
    child.on("close", done);
  });
}

async function main(): Promise<void> {
  const procDir = process.argv[2];
  if (procDir === undefined) throw new Error("usage: supervisor <procDir> (spec on stdin)");
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => undefined);
  const spec = await readSpec();
  const self = readProcStat(process.pid);
  const record: SupervisorRecord = {
    pid: process.pid,
    startTime: self?.startTime ?? "",
    startedAt: Date.now(),
  };
  try {
    writeAtomically(join(procDir, "supervisor.json"), JSON.stringify(record));
  } catch {
    // A full disk must not fail a run gitfaas has accepted: it runs, watched by its parent; only a
    // crash of gitfaas meanwhile would leave it unknown to the next start (nothing to adopt it by).
  }
  const exit = await supervise(spec);
  try {
    writeAtomically(join(procDir, "exit.json"), JSON.stringify(exit));
  } catch {
    // No room for the record (a full disk): the parent, if it is still there, reads the outcome from
    // this exit code instead. An adopting gitfaas sees no record and ends the run as killed.
    process.exit("code" in exit && exit.code === 0 ? UNRECORDED_SUCCESS : UNRECORDED_FAILURE);
  }
  process.exit(0);
}

// Run as a program, not when gitfaas imports its helpers.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main();
}
