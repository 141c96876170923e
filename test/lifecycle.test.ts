import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type AddressInfo, type Server } from "node:net";
import { rm } from "node:fs/promises";
import { isGitfaasError } from "../src/errors/index.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const repo = await tempDir("repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["echo.yaml"] }] }),
  "echo.yaml": nodeJob("echo", respondWith("payload")),
});
after(() => rm(repo, { recursive: true, force: true }));

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** A second start on the same data dir works only if the first released the store's exclusive lock. */
async function assertDataDirFree(dataDir: string): Promise<void> {
  const again = await startServer({ repo }, { dataDir });
  try {
    const published = await http(again.url, "POST", "/publish/echo", "x", "text/plain");
    assert.equal(published.status, 202, published.text);
  } finally {
    await again.close();
  }
}

test("a start that fails on a port in use releases what it took: a second start on the same data dir succeeds", async () => {
  const dataDir = await tempDir("data");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const busy = await occupiedPort();
  after(() => busy.server.close());
  const failed = await startServer({ repo, port: String(busy.port) }, { dataDir }).then(
    () => assert.fail("started on a port in use"),
    (error: unknown) => error,
  );
  assert.ok(isGitfaasError(failed), String(failed));
  assert.match(
    failed.message,
    new RegExp(`--port: cannot listen on 127\\.0\\.0\\.1:${busy.port} \\(EADDRINUSE\\)`),
  );
  await assertDataDirFree(dataDir);
});

test("a start that fails on an unreadable kubeconfig releases the store too", async () => {
  const dataDir = await tempDir("data");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const failed = await startServer(
    { repo, runtime: "kubernetes", kubeconfig: "/nonexistent/kubeconfig" },
    { dataDir },
  ).then(
    () => assert.fail("started without a kubeconfig"),
    (error: unknown) => error,
  );
  assert.ok(isGitfaasError(failed), String(failed));
  assert.equal(failed.code, "INVALID_SETTING");
  assert.match(failed.message, /--kubeconfig: cannot load \/nonexistent\/kubeconfig \(ENOENT\)/);
  await assertDataDirFree(dataDir);
});

test("gitfaas serve on a port in use exits non-zero with one clear line", async () => {
  const dataDir = await tempDir("data");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const busy = await occupiedPort();
  after(() => busy.server.close());
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "serve",
      "--repo",
      repo,
      "--port",
      String(busy.port),
      "--data-dir",
      dataDir,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.notEqual(code, 0);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(
    lines[0]!,
    /^gitfaas: INVALID_SETTING: --port: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)$/,
  );
});
