// Drop-in migration from the Python gitfaas: its environment names, its /alive and its answer to
// POST /response, Kubernetes service links, and the container image's refusal to serve the example.
// Every case runs the real CLI as a child process with an environment built from scratch.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { http, nodeJob, writeTree } from "./support/gitfaas-fixture.js";
import { startGitHttpServer } from "./support/git-http-server.js";
import { TempDirs, TestRepo } from "./support/git-repos.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];
const USER = "migrator";
const TOKEN = "ghp-legacy-token-9f8e7d6c";
const temps = new TempDirs();
after(() => temps.cleanup());

interface Serve {
  url: string;
  /** Every log line up to "gitfaas is serving", parsed. */
  lines: { level: number; msg: string }[];
  output: () => string;
}

interface Exit {
  code: number | null;
  output: string;
}

/** Runs `gitfaas serve` with only `env` (and PATH, HOME): it serves, or it exits. */
async function serve(args: string[], env: Record<string, string>): Promise<Serve | Exit> {
  const child = spawn(process.execPath, [...CLI, "serve", ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: await temps.make("gitfaas-compat-home-"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const lines: Serve["lines"] = [];
  // Lines keep being read after start-up, for what is logged later.
  const url = new Promise<string | undefined>((resolve) => {
    createInterface({ input: child.stdout })
      .on("line", (line) => {
        text += `${line}\n`;
        const entry = JSON.parse(line) as { level: number; msg: string; url?: string };
        lines.push(entry);
        if (entry.msg === "gitfaas is serving") resolve(entry.url);
      })
      .on("close", () => resolve(undefined));
  });
  const served = await url;
  if (served === undefined) return { code: await exited, output: text };
  after(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  return { url: served, lines, output: () => text };
}

/** Waits for a line that is written after something the test did (bounded: the test fails instead). */
async function lineLogged(
  started: Serve,
  match: (line: Serve["lines"][number]) => boolean,
): Promise<boolean> {
  for (let i = 0; i < 100; i += 1) {
    if (started.lines.some(match)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function serving(result: Serve | Exit): Serve {
  assert.ok("url" in result, `gitfaas did not start:\n${result.output}`);
  return result;
}

function refused(result: Serve | Exit): string {
  assert.ok("code" in result, "gitfaas started where it should have refused");
  assert.equal(result.code, 2, result.output);
  return result.output;
}

function linesAbout(started: Serve, name: string): string[] {
  return started.lines.map((line) => line.msg).filter((msg) => msg.startsWith(`${name} `));
}

async function folderRepo(files: Record<string, string>): Promise<string> {
  const dir = await temps.make("gitfaas-compat-repo-");
  await writeTree(dir, files);
  return dir;
}

const WAITING_JOB = nodeJob("wait", "await new Promise((resolve) => setTimeout(resolve, 60_000));");
const CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";

test("the original's variables configure gitfaas, each named once in a deprecation line, secrets unseen", async () => {
  const root = await temps.make("gitfaas-compat-git-");
  const repo = await TestRepo.create(root, "lambdas");
  await repo.commit({ "config.json": JSON.stringify({ topics: [] }) });
  const prod = await repo.commit(
    {
      "faas/topics.json": JSON.stringify({ topics: [{ name: "cm", configs: ["faas/cm.yaml"] }] }),
      "faas/cm.yaml": CONFIG_MAP,
    },
    { branch: "prod" },
  );
  const gitServer = await startGitHttpServer({ projectRoot: root, username: USER, token: TOKEN });
  after(() => gitServer.close());
  const legacy = {
    GIT_URL: gitServer.urlFor("lambdas.git"),
    GIT_USER_NAME: USER,
    GIT_PERSONAL_TOKEN: TOKEN,
    GIT_PULL_BRANCH: "prod",
    APPLY_CONFIG_PATH: "faas/topics.json",
    BANNED_KUBE_RESS: "ConfigMap Secret",
    POLLING_INTERVAL: "1",
    EXPIRATION_TIME: "3600",
    LOG_LEVEL: "DEBUG",
    GIT_USE_SSH_KEY: "no",
    GIT_STRICT_HOST_KEY_CHECKING: "no",
    REDIS_PASSWORD: "legacy-redis-password-42",
  };
  const started = serving(
    await serve(["--port", "0"], { GITFAAS_DATA_DIR: await temps.make("gitfaas-compat-data-"), ...legacy }),
  );

  const status = await http(started.url, "GET", "/status");
  assert.equal(status.json.revision, prod, status.text);
  assert.deepEqual(status.json.topics, ["cm"]);
  const published = await http(started.url, "POST", "/publish/cm", "x", "text/plain");
  const applies = published.json.applies as { error: boolean; code: string }[];
  assert.equal(applies[0]?.code, "BANNED_KIND", published.text);
  // A fetch that finds nothing new is logged at debug level only.
  assert.equal((await http(started.url, "GET", "/refresh")).status, 200);
  assert.ok(
    await lineLogged(started, (line) => line.level === 20 && line.msg === "repository unchanged"),
    "LOG_LEVEL=DEBUG did not turn debug lines on",
  );
  for (const name of Object.keys(legacy)) {
    const said = linesAbout(started, name);
    assert.equal(said.length, 1, `${name}: ${said.join(" | ")}`);
    assert.match(said[0] ?? "", /deprecated: use GITFAAS_[A-Z_]+/);
  }
  assert.match(linesAbout(started, "GIT_PERSONAL_TOKEN")[0] ?? "", /use GITFAAS_GIT_TOKEN/);
  assert.doesNotMatch(started.output(), new RegExp(`${TOKEN}|${legacy.REDIS_PASSWORD}`));
});

test("a flag or a GITFAAS_* variable wins over the original's name, which is then said to be ignored", async () => {
  const ours = await folderRepo({
    "ours.json": JSON.stringify({ topics: [{ name: "ours", configs: ["wait.yaml"] }] }),
    "theirs.json": JSON.stringify({ topics: [{ name: "theirs", configs: ["wait.yaml"] }] }),
    "wait.yaml": WAITING_JOB,
  });
  const started = serving(
    await serve(
      ["--port", "0", "--config-path", "ours.json", "--data-dir", await temps.make("gitfaas-compat-data-")],
      {
        GITFAAS_REPO: ours,
        GIT_URL: "https://example.invalid/theirs.git",
        APPLY_CONFIG_PATH: "theirs.json",
        GITFAAS_LOG_LEVEL: "info",
        LOG_LEVEL: "DEBUG",
      },
    ),
  );
  assert.deepEqual((await http(started.url, "GET", "/status")).json.topics, ["ours"]);
  // Info: the unchanged fetch stays unsaid, while the info line of the next publish is written.
  assert.equal((await http(started.url, "GET", "/refresh")).status, 200);
  assert.equal((await http(started.url, "POST", "/publish/ours", "x", "text/plain")).status, 202);
  assert.ok(await lineLogged(started, (line) => line.level === 30 && /publish/i.test(line.msg)));
  assert.ok(!started.lines.some((line) => line.level === 20), "LOG_LEVEL beat GITFAAS_LOG_LEVEL");
  for (const name of ["GIT_URL", "APPLY_CONFIG_PATH", "LOG_LEVEL"]) {
    const said = linesAbout(started, name);
    assert.equal(said.length, 1, `${name}: ${said.join(" | ")}`);
    assert.match(said[0] ?? "", /deprecated: ignored, as --[a-z-]+ or GITFAAS_[A-Z_]+ is set/);
  }
});

test("an original variable that cannot be honoured stops start-up with a line naming it", async () => {
  const base = { GITFAAS_PORT: "0", GITFAAS_DATA_DIR: await temps.make("gitfaas-compat-data-") };
  const sshKey = refused(
    await serve([], { ...base, GIT_URL: "git@example.invalid:o/r.git", GIT_USE_SSH_KEY: "yes" }),
  );
  assert.match(sshKey, /INVALID_SETTING: GIT_USE_SSH_KEY .*cannot be honoured: set GITFAAS_SSH_KEY_FILE/);
  const minutes = refused(await serve([], { ...base, POLLING_INTERVAL: "5m" }));
  assert.match(minutes, /POLLING_INTERVAL .*'5m' is not a whole number of minutes/);
  const strict = refused(await serve([], { ...base, GIT_STRICT_HOST_KEY_CHECKING: "true" }));
  assert.match(strict, /GIT_STRICT_HOST_KEY_CHECKING .*'true' is not yes or no/);
});

test("Kubernetes service links of a Service named gitfaas are ignored, with a line saying so", async () => {
  // No --port: the service link sits where GITFAAS_PORT is read. A loopback address of its own keeps
  // the default port 5000 free of other servers.
  const host = `127.${1 + (process.pid % 250)}.${1 + Math.floor(Math.random() * 250)}.7`;
  const started = serving(
    await serve(["--host", host, "--data-dir", await temps.make("gitfaas-compat-data-")], {
      GITFAAS_PORT: "tcp://10.0.0.1:5000",
      GITFAAS_PORT_5000_TCP: "tcp://10.0.0.1:5000",
      GITFAAS_PORT_5000_TCP_PROTO: "tcp",
      GITFAAS_PORT_5000_TCP_PORT: "5000",
      GITFAAS_PORT_5000_TCP_ADDR: "10.0.0.1",
      GITFAAS_SERVICE_HOST: "10.0.0.1",
      GITFAAS_SERVICE_PORT: "5000",
      GITFAAS_SERVICE_PORT_HTTP: "5000",
    }),
  );
  assert.equal(started.url, `http://${host}:5000`);
  const said = linesAbout(started, "GITFAAS_PORT=tcp://10.0.0.1:5000");
  assert.equal(said.length, 1, started.output());
  assert.match(said[0] ?? "", /Kubernetes service link .*ignored/);
});

/** The ENV lines of the Dockerfile's last stage: what the image's process starts with. */
async function imageEnv(): Promise<Record<string, string>> {
  const dockerfile = await readFile(join(ROOT, "Dockerfile"), "utf8");
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const [, pairs] of lastStage.matchAll(/^ENV (.+)$/gm)) {
    for (const [, name, value] of (pairs ?? "").matchAll(/(\w+)=(\S+)/g)) env[name!] = value!;
  }
  return env;
}

test("the image refuses to serve without a repository; GIT_URL alone is enough to serve it", async () => {
  const image = {
    ...(await imageEnv()),
    GITFAAS_PORT: "0",
    GITFAAS_DATA_DIR: await temps.make("gitfaas-compat-data-"),
  };
  const alone = refused(await serve([], image));
  assert.match(alone, /INVALID_SETTING: --repo \(GITFAAS_REPO\): is required here: GITFAAS_REQUIRE_REPO=yes/);

  const repo = await folderRepo({
    "config.json": JSON.stringify({ topics: [{ name: "mine", configs: ["wait.yaml"] }] }),
    "wait.yaml": WAITING_JOB,
  });
  const started = serving(await serve([], { ...image, GIT_URL: repo }));
  assert.deepEqual((await http(started.url, "GET", "/status")).json.topics, ["mine"]);
});

test("outside the image: GET /alive as the original's, and POST /response keeps its message", async () => {
  const example = serving(
    await serve(["--port", "0", "--data-dir", await temps.make("gitfaas-compat-data-")], {}),
  );
  // Without GITFAAS_REQUIRE_REPO (npm start), the bundled example is served.
  assert.deepEqual((await http(example.url, "GET", "/status")).json.topics, [
    "collect",
    "convert",
    "report",
    "uncompress",
  ]);
  const alive = await http(example.url, "GET", "/alive");
  assert.equal(alive.status, 200);
  assert.deepEqual(alive.json, { alive: true });

  const repo = await folderRepo({
    "config.json": JSON.stringify({ topics: [{ name: "wait", configs: ["wait.yaml"] }] }),
    "wait.yaml": WAITING_JOB,
  });
  const started = serving(
    await serve(["--port", "0", "--data-dir", await temps.make("gitfaas-compat-data-")], {
      GITFAAS_REPO: repo,
    }),
  );
  const published = await http(started.url, "POST", "/publish/wait", "hi", "text/plain");
  const functionUid = (published.json.applies as { functionUid: string }[])[0]?.functionUid ?? "";
  const stored = await http(started.url, "POST", `/response/${functionUid}`, "done", "text/plain");
  assert.equal(stored.status, 201, stored.text);
  assert.deepEqual(stored.json, { error: false, message: "Response stored correctly", functionUid });
});
