import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const repo = await tempDir("git-repo");
after(() => rm(repo, { recursive: true, force: true }));
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd: repo,
    encoding: "utf8",
  }).trim();

git("init", "-q", "-b", "main");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["echo.yaml"] }] }),
  "echo.yaml": nodeJob("echo", respondWith('"v1 " + payload')),
});
git("add", "-A");
git("commit", "-qm", "v1");
const goodCommit = git("rev-parse", "HEAD");

const server = await startServer({ repo });
after(() => server.cleanup());

async function expectServing(revision: string, topics: string[]) {
  const status = await http(server.url, "GET", "/status");
  assert.equal(status.json.revision, revision);
  assert.deepEqual(status.json.topics, topics);
  const published = await http(server.url, "POST", "/publish/echo", "still", "text/plain");
  assert.equal(published.status, 202);
}

async function commitAndRefuse(message: string, change: () => Promise<void>, code: string, reason: RegExp) {
  await change();
  git("add", "-A");
  git("commit", "-qm", message);
  const bad = git("rev-parse", "HEAD");
  const refresh = await http(server.url, "GET", "/refresh");
  assert.ok(refresh.status >= 400, `refresh of ${message} answered ${refresh.status}`);
  assert.equal(refresh.json.error, true);
  assert.equal(refresh.json.code, code, refresh.text);
  assert.match(refresh.json.message!, reason);
  assert.equal(refresh.json.revision, goodCommit);
  const status = await http(server.url, "GET", "/status");
  assert.equal((status.json.lastError as { revision: string }).revision, bad);
  await expectServing(goodCommit, ["echo"]);
  git("reset", "-q", "--hard", goodCommit);
}

test("the first commit is served from git", async () => {
  await expectServing(goodCommit, ["echo"]);
});

test("an invalid commit is refused and the last good revision keeps serving", async () => {
  await commitAndRefuse(
    "broken json",
    () => writeTree(repo, { "config.json": "{ broken" }),
    "CATALOG_INVALID",
    /config\.json:1/,
  );
  await commitAndRefuse(
    "missing manifest",
    () =>
      writeTree(repo, {
        "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["gone.yaml"] }] }),
      }),
    "CATALOG_INVALID",
    /gone\.yaml/,
  );
  await commitAndRefuse(
    "path escape",
    () =>
      writeTree(repo, {
        "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["../etc/passwd"] }] }),
      }),
    "PATH_ESCAPE",
    /\.\./,
  );
  await commitAndRefuse(
    "absolute path",
    () =>
      writeTree(repo, {
        "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["/etc/passwd"] }] }),
      }),
    "PATH_ESCAPE",
    /absolute/i,
  );
  await commitAndRefuse(
    "symlink",
    async () => {
      await symlink("/etc/hostname", join(repo, "link.yaml"));
      await writeTree(repo, {
        "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["link.yaml"] }] }),
      });
    },
    "PATH_ESCAPE",
    /symlink|symbolic/i,
  );
});

test("a good commit after a refused one is served and clears the error", async () => {
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "echo", configs: ["echo.yaml"] },
        { name: "more", configs: ["echo.yaml"] },
      ],
    }),
  });
  git("add", "-A");
  git("commit", "-qm", "v2");
  const refresh = await http(server.url, "GET", "/refresh");
  assert.equal(refresh.status, 200, refresh.text);
  assert.equal(refresh.json.revision, git("rev-parse", "HEAD"));
  assert.equal(refresh.json.lastError, null);
  assert.deepEqual(refresh.json.topics, ["echo", "more"]);
});
