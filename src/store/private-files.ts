import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";

/** Bits that let anyone but the owner read, write or enter. */
const OPEN_TO_OTHERS = 0o077;

export interface PrivateDirOutcome {
  /** The folder existed with group or other access, and that access was taken away. */
  readonly tightened: boolean;
  /** Set when the folder is open to others and is not ours to change. */
  readonly warning?: string;
}

function ownedByUs(uid: number): boolean {
  return process.getuid === undefined || process.getuid() === uid;
}

/**
 * The data dir holds payloads and answers (store, run logs, scratch space): it is made 0700 whatever
 * the umask, so nothing beneath is reachable by other users, including what other parts create there
 * with their own modes. A folder of ours left open by an earlier version or a loose umask is closed;
 * one of another user's is not ours to change, and is reported instead.
 */
export function ensurePrivateDir(dir: string): PrivateDirOutcome {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = statSync(dir);
  if ((info.mode & OPEN_TO_OTHERS) === 0) return { tightened: false };
  if (!ownedByUs(info.uid)) {
    return {
      tightened: false,
      warning: `${dir} belongs to uid ${info.uid} and is open to others (mode ${(info.mode & 0o777).toString(8)}): what gitfaas keeps there (payloads, answers, logs) may be read by other users`,
    };
  }
  chmodSync(dir, 0o700);
  return { tightened: true };
}

/**
 * Creates `file` as 0600 if it is missing, and closes an existing one of ours that is open to others.
 * SQLite gives the -wal and -shm files it creates the mode of the database file, so they follow.
 */
export function ensurePrivateFile(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  tighten(file);
}

/** Closes `file` to others if it exists and is ours. */
export function tighten(file: string): void {
  const info = statSync(file, { throwIfNoEntry: false });
  if (info && (info.mode & OPEN_TO_OTHERS) !== 0 && ownedByUs(info.uid)) chmodSync(file, info.mode & 0o700);
}
