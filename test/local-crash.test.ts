import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { http, nodeJob, respondWith, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { freePort } from "./support/ports.js";

/**
 * gitfaas killed with SIGKILL while its local lambdas run or wait, then started again on the same
 * data dir and port (a lambda posts its answer to the URL it was started with).
 */
const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts")];

const repo = await tempDir("crash-repo");
after(() => rm(repo, { recursive: true, force: true }));
// Each run notes its function UID in RUNS, says "started", then waits for the GATE file to exist; one
// that exits with an error code notes that first.
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "gated", configs: ["gated.yaml"] }] }),
  "gated.yaml": nodeJob(
    "gated",
    `import { appendFileSync, existsSync } from "node:fs";
appendFileSync(process.env.RUNS, process.env.FUNCTION_UID + "\\n");
console.log("started");
// The gate's folder gone (the test ended): nobody will open it.
const dir = process.env.GATE.slice(0, process.env.GATE.lastIndexOf("/"));
while (!existsSync(process.env.GATE) && existsSync(dir)) await new Promise((resolve) => setTimeout(resolve, 25));
if (process.env.CODE !== "0") {
  appendFileSync(process.env.RUNS, "exits " + process.env.FUNCTION_UID + "\\n");
  process.exit(Number(process.env.CODE));
}
${respondWith('"done " + payload')}`,
    { GATE: '"{{gate}}"', RUNS: '"{{runs}}"', CODE: '"{{code}}"' },
  ),
});

interface Instance {
  readonly url: string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** `gitfaas serve` as its own process; resolves once it logs "gitfaas is serving". */
async function serve(dataDir: string, port: number, extra: string[] = []): Promise<Instance> {
  const args = ["serve", "--repo", repo, "--data-dir", dataDir, "--port", String(port), ...extra];
  const child = spawn(process.execPath, [...CLI, ...args, "--poll-interval", "1h"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = once(child, "exit");
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let output = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      output += `${line}\n`;
      if (line.includes('"msg":"gitfaas is serving"')) resolve();
    });
    void exited.then(() => reject(new Error(`gitfaas exited: ${output}`)));
  });
  // The CLI sets its SIGTERM handler just after that line: one request later it is surely set.
  await http(`http://127.0.0.1:${port}`, "GET", "/healthz");
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    child.kill(name);
    await exited;
  };
  return { url: `http://127.0.0.1:${port}`, kill9: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface FunctionView {
  functionUid: string;
  status: string;
  reason: string | null;
  attempts: number;
  response: string | null;
}

async function functionsOf(url: string, requestUid: string): Promise<FunctionView[]> {
  const answer = await http(url, "GET", `/response/${requestUid}`);
  assert.equal(answer.status, 200, answer.text);
  return answer.json.functions as FunctionView[];
}

/** The functions of a request once all of them have settled. */
async function settled(url: string, requestUid: string): Promise<FunctionView[]> {
  return until(async () => {
    const functions = await functionsOf(url, requestUid);
    return functions.every((fn) => fn.status === "succeeded" || fn.status === "failed")
      ? functions
      : undefined;
  });
}

async function setUp(name: string) {
  const dir = await tempDir(`crash-${name}`);
  // Whatever happens, the lambdas end with the test.
  after(() => rm(dir, { recursive: true, force: true }));
  const gate = join(dir, "gate");
  const runs = join(dir, "runs.txt");
  const dataDir = join(dir, "data");
  const publish = async (url: string, code = 0): Promise<{ requestUid: string; message: string }> => {
    const query = `gate=${encodeURIComponent(gate)}&runs=${encodeURIComponent(runs)}&code=${code}`;
    const published = await http(url, "POST", `/publish/gated?${query}`, name, "text/plain");
    assert.equal(published.status, 202, published.text);
    const applies = published.json.applies as { message: string }[];
    return { requestUid: published.json.requestUid as string, message: applies[0]?.message ?? "" };
  };
  const started = (url: string, requestUid: string) =>
    until(async () => {
      const [fn] = await functionsOf(url, requestUid);
      const log = fn ? await http(url, "GET", `/logs/${fn.functionUid}`) : undefined;
      return fn && log?.text.includes("started") ? fn : undefined;
    });
  const ranUids = async (): Promise<string[]> =>
    (await readFile(runs, "utf8").catch(() => ""))
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("exits "));
  const exiting = (functionUid: string) =>
    until(async () => ((await readFile(runs, "utf8")).includes(`exits ${functionUid}`) ? true : undefined));
  return { gate, dataDir, publish, started, ranUids, exiting, port: await freePort() };
}

for (const runner of ["process", "inline"]) {
  test(
    `a run that outlives a SIGKILL of gitfaas is adopted: its true status and answer, holding its slot (--local-runner ${runner})`,
    { timeout: 60_000 },
    async () => {
      const t = await setUp("adopt");
      const flags = ["--local-concurrency", "1", "--local-runner", runner];
      const first = await serve(t.dataDir, t.port, flags);
      const { requestUid } = await t.publish(first.url);
      await t.started(first.url, requestUid);
      await first.kill9();

      const second = await serve(t.dataDir, t.port, flags);
      after(() => second.stop());
      const [fn] = await functionsOf(second.url, requestUid);
      assert.equal(fn?.status, "running", JSON.stringify(fn));
      // The adopted run holds the only slot: a newcomer waits for it.
      const newcomer = await t.publish(second.url);
      assert.match(newcomer.message, /queued/);

      await writeFile(t.gate, "open");
      const [done] = await settled(second.url, requestUid);
      assert.equal(done?.status, "succeeded", JSON.stringify(done));
      assert.equal(done.attempts, 1);
      assert.equal(JSON.parse(done.response ?? "null"), "done adopt");
      const [next] = await settled(second.url, newcomer.requestUid);
      assert.equal(next?.status, "succeeded", JSON.stringify(next));
      assert.deepEqual((await t.ranUids()).sort(), [fn.functionUid, next.functionUid].sort());
    },
  );
}

