import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort } from "../../test/support/ports.js";

/**
 * gitfaas runs as it ships, compiled (`npm run build`, dist/), and so does the relay (tsconfig.bench.json):
 * run from the TypeScript sources through tsx, gitfaas served a fifth fewer publishes per second under load.
 * `npm run bench:k8s` builds both first.
 */
const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const RELAY = fileURLToPath(new URL("../../dist-bench/bench/support/relay.js", import.meta.url));
const WATCH_FLOOR = fileURLToPath(new URL("../../dist-bench/bench/support/watch-floor.js", import.meta.url));

export interface BenchProcess {
  readonly url: string;
  /** Its process id: its memory and CPU time are read from /proc. */
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * `gitfaas serve` in its own process, as it runs in production: its event loop is not shared with the
 * load generator, whose own work would otherwise be counted against gitfaas. Its log goes to a file,
 * as a container runtime would take it, rather than through a pipe that wakes the load generator.
 */
export async function startGitfaasProcess(
  flags: Record<string, string>,
  logFile: string,
  readyWithinMs = 30_000,
): Promise<BenchProcess> {
  const port = await freePort();
  const args = Object.entries({ port: String(port), "poll-interval": "1h", ...flags }).flatMap(
    ([flag, value]) => [`--${flag}`, value],
  );
  const log = openSync(logFile, "a");
  const child = spawnNode([MAIN, "serve", ...args], log);
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyWithinMs;
  try {
    for (;;) {
      if (exited(child)) throw new Error(`gitfaas exited before it was ready; see ${logFile}`);
      const ready = await fetch(`${url}/readyz`).then(
        (answer) => answer.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline)
        throw new Error(`gitfaas not ready after ${readyWithinMs / 1000} s; see ${logFile}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { url, pid: child.pid!, stop: () => stop(child) };
}

/** The relay of `relay.ts`, in its own process like gitfaas. */
export async function startRelayProcess(kubeconfig: string, namespace: string): Promise<BenchProcess> {
  const { line, child } = await startHelper(RELAY, kubeconfig, namespace);
  return { url: `http://127.0.0.1:${line}`, pid: child.pid!, stop: () => stop(child) };
}

/** The watcher of `watch-floor.ts`, in its own process, once its watches are open. */
export async function startWatchFloorProcess(
  kubeconfig: string,
  namespace: string,
): Promise<Omit<BenchProcess, "url">> {
  const { child } = await startHelper(WATCH_FLOOR, kubeconfig, namespace);
  return { pid: child.pid!, stop: () => stop(child) };
}

/** A compiled helper of the bench, once it has printed its first line (which is returned). */
async function startHelper(entry: string, ...args: string[]): Promise<{ line: string; child: ChildProcess }> {
  const child = spawnNode([entry, ...args], "pipe");
  if (!child.stdout) throw new Error(`${entry}'s output is not piped`);
  const exit = once(child, "exit");
  const [line] = (await Promise.race([
    once(child.stdout, "data"),
    exit.then(() => {
      throw new Error(`${entry} exited before it was ready`);
    }),
  ])) as [Buffer];
  return { line: String(line).trim(), child };
}

/** A compiled entry point, with only PATH and HOME from our environment. */
function spawnNode(args: readonly string[], stdout: number | "pipe"): ChildProcess {
  if (!existsSync(args[0]!)) throw new Error(`${args[0]} is missing: npm run bench:k8s builds it`);
  // BENCH_CPU_PROF=<dir>: each process writes a CPU profile there when it ends, to see where time goes.
  // BENCH_PERF=1: each process writes /tmp/perf-<pid>.map, so that `perf record -g -p <pid>` names its
  // JavaScript frames (V8's profiler misses what is spent outside them: TLS, HTTP/2, SQLite, the kernel).
  const profile = process.env.BENCH_CPU_PROF;
  const flags = profile
    ? ["--cpu-prof", `--cpu-prof-dir=${profile}`]
    : process.env.BENCH_PERF
      ? // V8's own log, which the flag also turns on, goes nowhere rather than to isolate-*.log here.
        ["--perf-basic-prof", "--logfile=/dev/null"]
      : [];
  return spawn(process.execPath, [...flags, ...args], {
    stdio: ["ignore", stdout, "inherit"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" },
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stop(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const exit = once(child, "exit");
  child.kill("SIGTERM");
  await exit;
}
