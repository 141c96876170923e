import { test, after } from "node:test";
import assert from "node:assert/strict";
import { EXAMPLE_REPO } from "../src/settings/index.js";
import { http, startServer } from "./support/gitfaas-fixture.js";

const server = await startServer({ repo: EXAMPLE_REPO });
after(() => server.cleanup());

async function answersOf(requestUid: string) {
  const read = await http(server.url, "GET", `/response/${requestUid}?wait=60`);
  assert.equal(read.status, 200, read.text);
  const functions = read.json.functions as { status: string; response: string | null; functionUid: string }[];
  for (const fn of functions) {
    if (fn.response === null) {
      const logs = await http(server.url, "GET", `/logs/${fn.functionUid}`);
      assert.fail(`no answer from ${fn.functionUid} (${fn.status}):\n${logs.text}`);
    }
  }
  return functions.map((fn) => JSON.parse(fn.response!));
}

test("the example pipeline: collect → uncompress → convert (two lambdas), real files at each step", async () => {
  const published = await http(
    server.url,
    "POST",
    "/publish/collect",
    JSON.stringify({ stations: ["oslo", "lyon"], days: 10, seed: 3 }),
    "application/json",
  );
  assert.equal(published.status, 202, published.text);
  const [collect] = await answersOf(published.json.requestUid as string);
  assert.equal(collect.step, "collect");
  assert.equal(collect.rows, 20);
  assert.ok(collect.gzip_bytes > 0);

  const [uncompress] = await answersOf(collect.next);
  assert.equal(uncompress.step, "uncompress");
  assert.ok(uncompress.csv_bytes > collect.gzip_bytes / 2);

  const [convert, stats] = await answersOf(uncompress.next);
  assert.equal(convert.step, "convert");
  assert.equal(convert.records, 20);
  assert.deepEqual(Object.keys(convert.first).sort(), ["celsius", "day", "station"]);
  assert.equal(stats.step, "stats");
  assert.deepEqual(Object.keys(stats.stations), ["lyon", "oslo"]);
  assert.equal(stats.stations.oslo.days, 10);
  assert.ok(
    stats.stations.oslo.min <= stats.stations.oslo.mean &&
      stats.stations.oslo.mean <= stats.stations.oslo.max,
  );
});
