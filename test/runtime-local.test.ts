import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import { silentLogger } from "../src/logging/index.js";
import { startSupervised } from "../src/runtime/local/supervised.js";
import {
  LocalRuntime,
  mapMountedPath,
  type LocalRuntimeOptions,
  type StatusReport,
} from "../src/runtime/index.js";
import type { KubeObject } from "../src/templating/index.js";

/** The whole output, read from the stream the runtime hands out. */
async function logText(runtime: LocalRuntime, functionUid: string): Promise<string | undefined> {
  const output = await runtime.logs(functionUid);
  return output === undefined ? undefined : text(output.stream);
}

const root = await mkdtemp(join(tmpdir(), "gitfaas-local-"));
after(() => rm(root, { recursive: true, force: true }));

interface Harness {
  runtime: LocalRuntime;
  reports: StatusReport[];
  finished: (functionUid: string) => Promise<StatusReport>;
}

function harness(concurrency = 4, extra: Partial<LocalRuntimeOptions> = {}): Harness {
  const runtime = new LocalRuntime({
    ...extra,
    dataDir: join(root, `data-${Math.random().toString(36).slice(2)}`),
    gitfaasUrl: () => "http://127.0.0.1:5999",
    concurrency,
    hostEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    retryDelayMs: 50,
    logger: silentLogger(),
  });
  const reports: StatusReport[] = [];
  const waiters = new Map<string, (report: StatusReport) => void>();
  runtime.onStatus((report) => {
    reports.push(report);
    if (report.status === "succeeded" || report.status === "failed")
      waiters.get(report.functionUid)?.(report);
  });
  const finished = (functionUid: string) =>
    new Promise<StatusReport>((resolve) => {
      const done = reports.find(
        (r) => r.functionUid === functionUid && (r.status === "succeeded" || r.status === "failed"),
      );
      if (done) resolve(done);
      else waiters.set(functionUid, resolve);
    });
  after(() => runtime.close());
  return { runtime, reports, finished };
}

function job(
  script: string,
  spec: Record<string, unknown> = {},
  podSpec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "test-job" },
    spec: {
      ...spec,
      template: {
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "busybox",
              command: ["sh", "-c", script],
              env: [{ name: "GREETING", value: "hello" }],
              ...podSpec,
            },
          ],
          ...(podSpec.volumes ? { volumes: podSpec.volumes } : {}),
        },
      },
    },
  };
}

function launch(objects: KubeObject[]) {
  const requestUid = newRequestUid();
  return {
    functionUid: newFunctionUid(requestUid),
    requestUid,
    topic: "t",
    path: "lambda.yaml",
    objects,
    revisionDir: root,
  };
}

test("local: a Job's container runs with its env and GITFAAS_URL, output is kept", async () => {
  const { runtime, reports, finished } = harness();
  process.env.GITFAAS_TEST_SECRET_TOKEN = "leaked";
  const fn = launch([
    job('echo "$GREETING from $GITFAAS_URL"; echo secret=${GITFAAS_TEST_SECRET_TOKEN:-none}'),
  ]);
  const outcome = await runtime.apply(fn);
  assert.match(outcome.message, /Job\/test-job/);
  const final = await finished(fn.functionUid);
  assert.equal(final.status, "succeeded");
  assert.equal(final.attempts, 1);
  assert.ok(reports.some((r) => r.functionUid === fn.functionUid && r.status === "running"));
  const output = await logText(runtime, fn.functionUid);
  assert.match(output ?? "", /hello from http:\/\/127\.0\.0\.1:5999/);
  // Only the inherited names reach a lambda, never the rest of gitfaas's environment.
  assert.match(output ?? "", /secret=none/);
});

test("local: a manifest's own GITFAAS_URL wins", async () => {
  const { runtime, finished } = harness();
  const object = job('echo "url=$GITFAAS_URL"');
  const container = (object.spec as { template: { spec: { containers: { env: unknown[] }[] } } }).template
    .spec.containers[0]!;
  container.env.push({ name: "GITFAAS_URL", value: "http://elsewhere:1" });
  const fn = launch([object]);
  await runtime.apply(fn);
  await finished(fn.functionUid);
  assert.match((await logText(runtime, fn.functionUid)) ?? "", /url=http:\/\/elsewhere:1/);
});

test("local: backoffLimit 1 gives two attempts, then failed", async () => {
  const { runtime, finished } = harness();
  const fn = launch([job("echo attempt; exit 3", { backoffLimit: 1 })]);
  await runtime.apply(fn);
  const final = await finished(fn.functionUid);
  assert.equal(final.status, "failed");
  assert.equal(final.attempts, 2);
  assert.match(final.reason ?? "", /BackoffLimitExceeded.*exited with code 3/);
  const output = (await logText(runtime, fn.functionUid)) ?? "";
  assert.equal(output.match(/^attempt$/gm)?.length, 2);
});

