import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { TempDirs, TestRepo } from "./support/git-repos.js";
import { startGitHttpServer } from "./support/git-http-server.js";
import { http, nodeJob, respondWith, startServer } from "./support/gitfaas-fixture.js";

const USER = "alice";
const TOKEN = "tok-last-good-5e1f-secret";
const temps = new TempDirs();
after(() => temps.cleanup());

const root = await temps.make("gitfaas-last-good-");
const repo = await TestRepo.create(root, "lambdas");
const gitServer = await startGitHttpServer({ projectRoot: root, username: USER, token: TOKEN });
after(() => gitServer.close());

const manifest = nodeJob("echo", respondWith('"ok " + payload'));
const topics = (...names: string[]): string =>
  JSON.stringify({ topics: names.map((name) => ({ name, configs: ["echo.yaml"] })) });

function start(dataDir: string): ReturnType<typeof startServer> {
  return startServer(
    { repo: gitServer.urlFor("lambdas.git"), "git-username": USER },
    { dataDir, env: { GITFAAS_GIT_TOKEN: TOKEN } },
  );
}

test("a restart with a broken branch head serves the last good revision from the data dir, then follows the branch again", async () => {
  const dataDir = await temps.make("gitfaas-data-");
  const good = await repo.commit({ "config.json": topics("echo"), "echo.yaml": manifest });

  const first = await start(dataDir);
  assert.equal((await http(first.url, "GET", "/status")).json.revision, good);
  await first.cleanup();

  const broken = await repo.commit({ "config.json": "{ broken" });
  const second = await start(dataDir);
  after(() => second.cleanup());

  const status = await http(second.url, "GET", "/status");
  assert.equal(status.json.revision, good, status.text);
  assert.deepEqual(status.json.topics, ["echo"]);
  const lastError = status.json.lastError as { revision: string; code: string; message: string };
  assert.equal(lastError.revision, broken);
  assert.equal(lastError.code, "CATALOG_INVALID");
  assert.match(lastError.message, /config\.json/);
  assert.equal((await http(second.url, "GET", "/readyz")).status, 200);
  const published = await http(second.url, "POST", "/publish/echo", "hi", "text/plain");
  assert.equal(published.status, 202, published.text);

  // The record names the repository without its credentials.
  const record = await readFile(join(dataDir, "git", "last-good"), "utf8");
  assert.ok(!record.includes(TOKEN));

  const fixed = await repo.commit({ "config.json": topics("echo", "more") });
  const refresh = await http(second.url, "GET", "/refresh");
  assert.equal(refresh.status, 200, refresh.text);
  assert.equal(refresh.json.revision, fixed);
  assert.equal(refresh.json.lastError, null);
  assert.deepEqual(refresh.json.topics, ["echo", "more"]);
});