test(
  "a run that ended while gitfaas was down is reported with its real exit code",
  { timeout: 60_000 },
  async () => {
    const t = await setUp("ended");
    const first = await serve(t.dataDir, t.port);
    const { requestUid } = await t.publish(first.url, 7);
    const fn = await t.started(first.url, requestUid);
    await first.kill9();
    await writeFile(t.gate, "open");
    // It ends while nobody watches (the next gitfaas may still see its last moments: that is adoption).
    await t.exiting(fn.functionUid);

    const second = await serve(t.dataDir, t.port);
    after(() => second.stop());
    const [done] = await settled(second.url, requestUid);
    assert.equal(done?.status, "failed", JSON.stringify(done));
    assert.match(done.reason ?? "", /container main exited with code 7/);
    assert.doesNotMatch(done.reason ?? "", /interrupted/);
  },
);

test(
  "functions waiting for a local slot survive a SIGKILL and a SIGTERM and run exactly once",
  { timeout: 90_000 },
  async () => {
    const t = await setUp("queue");
    const flags = ["--local-concurrency", "1"];
    const first = await serve(t.dataDir, t.port, flags);
    const requests = [];
    for (let i = 0; i < 4; i++) requests.push((await t.publish(first.url)).requestUid);
    const running = await t.started(first.url, requests[0]!);
    await first.kill9();

    // A graceful stop ends the run it adopted (reported as it is: killed) but keeps the queue.
    const second = await serve(t.dataDir, t.port, flags);
    await second.stop();
    const third = await serve(t.dataDir, t.port, flags);
    after(() => third.stop());
    await writeFile(t.gate, "open");
    const finals = await Promise.all(requests.map(async (uid) => (await settled(third.url, uid))[0]!));
    assert.equal(finals[0]!.functionUid, running.functionUid);
    assert.equal(finals[0]!.status, "failed", JSON.stringify(finals[0]));
    assert.match(finals[0]!.reason ?? "", /killed|stopped/);
    for (const fn of finals.slice(1)) {
      assert.equal(fn.status, "succeeded", JSON.stringify(fn));
      assert.equal(JSON.parse(fn.response ?? "null"), "done queue");
    }
    // Every function started once: the queued ones only after the last restart.
    assert.deepEqual((await t.ranUids()).sort(), finals.map((fn) => fn.functionUid).sort());
  },
);

test(
  "publishes answered just before a SIGKILL of gitfaas all run, exactly once: the local runner keeps what is in its pipe",
  { timeout: 90_000 },
  async () => {
    const t = await setUp("burst");
    const first = await serve(t.dataDir, t.port, ["--local-concurrency", "2"]);
    const requests = [(await t.publish(first.url)).requestUid];
    // The runner, stopped, reads nothing: the launches of the next publishes wait in its pipe when
    // gitfaas dies (a handful: the pipe holds 64 KiB).
    const runner = JSON.parse(await readFile(join(t.dataDir, "local-runner.json"), "utf8")) as {
      pid: number;
    };
    process.kill(runner.pid, "SIGSTOP");
    for (let i = 0; i < 8; i++) requests.push((await t.publish(first.url)).requestUid);
    await first.kill9();
    process.kill(runner.pid, "SIGCONT");

    const second = await serve(t.dataDir, t.port, ["--local-concurrency", "2"]);
    after(() => second.stop());
    // Opened once the lambdas can post their answers again.
    await writeFile(t.gate, "open");
    const finals = await Promise.all(requests.map(async (uid) => (await settled(second.url, uid))[0]!));
    for (const fn of finals) assert.equal(fn.status, "succeeded", JSON.stringify(fn));
    assert.deepEqual((await t.ranUids()).sort(), finals.map((fn) => fn.functionUid).sort());
  },
);

test(
  "the local runner killed with SIGKILL: gitfaas starts another, which takes over the runs and the queue, each once",
  { timeout: 90_000 },
  async () => {
    const t = await setUp("runner");
    const flags = ["--local-concurrency", "1"];
    const instance = await serve(t.dataDir, t.port, flags);
    after(() => instance.stop());
    const requests = [];
    for (let i = 0; i < 3; i++) requests.push((await t.publish(instance.url)).requestUid);
    const running = await t.started(instance.url, requests[0]!);
    const runner = JSON.parse(await readFile(join(t.dataDir, "local-runner.json"), "utf8")) as {
      pid: number;
    };
    process.kill(runner.pid, "SIGKILL");
    // The next runner is recorded once it replaced the killed one.
    await until(async () => {
      const now = JSON.parse(await readFile(join(t.dataDir, "local-runner.json"), "utf8")) as { pid: number };
      return now.pid !== runner.pid ? true : undefined;
    });

    await writeFile(t.gate, "open");
    const finals = await Promise.all(requests.map(async (uid) => (await settled(instance.url, uid))[0]!));
    assert.equal(finals[0]!.functionUid, running.functionUid);
    for (const fn of finals) {
      assert.equal(fn.status, "succeeded", JSON.stringify(fn));
      assert.equal(JSON.parse(fn.response ?? "null"), "done runner");
    }
    assert.deepEqual((await t.ranUids()).sort(), finals.map((fn) => fn.functionUid).sort());
    // And it takes new work.
    const later = await t.publish(instance.url);
    assert.equal((await settled(instance.url, later.requestUid))[0]?.status, "succeeded");
  },
);
