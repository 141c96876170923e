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
import type { FunctionLaunch } from "../port.js";
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
        tell({
          type: "status",
          report: {
            functionUid: launch.functionUid,
            status: "failed",
            finishedAt: new Date(),
            reason: `the local runtime could not start it: ${error instanceof Error ? error.message : String(error)}`,
          },
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
      runtime.onStatus((report) => tell({ type: "status", report }));
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
