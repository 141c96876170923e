import { spawn } from "node:child_process";
import { open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  UNRECORDED_FAILURE,
  UNRECORDED_SUCCESS,
  readProcStat,
  type ExitRecord,
  type SupervisorRecord,
  type SupervisorSpec,
} from "./supervisor.js";

const HERE = fileURLToPath(import.meta.url);
const SUPERVISOR = join(HERE, "..", `supervisor${extname(HERE)}`);
// From the .ts sources (tests run through tsx), node strips the types of the supervisor itself.
const NODE_FLAGS = SUPERVISOR.endsWith(".ts") ? ["--experimental-strip-types", "--no-warnings"] : [];

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

/** How a run ended when its supervisor could not record it (a full disk), told by its exit code. */
function unrecordedExit(supervisorCode: number | null): ExitRecord | undefined {
  if (supervisorCode === UNRECORDED_SUCCESS) return { code: 0, signal: null };
  if (supervisorCode === UNRECORDED_FAILURE) {
    return { spawnError: "it failed; its exit status could not be recorded (disk full?)", notFound: false };
  }
  return undefined;
}

export function startSupervised(procDir: string, spec: SupervisorSpec): SupervisedRun {
  // Detached: its own session and process group, so that it outlives gitfaas and a group kill reaches
  // everything the lambda started. Nothing of gitfaas's environment: the lambda's env is in the spec.
  const child = spawn(process.execPath, [...NODE_FLAGS, SUPERVISOR, procDir], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: {},
  });
  child.stdin.on("error", () => undefined);
  child.stdin.end(JSON.stringify(spec));
  let spawnError: string | undefined;
  let supervisorCode: number | null = null;
  const gone = new Promise<void>((resolve) => {
    child.on("exit", (code) => {
      supervisorCode = code;
      resolve();
    });
    child.on("error", (error) => {
      spawnError = `the supervisor could not start: ${error.message}`;
      resolve();
    });
  });
  return {
    ended: gone.then(async () => {
      if (spawnError !== undefined) return { spawnError, notFound: false };
      return (await readJson<ExitRecord>(join(procDir, "exit.json"))) ?? unrecordedExit(supervisorCode);
    }),
    kill: (signal) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
        signalGroup(child.pid, signal);
    },
  };
}

/**
 * Takes over a run an earlier gitfaas started, from the supervisor's record; undefined if there is
 * none (the supervisor never started). Not our child: its end is seen by polling /proc.
 */
export async function adoptSupervised(procDir: string, pollMs: number): Promise<SupervisedRun | undefined> {
  const record = await readJson<SupervisorRecord>(join(procDir, "supervisor.json"));
  if (record === undefined) return undefined;
  const alive = (): boolean => {
    const now = readProcStat(record.pid);
    // A zombie has ended; a different start time is another process that got the pid.
    return now !== undefined && now.startTime === record.startTime && now.state !== "Z" && now.state !== "X";
  };
  const ended = (async () => {
    while (alive()) await sleep(pollMs);
    return readJson<ExitRecord>(join(procDir, "exit.json"));
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