test("local: activeDeadlineSeconds stops a run that takes too long", async () => {
  const { runtime, finished } = harness();
  const fn = launch([job("sleep 30", { backoffLimit: 3, activeDeadlineSeconds: 1 })]);
  await runtime.apply(fn);
  const final = await finished(fn.functionUid);
  assert.equal(final.status, "failed");
  assert.match(final.reason ?? "", /DeadlineExceeded/);
  // One attempt only: the Job-wide deadline ended the run rather than the retries running out.
  assert.equal(final.attempts, 1);
});

test("local: runs beyond the concurrency limit wait their turn", async () => {
  const { runtime, reports, finished } = harness(1);
  const first = launch([job("sleep 0.4")]);
  const second = launch([job("sleep 0.1")]);
  await runtime.apply(first);
  const queued = await runtime.apply(second);
  assert.match(queued.message, /queued/);
  const firstDone = await finished(first.functionUid);
  await finished(second.functionUid);
  const secondStart = reports.find((r) => r.functionUid === second.functionUid && r.status === "running");
  assert.ok(secondStart?.startedAt && firstDone.finishedAt);
  assert.ok(secondStart.startedAt.getTime() >= firstDone.finishedAt.getTime());
});

test("local: launches applied together, faster than they are written, wait in the order of the calls", async () => {
  const { runtime, reports, finished } = harness(1);
  const launches = Array.from({ length: 24 }, () => launch([job("true")]));
  // Not awaited one by one: as the local runner applies what comes down its pipe.
  await Promise.all(launches.map((fn) => runtime.apply(fn)));
  for (const fn of launches) await finished(fn.functionUid);
  const started = reports.filter((report) => report.status === "running").map((report) => report.functionUid);
  assert.deepEqual(
    started,
    launches.map((fn) => fn.functionUid),
  );
});

test("local: scratch volumes are fresh per attempt and removed after, mountPath maps to them", async () => {
  const { runtime, finished } = harness();
  const script = [
    'echo "work=$WORK_DIR arg=$1"',
    'if [ -e "$WORK_DIR/marker" ]; then echo stale; exit 0; fi',
    'touch "$WORK_DIR/marker"',
    '[ -e "$1" ] && echo sees-own-marker',
    "exit 1",
  ].join("\n");
  const object = job(
    script,
    { backoffLimit: 1 },
    {
      command: ["sh", "-c", script, "sh", "/mnt/work/marker"],
      env: [{ name: "WORK_DIR", value: "/mnt/work" }],
      volumeMounts: [{ name: "work", mountPath: "/mnt/work/" }],
      volumes: [{ name: "work", emptyDir: {} }],
    },
  );
  const fn = launch([object]);
  await runtime.apply(fn);
  const final = await finished(fn.functionUid);
  const output = (await logText(runtime, fn.functionUid)) ?? "";
  assert.equal(final.status, "failed", output);
  assert.doesNotMatch(output, /stale/);
  assert.equal(output.match(/sees-own-marker/g)?.length, 2);
  assert.doesNotMatch(output, /work=\/mnt\/work/);
  const runDir = join((runtime as unknown as { runsDir: string }).runsDir, fn.functionUid);
  const leftovers = await readdir(join(runDir, "object-0", "attempt-1")).catch(() => []);
  assert.deepEqual(leftovers, []);
});

