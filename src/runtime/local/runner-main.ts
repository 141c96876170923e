/**
 * The local runner: a small long-lived process that runs the local runtime (LocalRuntime) for
 * gitfaas, so that starting a container (a fork, whose cost grows with the forking process's size)
 * and the run folders' bookkeeping happen off gitfaas's event loop. gitfaas talks to it over its
 * standard input and output (runner-protocol.ts); see runner-client.ts for its side.
 *
 * When its input ends without a `close` (gitfaas was killed), it keeps every launch it has read (the
 * pipe holds what gitfaas wrote before it died), then exits without ending any run: each run's
 * supervisor outlives it, and the next gitfaas takes them over as after its own crash.
 */
import type { Logger } from "../../logging/index.js";
import type { FunctionLaunch, StatusReport } from "../port.js";
import { LocalRuntime } from "./local-runtime.js";
import { receive, send, type FromRunner, type ToRunner } from "./runner-protocol.js";

const tell = (message: FromRunner): void => send(process.stdout, message);

// Signals for the terminal's whole process group (Ctrl-C) are gitfaas's to handle: it closes us.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => undefined);
// gitfaas gone: what could not be told is on disk, and the next gitfaas reads it there.
process.stdout.on("error", () => undefined);

/** Log records go to gitfaas, which writes them with its own logger. */
function forwardingLogger(bindings: Record<string, unknown>): Logger {
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (fields: object, message = ""): void =>
      tell({ type: "log", level, fields: { ...bindings, ...plain(fields) }, message });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => forwardingLogger({ ...bindings, ...more }),
  };
}

/** Errors as what JSON can carry of them. */
function plain(fields: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, value]) => [
      name,
      value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value,
    ]),
  );
}

/**
 * Status reports go to gitfaas in batches, one write every STATUS_BATCH_MS at most: gitfaas then stores
 * a batch in one commit, and a function that ends within the window (most quick lambdas) is told once,
 * finished, rather than running then finished — its final report carries its start all the same.
 */
const STATUS_BATCH_MS = 10;

class StatusBatch {
  private readonly pending = new Map<string, StatusReport>();
  private timer: NodeJS.Timeout | undefined;

  add(report: StatusReport): void {
    const earlier = this.pending.get(report.functionUid);
    // A final report is never replaced by a later "running" (none can come; this only keeps it so).
    if (earlier && isFinal(earlier) && !isFinal(report)) return;
    // Re-inserted at the end: reports of different functions keep the order of their last change.
    this.pending.delete(report.functionUid);
    this.pending.set(report.functionUid, report);
    this.timer ??= setTimeout(() => this.flush(), STATUS_BATCH_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const reports = [...this.pending.values()];
    this.pending.clear();
    if (reports.length > 0)
      process.stdout.write(
        reports.map((report) => `${JSON.stringify({ type: "status", report })}\n`).join(""),
      );
  }
}

const isFinal = (report: StatusReport): boolean =>
  report.status === "succeeded" || report.status === "failed";
const statuses = new StatusBatch();

let runtime: LocalRuntime | undefined;
let url = "";
let heardListening: () => void = () => undefined;
const listening = new Promise<void>((resolve) => (heardListening = resolve));
/** Launches being written to disk: the runner may not exit before they are. */
const keeping = new Set<Promise<void>>();
let closing = false;

function started(): LocalRuntime {
  if (!runtime) throw new Error("the local runner was not started");
  return runtime;
}

function keep(launch: FunctionLaunch): void {
  const kept = started()
    .apply(launch)
    .then(
      () => tell({ type: "kept", functionUid: launch.functionUid }),
      (error: unknown) =>
        statuses.add({
          functionUid: launch.functionUid,
          status: "failed",
          finishedAt: new Date(),
          reason: `the local runtime could not start it: ${error instanceof Error ? error.message : String(error)}`,
        }),
    );
  keeping.add(kept);
  void kept.finally(() => keeping.delete(kept));
}

async function reconcile(message: Extract<ToRunner, { type: "reconcile" }>): Promise<void> {
  const local = started();
  const unkept = await local.unkept(message.relaunch.map((launch) => launch.functionUid));
  for (const launch of message.relaunch) if (unkept.has(launch.functionUid)) keep(launch);
  // Kept by the runner that died before it could say so: taken over from their folders like the rest.
  const keptUnsaid = message.relaunch
    .filter((launch) => !unkept.has(launch.functionUid))
    .map((launch) => ({ functionUid: launch.functionUid, status: "running" as const, applied: true }));
  const taken = await local.reconcile([...message.unfinished, ...keptUnsaid]);
  tell({ type: "done", id: message.id, taken });
}

async function close(id: number): Promise<void> {
  closing = true;
  await Promise.allSettled([...keeping]);
  await runtime?.close();
  statuses.flush();
  tell({ type: "done", id });
  process.exit(0);
}

function handle(message: ToRunner): void {
  switch (message.type) {
    case "start":
      runtime = new LocalRuntime({
        ...message.settings,
        gitfaasUrl: () => url,
        listening,
        logger: forwardingLogger({}),
      });
      runtime.onStatus((report) => statuses.add(report));
      tell({ type: "ready" });
      return;
    case "listening":
      url = message.url;
      heardListening();
      return;
    case "apply":
      keep(message.launch);
      return;
    case "reconcile":
      reconcile(message).catch((error: unknown) =>
        tell({ type: "done", id: message.id, error: error instanceof Error ? error.message : String(error) }),
      );
      return;
    case "close":
      void close(message.id);
      return;
  }
}

await receive<ToRunner>(process.stdin, handle);
if (!closing) {
  // gitfaas is gone: keep what it handed over, and leave the runs to their supervisors.
  await Promise.allSettled([...keeping]);
  process.exit(0);
}
