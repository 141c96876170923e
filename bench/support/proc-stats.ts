import { readFile } from "node:fs/promises";

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** A process's resident memory in bytes (VmRSS). */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kilobytes) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kilobytes[1]) * 1024;
}

/** CPU seconds a process has used so far, user and system. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The fields after the command (which may hold spaces), from field 3 (state) on.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The share of one core a process used over `seconds`. */
export async function cpuShare(pid: number, seconds: number): Promise<number> {
  const before = await cpuSeconds(pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return ((await cpuSeconds(pid)) - before) / ((performance.now() - started) / 1000);
}

/**
 * Waits until the process uses less than `share` of a core over `windowSeconds` (what the Job
 * controller's updates of fresh Jobs set off has died down), or `limitSeconds` went by.
 */
export async function settled(
  pid: number,
  { share = 0.05, windowSeconds = 3, limitSeconds = 300 } = {},
): Promise<number> {
  const started = performance.now();
  while ((performance.now() - started) / 1000 < limitSeconds) {
    if ((await cpuShare(pid, windowSeconds)) < share) break;
  }
  return (performance.now() - started) / 1000;
}
