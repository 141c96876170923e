import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const repo = await tempDir("repo");
await writeTree(repo, {
  "config.json": JSON.stringify({ topics: [{ name: "echo", configs: ["echo.yaml"] }] }),
  "echo.yaml": nodeJob("echo", respondWith('"got " + payload')),
});
after(() => rm(repo, { recursive: true, force: true }));

test("a restart loses no request, status or response", async () => {
  const dataDir = await tempDir("data");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startServer({ repo }, { dataDir });
  const published = await http(first.url, "POST", "/publish/echo", "before restart", "text/plain");
  const requestUid = published.json.requestUid as string;
  const before = await http(first.url, "GET", `/response/${requestUid}?wait=20`);
  assert.notEqual((before.json.responses as (string | null)[])[0], null);
  await first.close();

  const second = await startServer({ repo }, { dataDir });
  after(() => second.close());
  const afterRestart = await http(second.url, "GET", `/response/${requestUid}`);
  assert.equal(afterRestart.status, 200);
  assert.deepEqual(afterRestart.json.responses, before.json.responses);
  assert.equal(
    JSON.parse((afterRestart.json.functions as { response: string }[])[0]!.response),
    "got before restart",
  );
});

test("requests and responses expire after --expiration seconds", async () => {
  const server = await startServer({ repo, expiration: "3" });
  after(() => server.cleanup());
  const published = await http(server.url, "POST", "/publish/echo", "short-lived", "text/plain");
  const requestUid = published.json.requestUid as string;
  const fresh = await http(server.url, "GET", `/response/${requestUid}?wait=20`);
  assert.equal(fresh.status, 200);
  // The answer extends the life of its request by the expiration time from when it was posted. The
  // server's stores read the system clock, so this waits for the request to go rather than sleeping a
  // guessed time (the store contract drives expiry with an injected time).
  const deadline = Date.now() + 30_000;
  let expired = await http(server.url, "GET", `/response/${requestUid}`);
  while (expired.status === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    expired = await http(server.url, "GET", `/response/${requestUid}`);
  }
  assert.equal(expired.status, 404);
  assert.equal(expired.json.code, "REQUEST_NOT_FOUND");
});

test("no valid catalog yet: publish answers 503 and /readyz says not ready, with the reason in /status", async () => {
  const broken = await tempDir("broken-repo");
  after(() => rm(broken, { recursive: true, force: true }));
  await writeTree(broken, { "config.json": "{ not json" });
  const server = await startServer({ repo: broken });
  after(() => server.cleanup());
  const published = await http(server.url, "POST", "/publish/echo", "x", "text/plain");
  assert.equal(published.status, 503);
  assert.equal(published.json.code, "CATALOG_NOT_LOADED");
  const ready = await http(server.url, "GET", "/readyz");
  assert.equal(ready.status, 503);
  const status = await http(server.url, "GET", "/status");
  assert.equal(status.json.revision, null);
  assert.equal((status.json.lastError as { code: string }).code, "CATALOG_INVALID");
  assert.equal((await http(server.url, "GET", "/healthz")).status, 200);
});

test("/readyz answers 503 when the store does not answer", async () => {
  const server = await startServer({ repo });
  after(() => server.cleanup());
  assert.equal((await http(server.url, "GET", "/readyz")).status, 200);
  await server.store.close();
  const ready = await http(server.url, "GET", "/readyz");
  assert.equal(ready.status, 503);
  assert.equal(ready.json.code, "NOT_READY");
  assert.match(ready.json.message!, /store/);
});
