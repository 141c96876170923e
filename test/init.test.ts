import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { http, startServer, tempDir } from "./support/gitfaas-fixture.js";

const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts")];
const cli = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8" });

test("gitfaas init writes a starter repository that lint passes and serve runs, answered", async () => {
  const parent = await tempDir("init");
  after(() => rm(parent, { recursive: true, force: true }));
  const dir = join(parent, "my-pipeline");
  const init = cli("init", dir);
  assert.equal(init.status, 0, init.stderr);
  for (const file of ["config.json", ".gitignore", "README.md", "lambdas/hello.py", "lambdas/greet.mjs"])
    assert.ok(await stat(join(dir, file)), file);
  assert.match(await readFile(join(dir, ".gitignore"), "utf8"), /\.gitfaas-data/);

  const lint = cli("lint", dir);
  assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  assert.match(lint.stdout, /^ok: 2 topics, 2 manifests/);

  const server = await startServer({ repo: dir });
  after(() => server.cleanup());
  const published = await http(server.url, "POST", "/publish/hello", "Ada", "text/plain");
  assert.equal(published.status, 202, published.text);
  const tree = await http(server.url, "GET", `/requests/${published.json.requestUid as string}/tree?wait=30`);
  assert.equal(tree.status, 200, tree.text);
  const answers = JSON.stringify(tree.json);
  // hello (Python) answered, then greet (Node) with hello's answer, by onSuccess.
  assert.match(answers, /"hello":"Ada"/);
  assert.match(answers, /Hello, Ada!/);
});

test("gitfaas init refuses a folder that is not empty, and changes nothing in it", async () => {
  const dir = await tempDir("init-full");
  after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "config.json"), "mine");
  const init = cli("init", dir);
  assert.notEqual(init.status, 0);
  assert.match(init.stderr, /is not empty/);
  assert.equal(await readFile(join(dir, "config.json"), "utf8"), "mine");
});
