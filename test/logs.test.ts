import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { newFunctionUid, newRequestUid } from "../src/ids/index.js";
import { http, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { drainBody, rssGrowthDuring, writeLargeLog, type LargeLog } from "./support/large-log.js";

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;
let large: LargeLog;

const LOG_MIB = 128;

before(async () => {
  repo = await tempDir("logs-repo");
  await writeTree(repo, { "config.json": JSON.stringify({ topics: [] }) });
  server = await startServer({ repo });
  large = await writeLargeLog(server.dataDir, LOG_MIB);
});

after(async () => {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
});

// First in this file (its own process), so that no earlier test has raised the memory it measures.
test("logs: four concurrent reads of a 128 MiB log keep the memory's growth below twice the log's size", async () => {
  const url = `${server.url}/logs/${large.functionUid}`;
  let answers: Awaited<ReturnType<typeof drainBody>>[] = [];
  const growth = await rssGrowthDuring(async () => {
    answers = await Promise.all(Array.from({ length: 4 }, () => drainBody(url)));
  });
  for (const answer of answers) {
    assert.equal(answer.status, 200);
    assert.equal(answer.contentType, "text/plain; charset=utf-8");
    assert.equal(answer.contentLength, String(large.size));
    assert.equal(answer.bytes, large.size);
    assert.equal(answer.sha256, large.sha256);
  }
  // Read whole, four copies of the log would be held at once (4 × 128 MiB, twice that with their
  // strings). Streamed, what grows is garbage not yet collected, some tens of MiB whatever the size.
  assert.ok(
    growth < 2 * large.size,
    `memory grew by ${Math.round(growth / 2 ** 20)} MiB while serving a ${LOG_MIB} MiB log four times`,
  );
});

test("logs: ?tail=N answers exactly the last N bytes", async () => {
  const whole = await readFile(join(server.dataDir, "runs", large.functionUid, "output.log"));
  for (const tail of [0, 1, 1000, 3 * 2 ** 20 + 7]) {
    const answer = await drainBody(`${server.url}/logs/${large.functionUid}?tail=${tail}`);
    const expected = whole.subarray(whole.length - tail);
    assert.equal(answer.status, 200);
    assert.equal(answer.contentLength, String(tail));
    assert.equal(answer.bytes, tail);
    assert.equal(answer.sha256, createHash("sha256").update(expected).digest("hex"), `tail=${tail}`);
  }
  const beyond = await drainBody(`${server.url}/logs/${large.functionUid}?tail=${large.size * 2}`);
  assert.equal(beyond.bytes, large.size);
  assert.equal(beyond.sha256, large.sha256);
});

test("logs: a tail that is not a non-negative whole number is refused with BAD_REQUEST", async () => {
  for (const tail of ["-1", "abc", "1.5", "", "1e3", "99999999999999999999"]) {
    const answer = await http(server.url, "GET", `/logs/${large.functionUid}?tail=${tail}`);
    assert.equal(answer.status, 400, `tail=${tail}: ${answer.text}`);
    assert.equal(answer.json.error, true);
    assert.equal(answer.json.code, "BAD_REQUEST");
    assert.match(answer.json.message ?? "", /tail/);
  }
});

test("logs: an unknown function answers 404 FUNCTION_NOT_FOUND", async () => {
  for (const uid of [newFunctionUid(newRequestUid()), "not-a-function-uid"]) {
    const answer = await http(server.url, "GET", `/logs/${uid}?tail=10`);
    assert.equal(answer.status, 404, answer.text);
    assert.equal(answer.json.code, "FUNCTION_NOT_FOUND");
  }
});
