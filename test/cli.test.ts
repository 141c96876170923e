import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { EXAMPLE_REPO } from "../src/settings/index.js";
import { nodeJob, respondWith, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts")];

function gitfaas(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [...CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("lint: the example repository is clean", () => {
  const result = gitfaas(["lint", EXAMPLE_REPO]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /ok: 4 topics, 5 manifests/);
});

test("lint: problems are printed as file:line and exit non-zero", async () => {
  const repo = await tempDir("lint");
  after(() => rm(repo, { recursive: true, force: true }));
  await writeTree(repo, {
    "config.json": '{\n  "topics": [\n    { "name": "a", "configs": ["bad.yaml"] }\n  ]\n}\n',
    "bad.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec: [unclosed\n",
  });
  const broken = gitfaas(["lint", repo]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /bad\.yaml:\d+/);

  await writeTree(repo, {
    "bad.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\n",
  });
  const banned = gitfaas(["lint", repo]);
  assert.equal(banned.code, 1);
  assert.match(banned.stderr, /bad\.yaml:\d+:.*ClusterRole/);
});

test("lint: a leftover {{ is a warning on stderr with exit 0; a refused Mustache form is a problem with exit 1", async () => {
  const repo = await tempDir("lint-warn");
  after(() => rm(repo, { recursive: true, force: true }));
  const head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n";
  await writeTree(repo, {
    "config.json": '{"topics": [{ "name": "a", "configs": ["m.yaml"] }]}',
    "m.yaml": `${head}  a: "{{ not a name }}"\n`,
  });
  const warned = gitfaas(["lint", repo]);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /^m\.yaml:6: warning: "\{\{ not a name \}\}" is not a placeholder/m);
  assert.match(warned.stdout, /ok: 1 topics, 1 manifests, 1 warning\(s\)/);

  await writeTree(repo, { "m.yaml": `${head}  a: "{{ not a name }}"\n  b: "{{#on}}x{{/on}}"\n` });
  const refused = gitfaas(["lint", repo]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^m\.yaml:7: Mustache section \{\{#on\}\}/m);
  assert.match(refused.stderr, /^m\.yaml:6: warning: /m);
  assert.doesNotMatch(refused.stdout, /ok:/);
});

test("--help describes every command", () => {
  for (const command of [[], ["serve"], ["publish"], ["responses"], ["replay"], ["lint"], ["logs"]]) {
    const result = gitfaas([...command, "--help"]);
    assert.equal(result.code, 0, `${command.join(" ")}: ${result.stderr}`);
    assert.match(result.stdout, /Usage: gitfaas/);
  }
  const serveHelp = gitfaas(["serve", "--help"]).stdout;
  for (const flag of [
    "--repo",
    "--branch",
    "--config-path",
    "--poll-interval",
    "--port",
    "--host",
    "--data-dir",
    "--runtime",
    "--expiration",
    "--banned-kinds",
    "--namespace",
    "--scope",
  ]) {
    assert.ok(serveHelp.includes(flag), `serve --help lacks ${flag}`);
  }
  assert.match(serveHelp, /GITFAAS_POLL_INTERVAL/);
});

test("serve (settings from GITFAAS_* variables), publish --wait, responses, logs", async () => {
  const repo = await tempDir("cli-repo");
  const dataDir = await tempDir("cli-data");
  after(() => rm(repo, { recursive: true, force: true }));
  after(() => rm(dataDir, { recursive: true, force: true }));
  await writeTree(repo, {
    "config.json": JSON.stringify({ topics: [{ name: "greet", configs: ["greet.yaml"] }] }),
    "greet.yaml": nodeJob(
      "greet",
      `console.log("greeting", process.env.NAME);\n${respondWith('"hello " + process.env.NAME + " / " + payload')}`,
      {
        NAME: '"{{name}}"',
      },
    ),
  });
  const serve = spawn(process.execPath, [...CLI, "serve", "--data-dir", dataDir], {
    env: { ...process.env, GITFAAS_REPO: repo, GITFAAS_PORT: "0", GITFAAS_POLL_INTERVAL: "1h" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => serve.on("exit", (code) => resolve(code)));
  after(() => serve.kill("SIGKILL"));
  let url = "";
  const startLog: string[] = [];
  for await (const line of createInterface({ input: serve.stdout })) {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    startLog.push(entry.msg ?? "");
    if (entry.msg === "gitfaas is serving") {
      url = entry.url!;
      break;
    }
  }
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(startLog.filter((msg) => /authentication is off/.test(msg)).length, 1, startLog.join("\n"));

  const published = gitfaas(["publish", "greet", "-d", "from the cli", "-p", "name=ada", "--wait", "20"], {
    GITFAAS_URL: url,
  });
  assert.equal(published.code, 0, published.stderr);
  const answer = JSON.parse(published.stdout);
  assert.equal(JSON.parse(answer.functions[0].response), "hello ada / from the cli");

  const responses = gitfaas(["responses", answer.requestUid, "--url", url]);
  assert.equal(responses.code, 0);
  assert.deepEqual(JSON.parse(responses.stdout).responses, answer.responses);

  const logs = gitfaas(["logs", answer.functions[0].functionUid, "--url", url]);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /greeting ada/);

  const replayed = gitfaas(["replay", answer.requestUid, "--url", url]);
  assert.equal(replayed.code, 0, replayed.stderr);
  assert.equal(JSON.parse(replayed.stdout).replayOf, answer.requestUid);
  const nothingFailed = gitfaas(["replay", answer.requestUid, "--failed", "--url", url]);
  assert.equal(nothingFailed.code, 1);
  assert.equal(JSON.parse(nothingFailed.stdout).code, "NOTHING_FAILED");

  const missing = gitfaas(["publish", "greet", "--url", url]);
  assert.equal(missing.code, 1);
  assert.equal(JSON.parse(missing.stdout).code, "TEMPLATE_MISSING_VALUE");

  serve.kill("SIGTERM");
  assert.equal(await exited, 0);
});

test("settings: a token inside the repository URL is refused before anything starts", () => {
  const result = gitfaas(["serve", "--repo", "https://user:s3cr3t@example.invalid/repo.git", "--port", "0"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /INVALID_SETTING/);
  assert.doesNotMatch(result.stderr, /s3cr3t/);
});
