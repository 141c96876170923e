import { createReadStream } from "node:fs";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { isFunctionUid } from "../../ids/index.js";
import type { LogOutput, LogRange } from "../port.js";

/**
 * What gitfaas reads of the local runtime's run folders (`<dataDir>/runs/<function uid>/`) itself,
 * wherever the runs are started from (see runner-client.ts): their output, and their removal once expired.
 */

/** The function's output.log as a stream, ending at the size seen now; undefined if it never ran here. */
export async function readRunLog(
  runsDir: string,
  functionUid: string,
  range: LogRange = {},
): Promise<LogOutput | undefined> {
  if (!isFunctionUid(functionUid)) return undefined;
  const runDir = join(runsDir, functionUid);
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

/** Removes the run folders last changed before `before`. */
export async function pruneRuns(runsDir: string, before: Date): Promise<void> {
  const entries = await readdir(runsDir).catch(() => [] as string[]);
  for (const entry of entries) {
    const info = await stat(join(runsDir, entry)).catch(() => undefined);
    if (info && info.mtime < before) await rm(join(runsDir, entry), { recursive: true, force: true });
  }
}

/**
 * What both forms of the local runtime (runs started in gitfaas's process, or by the local runner)
 * answer from the run folders themselves.
 */
export abstract class LocalRunFolders {
  protected readonly runsDir: string;

  constructor(dataDir: string) {
    this.runsDir = join(dataDir, "runs");
  }

  logs(functionUid: string, range: LogRange = {}): Promise<LogOutput | undefined> {
    return readRunLog(this.runsDir, functionUid, range);
  }

  prune(before: Date): Promise<void> {
    return pruneRuns(this.runsDir, before);
  }

  async ping(): Promise<void> {
    await mkdir(this.runsDir, { recursive: true });
  }
}
