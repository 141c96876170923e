import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmod, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { http, nodeJob, respondWith, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const CLI = join(import.meta.dirname, "..", "src", "cli", "main.ts");
const NOBODY = 65534;

const repo = await tempDir("repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["echo.yaml"] }] }),
  // It writes to its log as well as answering, so that a log file exists.
  "echo.yaml": nodeJob("echo", `console.log("a line for the log");\n${respondWith('"got " + payload')}`),
});
// The parent is open, as /tmp or /var/lib are: only the data dir's own mode keeps others out.
const parent = await tempDir("modes");
await chmod(parent, 0o755);
after(() => rm(repo, { recursive: true, force: true }));
after(() => rm(parent, { recursive: true, force: true }));

/** `gitfaas serve` as its own process under umask 000, once it serves. */
async function serveWithOpenUmask(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const args = ["--import", "tsx", CLI, "serve", "--repo", repo, "--data-dir", dataDir, "--port", "0"];
  const child = spawn(
    "sh",
    ["-c", 'umask 000; exec "$0" "$@"', process.execPath, ...args, "--poll-interval", "1h"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const exited = once(child, "exit");
  after(() => void (child.exitCode === null && child.kill("SIGKILL")));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "gitfaas is serving") resolve(entry.url ?? "");
    });
    void exited.then(([code]) => reject(new Error(`gitfaas exited with ${String(code)}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function everythingUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((entry) => join(dir, entry));
}

/** Whether the user nobody can read `path` (list it, if a folder): a real read, not a mode reading. */
function nobodyReads(path: string, folder: boolean): boolean {
  const read = spawnSync(folder ? "ls" : "cat", [path], { uid: NOBODY, gid: NOBODY, stdio: "ignore" });
  return read.status === 0;
}

async function assertPrivate(dataDir: string): Promise<void> {
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  const paths = await everythingUnder(dataDir);
  for (const name of ["store.db", "store.db-wal", "runs"])
    assert.ok(paths.includes(join(dataDir, name)), name);
  for (const path of [dataDir, ...paths]) {
    // A run's bookkeeping files go as it settles: one gone since the listing leaks nothing.
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) continue;
    assert.equal(nobodyReads(path, info.isDirectory()), false, `${path} is readable by others`);
  }
  for (const name of ["store.db", "store.db-wal"])
    assert.equal((await stat(join(dataDir, name))).mode & 0o777, 0o600, name);
}

test("under umask 000 nothing in the data dir (store, its log, run folders and logs, snapshots) is readable by others", async () => {
  // Nobody can read what is open to it here: the check below is not vacuous.
  const open = join(parent, "open.txt");
  await writeFile(open, "anyone", { mode: 0o644 });
  assert.equal(nobodyReads(open, false), true);

  const dataDir = join(parent, "data");
  let server = await serveWithOpenUmask(dataDir);
  const published = await http(server.url, "POST", "/publish/echo", "hi", "text/plain");
  const answered = await http(server.url, "GET", `/response/${published.json.requestUid as string}?wait=30`);
  assert.notEqual((answered.json.responses as (string | null)[])[0], null, answered.text);
  await assertPrivate(dataDir);
  await server.stop();

  // A data dir left open (an earlier version, a loose umask) is closed at start.
  await chmod(dataDir, 0o755);
  await chmod(join(dataDir, "store.db"), 0o644);
  server = await serveWithOpenUmask(dataDir);
  try {
    await assertPrivate(dataDir);
  } finally {
    await server.stop();
  }
});
