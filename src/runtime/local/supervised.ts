import { spawn } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access, appendFile, open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  processRecord,
  stillRunning,
  writeAtomically,
  type ExitRecord,
  type SupervisorRecord,
  type SupervisorSpec,
} from "./supervisor.js";

/**
 * The supervisor: a POSIX shell, one per container run (a node process cost 30–70 ms a run). It starts
 * the command with the run's environment (which spawn gives the shell: never argv, never a file),
 * appends its output to the function's log, waits for it while ignoring the SIGTERM/SIGINT/SIGHUP a
 * deadline or a shutdown sends the group (a handled signal is reset to the default in the command, so
 * the command still gets it), then writes `exit.json` `{"code": N}` atomically and exits with N: its
 * parent reads N directly, an adopting gitfaas reads the file. N is 128 + the signal for a command a
 * signal ended, as shells report it.
 */
const SUPERVISOR_SCRIPT = `
proc=$1; log=$2; shift 2
trap 'true' TERM INT HUP
"$@" >>"$log" 2>&1 </dev/null &
child=$!
while :; do
  wait "$child"; code=$?
  kill -0 "$child" 2>/dev/null || break
done
printf '{"code":%d}' "$code" >"$proc/exit.json.tmp" 2>/dev/null && mv -f "$proc/exit.json.tmp" "$proc/exit.json"
exit "$code"
`;

/** One container run under its supervisor, started by this gitfaas or adopted from an earlier one. */
export interface SupervisedRun {
  /** Resolves once the supervisor is gone: how the command ended, undefined if that was not recorded. */
  readonly ended: Promise<ExitRecord | undefined>;
  /** Signals the run's whole process group (supervisor, command, what it started), unless it is gone. */
  kill(signal: NodeJS.Signals): void;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** An exit status as a shell reports it (128 + n for signal n) as an exit record. */
export function exitRecordOf(status: number | null): ExitRecord | undefined {
  if (status === null) return undefined;
  if (status > 128 && status <= 128 + 64) {
    const name = Object.entries(constants.signals).find(([, number]) => number === status - 128)?.[0];
    if (name) return { code: null, signal: name };
  }
  return { code: status, signal: null };
}

/** What a recorded exit.json says, in either form (`{code}` from the shell, or a full record). */
function normalized(record: ExitRecord | { readonly code: number } | undefined): ExitRecord | undefined {
  if (record === undefined || "spawnError" in record || "signal" in record) return record;
  return exitRecordOf(record.code);
}

/** Commands found before, by PATH, working directory and name: a lookup costs a system call per PATH entry. */
const found = new Set<string>();

/** Whether `command` can be run with this PATH and working directory (spawn's own lookup, ahead of it). */
async function runnable(command: string, spec: SupervisorSpec): Promise<boolean> {
  const key = `${spec.env.PATH ?? ""}\0${spec.cwd}\0${command}`;
  if (found.has(key)) return true;
  if (!(await lookUp(command, spec))) return false;
  if (found.size > 1000) found.clear();
  found.add(key);
  return true;
}

async function lookUp(command: string, spec: SupervisorSpec): Promise<boolean> {
  const candidates = command.includes("/")
    ? [resolvePath(spec.cwd, command)]
    : (spec.env.PATH ?? "/usr/bin:/bin").split(":").map((dir) => join(dir || ".", command));
  for (const candidate of candidates) {
    if (
      await access(candidate, fsConstants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

export async function startSupervised(procDir: string, spec: SupervisorSpec): Promise<SupervisedRun> {
  if (!(await runnable(spec.command, spec))) {
    await appendFile(spec.logFile, `command not found on this host: ${spec.command}\n`).catch(
      () => undefined,
    );
    return {
      ended: Promise.resolve({ spawnError: `spawn ${spec.command} ENOENT`, notFound: true }),
      kill: () => undefined,
    };
  }
  // Detached: its own session and process group, so that it outlives gitfaas and a group kill reaches
  // everything the lambda started. Nothing of gitfaas's environment: the lambda's env is the spec's.
  const child = spawn(
    "/bin/sh",
    ["-c", SUPERVISOR_SCRIPT, "gitfaas-supervisor", procDir, spec.logFile, spec.command, ...spec.args],
    { cwd: spec.cwd, env: spec.env, detached: true, stdio: "ignore" },
  );
  recordSupervisor(procDir, child.pid);
  let spawnError: string | undefined;
  let status: number | null = null;
  const gone = new Promise<void>((resolve) => {
    child.on("exit", (code) => {
      status = code;
      resolve();
    });
    child.on("error", (error) => {
      spawnError = `the supervisor could not start: ${error.message}`;
      resolve();
    });
  });
  return {
    ended: gone.then(() =>
      spawnError !== undefined ? { spawnError, notFound: false } : exitRecordOf(status),
    ),
    kill: (signal) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        signalGroup(child.pid, signal);
    },
  };
}

/**
 * What the next gitfaas adopts the run by: the supervisor's pid and start time (a recycled pid has
 * another), written as soon as it exists. A full disk leaves it unwritten: the run goes on, watched by
 * this gitfaas, but a crash meanwhile would leave it unknown to the next.
 */
function recordSupervisor(procDir: string, pid: number | undefined): void {
  const record = processRecord(pid);
  if (record === undefined) return;
  try {
    writeAtomically(join(procDir, "supervisor.json"), JSON.stringify(record));
  } catch {
    // See above: the run itself is not refused for want of its record.
  }
}

/**
 * Takes over a run an earlier gitfaas started, from the supervisor's record; undefined if there is
 * none (the supervisor never started). Not our child: its end is seen by polling /proc.
 */
export async function adoptSupervised(procDir: string, pollMs: number): Promise<SupervisedRun | undefined> {
  const record = await readJson<SupervisorRecord>(join(procDir, "supervisor.json"));
  if (record === undefined) return undefined;
  const alive = (): boolean => stillRunning(record);
  const ended = (async () => {
    while (alive()) await sleep(pollMs);
    return normalized(await readJson<ExitRecord | { code: number }>(join(procDir, "exit.json")));
  })();
  return {
    ended,
    kill: (signal) => {
      if (alive()) signalGroup(record.pid, signal);
    },
  };
}

/**
 * Cuts a settled function's output.log to `limit` bytes the way each run's supervisor does (head,
 * a line `--- gitfaas: N bytes cut ---`, tail), when retries or several containers each kept a tail.
 * Rewritten to a temporary file and renamed: a reader that has the file open keeps the old one whole.
 */
export async function compactLog(file: string, limit: number): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  // Each cut line and container header adds a little beyond the limit; that is not worth a rewrite.
  if (!info || info.size <= limit + 4096) return;
  const headBytes = Math.floor(limit / 2);
  const tailBytes = limit - headBytes;
  const head = Buffer.alloc(headBytes);
  const tail = Buffer.alloc(tailBytes);
  const handle = await open(file, "r");
  try {
    await handle.read(head, 0, headBytes, 0);
    await handle.read(tail, 0, tailBytes, info.size - tailBytes);
  } finally {
    await handle.close();
  }
  const newline = head[head.length - 1] === 0x0a ? "" : "\n";
  const cut = Buffer.from(`${newline}--- gitfaas: ${info.size - headBytes - tailBytes} bytes cut ---\n`);
  const temporary = `${file}.compact.tmp`;
  await writeFile(temporary, Buffer.concat([head, cut, tail]));
  await rename(temporary, file);
}
