import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFile, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { http, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];

async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** What src/version reports when it lies in `dist` beside a stamp written by the build's script. */
async function stampedVersion(env: Record<string, string>): Promise<string> {
  const built = await tempDir("built");
  after(() => rm(built, { recursive: true, force: true }));
  await mkdir(join(built, "dist", "version"), { recursive: true });
  await copyFile(join(ROOT, "package.json"), join(built, "package.json"));
  await copyFile(join(ROOT, "src", "version", "index.ts"), join(built, "dist", "version", "index.ts"));
  const stamp = spawnSync(
    process.execPath,
    [join(ROOT, "scripts", "stamp-version.mjs"), join(built, "dist")],
    {
      encoding: "utf8",
      env: { ...process.env, ...env },
    },
  );
  assert.equal(stamp.status, 0, stamp.stderr);
  const module = join(built, "dist", "version", "index.ts");
  return execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `const { VERSION } = await import(${JSON.stringify(module)}); process.stdout.write(VERSION);`,
    ],
    { encoding: "utf8" },
  );
}

test("gitfaas --version prints the version; run from source it is the package's, marked +source", async () => {
  const run = spawnSync(process.execPath, [...CLI, "--version"], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), `${await packageVersion()}+source`);
});

test("the build stamps the version with the commit: GITFAAS_REVISION, else git describe", async () => {
  const version = await packageVersion();
  assert.equal(
    await stampedVersion({ GITFAAS_REVISION: "v1.2.3-4-gabc1234" }),
    `${version}+v1.2.3-4-gabc1234`,
  );
  const described = execFileSync("git", ["describe", "--always", "--dirty", "--tags"], {
    cwd: ROOT,
    encoding: "utf8",
  }).trim();
  assert.equal(await stampedVersion({ GITFAAS_REVISION: "" }), `${version}+${described}`);
});

test("GET /status carries the version", async () => {
  const repo = await tempDir("version-repo");
  await writeTree(repo, {
    "config.json": JSON.stringify({ topics: [{ name: "t", configs: ["cm.yaml"] }] }),
    "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
  });
  const server = await startServer({ repo });
  after(async () => {
    await server.cleanup();
    await rm(repo, { recursive: true, force: true });
  });
  const status = await http(server.url, "GET", "/status");
  assert.equal(status.status, 200, status.text);
  assert.equal(status.json.version, `${await packageVersion()}+source`);
});
