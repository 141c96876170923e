// Drop-in migration from the Python gitfaas: its environment names, its /alive and its answer to
// POST /response, Kubernetes service links, and the container image's refusal to serve the example.
// Every case runs the real CLI as a child process with an environment built from scratch.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { http, nodeJob, writeTree } from "./support/gitfaas-fixture.js";
import { TempDirs } from "./support/git-repos.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];
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

function serving(result: Serve | Exit): Serve {
  assert.ok("url" in result, `gitfaas did not start:\n${result.output}`);
  return result;
}

async function folderRepo(files: Record<string, string>): Promise<string> {
  const dir = await temps.make("gitfaas-compat-repo-");
  await writeTree(dir, files);
  return dir;
}

const WAITING_JOB = nodeJob("wait", "await new Promise((resolve) => setTimeout(resolve, 60_000));");
test("outside the image: GET /alive as the original's, and POST /response keeps its message", async () => {
  const example = serving(
    await serve(["--port", "0", "--data-dir", await temps.make("gitfaas-compat-data-")], {}),
  );
  // Without GITFAAS_REQUIRE_REPO (npm start), the bundled example is served.
  assert.deepEqual((await http(example.url, "GET", "/status")).json.topics, [
    "collect",
    "convert",
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
