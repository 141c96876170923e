import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { http, nodeJob, respondWith, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { startRedisServer } from "./support/redis-server.js";

const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts")];

interface Replica {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts `gitfaas serve` as its own process and waits for its "gitfaas is serving" log line. */
async function startReplica(name: string, args: string[], env: Record<string, string>): Promise<Replica> {
  const dataDir = await tempDir(`replica-${name}`);
  after(() => rm(dataDir, { recursive: true, force: true }));
  const child = spawn(
    process.execPath,
    [
      ...CLI,
      "serve",
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--poll-interval",
      "1h",
      "--log-level",
      "debug",
      ...args,
    ],
    { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = once(child, "exit").then(([code]) => code as number | null);
  after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let output = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  let url = "";
  const lines = createInterface({ input: child.stdout });
  const serving = new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      output += `${line}\n`;
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === "gitfaas is serving") {
          url = entry.url ?? "";
          resolve();
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`replica ${name} exited with ${code}: ${output}`)));
  });
  await serving;
  assert.ok(child.pid !== undefined);
  return {
    name,
    url,
    pid: child.pid,
    output: () => output,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

test(
  "three replicas sharing one Redis behave as one: publish on A, answer through B, wait on C",
  { timeout: 120_000 },
  async () => {
    const redis = await startRedisServer();
    after(() => redis.stop());
    const repo = await tempDir("replicas-repo");
    const secrets = await tempDir("replicas-secrets");
    after(() => rm(repo, { recursive: true, force: true }));
    after(() => rm(secrets, { recursive: true, force: true }));
    const gate = join(secrets, "gate");
    // The lambda holds its answer until the test opens the gate, so the wait on C is known to start first.
    await writeTree(repo, {
      "config.json": JSON.stringify({ topics: [{ name: "relay", configs: ["relay.yaml"] }] }),
      "relay.yaml": nodeJob(
        "relay",
        `import { existsSync } from "node:fs";
while (!existsSync(process.env.GATE)) await new Promise((resolve) => setTimeout(resolve, 25));
${respondWith("({ via: process.env.GITFAAS_URL, echo: payload, env: process.env })")}`,
        { GATE: '"{{gate}}"' },
      ),
    });
    const passwordFile = join(secrets, "redis-password");
    await writeFile(passwordFile, `${redis.password}\n`, { mode: 0o600 });

    const shared = ["--repo", repo, "--store", "redis", "--redis-url", redis.url];
    const keyPrefix = `replicas-${randomUUID()}:`;
    shared.push("--redis-key-prefix", keyPrefix);
    const fromEnv = { GITFAAS_REDIS_PASSWORD: redis.password };
    const b = await startReplica("b", shared, fromEnv);
    // A's lambdas reach gitfaas through B: the answer is stored by a replica that did not publish.
    const a = await startReplica("a", [...shared, "--public-url", b.url], fromEnv);
    const replicas = [a, b];

    const published = await http(
      a.url,
      "POST",
      `/publish/relay?gate=${encodeURIComponent(gate)}`,
      "ping",
      "text/plain",
    );
    assert.equal(published.status, 202, published.text);
    const requestUid = published.json.requestUid as string;

    // C starts while A's lambda runs: it must leave A's live work alone (not settle it as interrupted).
    const c = await startReplica("c", [...shared, "--redis-password-file", passwordFile], {});
    replicas.push(c);
    assert.equal((await http(c.url, "GET", "/readyz")).status, 200);
    const early = await http(c.url, "GET", `/response/${requestUid}`);
    assert.equal(early.status, 200, early.text);
    const [fn] = early.json.functions as { status: string; response: unknown }[];
    assert.ok(fn && (fn.status === "pending" || fn.status === "running"), JSON.stringify(fn));
    assert.equal(fn.response, null);

    // The longest wait there is, beyond the test's timeout: only a wake-up through Redis pub/sub (from
    // B, which stores the answer) can end it in time.
    const waiting = http(c.url, "GET", `/response/${requestUid}?wait=300`);
    // C waits on the request's change channel; the gate opens once it is subscribed, never before.
    const admin = new Redis(redis.url, { password: redis.password });
    try {
      const channel = `${keyPrefix}changes:${requestUid}`;
      for (;;) {
        const [, subscribers] = (await admin.pubsub("NUMSUB", channel)) as [string, number];
        if (subscribers > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    } finally {
      admin.disconnect();
    }
    await writeFile(gate, "open");

    const answer = await waiting;
    assert.equal(answer.status, 200, answer.text);
    const [answered] = answer.json.functions as { response: string | null }[];
    assert.ok(answered?.response, answer.text);
    const body = JSON.parse(answered.response) as { via: string; echo: string; env: Record<string, string> };
    assert.equal(body.via, b.url);
    assert.equal(body.echo, "ping");
    // Every replica tells the same story.
    for (const replica of [a, b]) {
      const seen = await http(replica.url, "GET", `/response/${requestUid}`);
      assert.deepEqual(seen.json.responses, answer.json.responses, replica.name);
    }

    // The password reaches the serve processes through the environment or a file only: never argv, logs,
    // or the lambdas' environment.
    assert.ok(!JSON.stringify(body.env).includes(redis.password));
    for (const replica of replicas) {
      const argv = await readFile(`/proc/${replica.pid}/cmdline`, "utf8");
      assert.ok(argv.includes("--store\0redis"), argv);
      assert.ok(!argv.includes(redis.password), `${replica.name}'s argv holds the password`);
    }
    for (const replica of replicas) assert.equal(await replica.stop(), 0, replica.output());
    for (const replica of replicas) {
      assert.match(replica.output(), /gitfaas is serving/);
      assert.ok(!replica.output().includes(redis.password), `${replica.name}'s log holds the password`);
    }
  },
);
