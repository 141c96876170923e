import { test, after } from "node:test";
import assert from "node:assert/strict";
import { EXAMPLE_REPO } from "../src/settings/index.js";
import { http, startServer } from "./support/gitfaas-fixture.js";

const server = await startServer({ repo: EXAMPLE_REPO });
after(() => server.cleanup());

interface Node {
  requestUid: string;
  topic: string;
  functions: { functionUid: string; status: string; answer: unknown; children: Node[] }[];
}

/** Every request of the run, depth first, with its answers; a function without one fails with its logs. */
async function runOf(requestUid: string): Promise<Map<string, Record<string, unknown>[]>> {
  const read = await http(server.url, "GET", `/requests/${requestUid}/tree?wait=60`);
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json.finished, true, read.text);
  const found = new Map<string, Record<string, unknown>[]>();
  const visit = async (node: Node): Promise<void> => {
    for (const fn of node.functions) {
      if (fn.answer === null) {
        const logs = await http(server.url, "GET", `/logs/${fn.functionUid}`);
        assert.fail(`no answer from ${fn.functionUid} (${fn.status}):\n${logs.text}`);
      }
    }
    assert.ok(!found.has(node.topic), `${node.topic} ran twice`);
    found.set(
      node.topic,
      node.functions.map((fn) => fn.answer as Record<string, unknown>),
    );
    for (const child of node.functions.flatMap((fn) => fn.children)) await visit(child);
  };
  await visit(read.json.root as unknown as Node);
  return found;
}

test("the example pipeline: collect → uncompress → convert (two lambdas) by onSuccess, then their join, report", async () => {
  const published = await http(
    server.url,
    "POST",
    "/publish/collect",
    JSON.stringify({ stations: ["oslo", "lyon"], days: 10, seed: 3 }),
    "application/json",
  );
  assert.equal(published.status, 202, published.text);
  const run = await runOf(published.json.requestUid as string);
  assert.deepEqual([...run.keys()], ["collect", "uncompress", "convert", "report"]);

  const [collect] = run.get("collect") ?? [];
  assert.equal(collect?.step, "collect");
  assert.equal(collect?.rows, 20);
  assert.ok((collect?.gzip_bytes as number) > 0);

  const [uncompress] = run.get("uncompress") ?? [];
  assert.equal(uncompress?.step, "uncompress");
  assert.ok((uncompress?.csv_bytes as number) > (collect?.gzip_bytes as number) / 2);

  const [convert, stats] = (run.get("convert") ?? []) as [
    { step: string; records: number; first: object },
    { step: string; stations: Record<string, { min: number; mean: number; max: number; days: number }> },
  ];
  assert.equal(convert.step, "convert");
  assert.equal(convert.records, 20);
  assert.deepEqual(Object.keys(convert.first).sort(), ["celsius", "day", "station"]);
  assert.equal(stats.step, "stats");
  assert.deepEqual(Object.keys(stats.stations), ["lyon", "oslo"]);
  const oslo = stats.stations.oslo!;
  assert.equal(oslo.days, 10);
  assert.ok(oslo.min <= oslo.mean && oslo.mean <= oslo.max);

  const [report] = run.get("report") ?? [];
  assert.deepEqual(report, { step: "report", records: 20, stations: stats.stations, failed: [] });
});