test("local: kinds and fields it cannot run are refused before anything starts", async () => {
  const { runtime } = harness();
  await assert.rejects(
    runtime.apply(launch([{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: {} }])),
    { code: "UNSUPPORTED_KIND", message: /Deployment 'd'/ },
  );
  const noCommand = job("true");
  delete (noCommand.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec
    .containers[0]!.command;
  await assert.rejects(runtime.apply(launch([noCommand])), {
    code: "UNSUPPORTED_MANIFEST",
    message: /no command/,
  });
  const fromSecret = job(
    "true",
    {},
    { env: [{ name: "X", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }] },
  );
  await assert.rejects(runtime.apply(launch([fromSecret])), {
    code: "UNSUPPORTED_MANIFEST",
    message: /valueFrom/,
  });
});

test("local: a command missing on the host fails the run with a clear reason", async () => {
  const { runtime, finished } = harness();
  const object = job("true", { backoffLimit: 0 }, { command: ["definitely-not-a-command-gitfaas"] });
  const fn = launch([object]);
  await runtime.apply(fn);
  const final = await finished(fn.functionUid);
  assert.equal(final.status, "failed");
  assert.match(final.reason ?? "", /command not found on this host: definitely-not-a-command-gitfaas/);
});

test("local: after a restart, runs it finds unfinished are reported failed", async () => {
  const { runtime, finished } = harness();
  const uid = newFunctionUid(newRequestUid());
  await runtime.reconcile([{ functionUid: uid, status: "running", applied: true }]);
  const final = await finished(uid);
  assert.equal(final.status, "failed");
  assert.match(final.reason ?? "", /restarted/);
});

test("mapMountedPath rewrites only paths under a mount", () => {
  const mounts = [
    { mountPath: "/mnt", hostDir: "/tmp/a" },
    { mountPath: "/mnt/disk", hostDir: "/tmp/b" },
  ];
  assert.equal(mapMountedPath("/mnt/disk/x.csv", mounts), "/tmp/b/x.csv");
  assert.equal(mapMountedPath("/mnt", mounts), "/tmp/a");
  assert.equal(mapMountedPath("/mntx/y", mounts), "/mntx/y");
  assert.equal(mapMountedPath("relative/mnt/disk", mounts), "relative/mnt/disk");
});

test("local: close() stops a lambda that ignores SIGTERM", { timeout: 30_000 }, async () => {
  const { runtime, finished } = harness();
  const fn = launch([job("trap '' TERM; echo ready; sleep 600", { backoffLimit: 0 })]);
  await runtime.apply(fn);
  while (!((await logText(runtime, fn.functionUid)) ?? "").includes("ready")) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await runtime.close();
  const final = await finished(fn.functionUid);
  assert.equal(final.status, "failed");
});

test("local: a volume name that is not a DNS label is refused (it names a folder)", async () => {
  const { runtime } = harness();
  const object = job("true", {}, { volumes: [{ name: "../../escape", emptyDir: {} }] });
  await assert.rejects(runtime.apply(launch([object])), {
    code: "UNSUPPORTED_MANIFEST",
    message: /DNS label/,
  });
});

test("local: prune removes the run folders last changed before the cut and keeps the others", async () => {
  const { runtime, finished } = harness();
  const [old, recent] = [launch([job("echo old run")]), launch([job("echo recent run")])];
  for (const fn of [old, recent]) {
    await runtime.apply(fn);
    assert.equal((await finished(fn.functionUid)).status, "succeeded");
  }
  const runsDir = (runtime as unknown as { runsDir: string }).runsDir;
  // Aged on disk rather than waited for: two hours old against a cut one hour back.
  const now = Date.now();
  const twoHoursAgo = new Date(now - 2 * 3600_000);
  await utimes(join(runsDir, old.functionUid), twoHoursAgo, twoHoursAgo);
  await runtime.prune(new Date(now - 3600_000));
  assert.deepEqual(await readdir(runsDir), [recent.functionUid]);
  assert.equal(await runtime.logs(old.functionUid), undefined);
  assert.match((await logText(runtime, recent.functionUid)) ?? "", /recent run/);
});

/** What `seq 1 n` prints. */
function seqOutput(n: number): string {
  return Array.from({ length: n }, (_, index) => `${index + 1}\n`).join("");
}

test("local: a run's supervisor records how its command ended, also a signal the group got, and passes on its status", async () => {
  const dir = await mkdtemp(join(root, "supervisor-"));
  const spec = (script: string) => ({
    command: "sh",
    args: ["-c", script],
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    logFile: join(dir, "output.log"),
    logLimit: 4096,
  });
  const exited = await startSupervised(dir, spec("echo out; echo err >&2; exit 7"));
  assert.deepEqual(await exited.ended, { code: 7, signal: null });
  assert.deepEqual(JSON.parse(await readFile(join(dir, "exit.json"), "utf8")), { code: 7 });
  assert.equal(await readFile(join(dir, "output.log"), "utf8"), "out\nerr\n");
  // What the next gitfaas adopts it by: the supervisor's pid and its start time.
  const record = JSON.parse(await readFile(join(dir, "supervisor.json"), "utf8")) as {
    pid: number;
    startTime: string;
  };
  assert.ok(record.pid > 0 && record.startTime !== "");

  // A deadline sends SIGTERM to the whole group: the command ends by it, the supervisor outlives it to say so.
  const killed = await startSupervised(dir, spec("echo started; sleep 30"));
  while (!(await readFile(join(dir, "output.log"), "utf8")).endsWith("started\n"))
    await new Promise((resolve) => setTimeout(resolve, 20));
  killed.kill("SIGTERM");
  assert.deepEqual(await killed.ended, { code: null, signal: "SIGTERM" });
  assert.deepEqual(JSON.parse(await readFile(join(dir, "exit.json"), "utf8")), { code: 143 });

  const missing = await startSupervised(dir, { ...spec(""), command: "definitely-not-a-command-gitfaas" });
  assert.deepEqual(await missing.ended, {
    spawnError: "spawn definitely-not-a-command-gitfaas ENOENT",
    notFound: true,
  });
});

test("local: retries that each overflow are cut to one head and one tail once the function settles", async () => {
  const { runtime, finished } = harness(4, { logLimitBytes: 4096 });
  const fn = launch([job("seq 1 20000; exit 1", { backoffLimit: 2 })]);
  await runtime.apply(fn);
  const final = await finished(fn.functionUid);
  assert.equal(final.attempts, 3);
  const output = (await logText(runtime, fn.functionUid)) ?? "";
  assert.ok(output.length <= 4096 + 64, `${output.length} bytes kept`);
  assert.ok(output.startsWith("--- Job/test-job container main, attempt 1 ---\n1\n2\n"));
  // The last attempt's end is what a reader most needs.
  assert.ok(output.endsWith(seqOutput(20000).slice(-1000)));
  assert.match(output, /^--- gitfaas: \d+ bytes cut ---$/m);
});
