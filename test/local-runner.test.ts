import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import type { FunctionLaunch, StatusReport } from "../src/runtime/index.js";
import { receive, send, type FromRunner, type ToRunner } from "../src/runtime/local/runner-protocol.js";

/**
 * The local runner process (src/runtime/local/runner-main.ts) spoken to directly over its pipes, for
 * what the server-level tests cannot time: a runner that died between keeping a launch on disk and
 * saying so.
 */
const ENTRY = join(import.meta.dirname, "..", "src", "runtime", "local", "runner-main.ts");

const root = await mkdtemp(join(tmpdir(), "gitfaas-runner-"));
after(() => rm(root, { recursive: true, force: true }));

function launchOf(revisionDir: string): FunctionLaunch {
  const requestUid = newRequestUid();
  return {
    functionUid: newFunctionUid(requestUid),
    requestUid,
    topic: "t",
    path: "t.yaml",
    revisionDir,
    objects: [
      {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "j" },
        spec: {
          backoffLimit: 0,
          template: {
            spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x", command: ["true"] }] },
          },
        },
      },
    ],
  };
}

/** A runner on `dataDir`, started and told where gitfaas listens; its messages as they come. */
function runner(dataDir: string) {
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  after(() => child.kill("SIGKILL"));
  const heard: FromRunner[] = [];
  const waiters: (() => void)[] = [];
  void receive<FromRunner>(child.stdout, (message) => {
    heard.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const tell = (message: ToRunner): void => send(child.stdin, message);
  const until = async <T>(find: (messages: FromRunner[]) => T | undefined): Promise<T> => {
    for (;;) {
      const found = find(heard);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  tell({ type: "start", settings: { dataDir, concurrency: 2, hostEnv: { PATH: process.env.PATH ?? "" } } });
  tell({ type: "listening", url: "http://127.0.0.1:9" });
  return { tell, until };
}

const finished = (functionUid: string) => (messages: FromRunner[]) =>
  messages.find(
    (message): message is { type: "status"; report: StatusReport } =>
      message.type === "status" &&
      message.report.functionUid === functionUid &&
      (message.report.status === "succeeded" || message.report.status === "failed"),
  )?.report;

test("handed over again after a runner died: a launch it kept without saying so is taken over, one it never kept is applied; each runs once", async () => {
  const dataDir = join(root, "handover");
  const revisionDir = join(root, "revision");
  await mkdir(revisionDir, { recursive: true });
  // Kept on disk by a runner that died before its "kept" reached gitfaas.
  const keptUnsaid = launchOf(revisionDir);
  await mkdir(join(dataDir, "runs", keptUnsaid.functionUid), { recursive: true });
  await writeFile(
    join(dataDir, "runs", keptUnsaid.functionUid, "launch.json"),
    JSON.stringify({ launch: keptUnsaid, order: 1 }),
  );
  // Lost in the dead runner's pipe.
  const neverKept = launchOf(revisionDir);

  const next = runner(dataDir);
  await next.until((messages) => messages.find((message) => message.type === "ready"));
  next.tell({ type: "reconcile", id: 1, unfinished: [], relaunch: [keptUnsaid, neverKept] });
  const done = await next.until((messages) =>
    messages.find((message): message is Extract<FromRunner, { type: "done" }> => message.type === "done"),
  );
  assert.deepEqual(done.taken, [keptUnsaid.functionUid]);
  for (const launch of [keptUnsaid, neverKept]) {
    const report = await next.until(finished(launch.functionUid));
    assert.equal(report.status, "succeeded", JSON.stringify(report));
    // One attempt's container, started once.
    assert.deepEqual(await readdir(join(dataDir, "runs", launch.functionUid, "procs")), ["o0-a1-main0"]);
  }
});
