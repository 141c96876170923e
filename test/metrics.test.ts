import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;
/** A file the `block` lambdas wait for: the test lets them finish by writing it. */
let gate: string;

before(async () => {
  repo = await tempDir("metrics-repo");
  gate = join(await tempDir("metrics-gate"), "open");
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "ok", configs: ["ok.yaml"] },
        { name: "fails", configs: ["fails.yaml"] },
        { name: "block", configs: ["block.yaml"] },
      ],
    }),
    "ok.yaml": nodeJob("ok", respondWith("{ payload }")),
    "fails.yaml": nodeJob("fails", "process.exit(3)"),
    "block.yaml": nodeJob(
      "block",
      `import { existsSync } from "node:fs";\nwhile (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 50));`,
    ),
  });
  // One `block` function runs at a time, so a second one waits in the queue.
  server = await startServer({ repo, "topic-max-running": "1", "topic-max-queued": "5" });
});

after(async () => {
  await writeFile(gate, "").catch(() => undefined);
  await server?.cleanup();
  await rm(repo, { recursive: true, force: true });
});

/** The exposition as a real Prometheus text parser reads it. */
async function scrape() {
  const answer = await http(server.url, "GET", "/metrics");
  assert.equal(answer.status, 200, answer.text);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(answer.text);
  // The parser folds a histogram with labels into one sample and drops its labels: values are read
  // from the same text with histograms' TYPE lines left out, where each series (`_count`, `_sum`,
  // `_bucket`) is a family of its own with its labels.
  const series = parsePrometheusTextFormat(answer.text.replace(/^# TYPE \S+ histogram\n/gm, ""));
  /** A series' value for exactly these labels (0 when absent, as Prometheus reads it). */
  const value = (name: string, labels: Record<string, string> = {}): number => {
    // A histogram's series come once per label set, each time as a family of its own.
    const samples = series.filter((each) => each.name === name).flatMap((each) => each.metrics);
    const sample = samples.find((each) =>
      Object.entries(labels).every(([key, wanted]) => each.labels?.[key] === wanted),
    );
    return Number(sample?.value ?? 0);
  };
  return { text: answer.text, families, value };
}

async function until(what: string, check: (metrics: Awaited<ReturnType<typeof scrape>>) => boolean) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const metrics = await scrape();
    if (check(metrics)) return metrics;
    if (Date.now() > deadline) assert.fail(`${what} never came; last scrape:\n${metrics.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test("names follow Prometheus' conventions and every gitfaas metric says what it is", async () => {
  const { families } = await scrape();
  const ours = families.filter((family) => family.name.startsWith("gitfaas_"));
  assert.ok(ours.length >= 14, ours.map((f) => f.name).join(", "));
  for (const family of ours) {
    assert.ok(family.help.length > 0, family.name);
    if (family.type === "COUNTER") assert.match(family.name, /_total$/);
    if (family.type === "HISTOGRAM") assert.match(family.name, /_seconds$/);
  }
});

test("publishes, answers and failures move the counters and histograms", async () => {
  const published = await http(server.url, "POST", "/publish/ok", "hello", "text/plain");
  assert.equal(published.status, 202, published.text);
  const failed = await http(server.url, "POST", "/publish/fails");
  assert.equal(failed.status, 202, failed.text);
  const metrics = await until(
    "both functions finished",
    ({ value }) =>
      value("gitfaas_functions_finished_total", { topic: "ok", status: "succeeded" }) === 1 &&
      value("gitfaas_functions_finished_total", { topic: "fails", status: "failed" }) === 1,
  );
  assert.equal(metrics.value("gitfaas_publishes_total", { topic: "ok", outcome: "accepted" }), 1);
  assert.equal(metrics.value("gitfaas_publishes_total", { topic: "fails", outcome: "accepted" }), 1);
  assert.equal(metrics.value("gitfaas_answers_total"), 1);
  assert.equal(metrics.value("gitfaas_publish_duration_seconds_count", { topic: "ok" }), 1);
  assert.equal(
    metrics.value("gitfaas_function_duration_seconds_count", { topic: "ok", status: "succeeded" }),
    1,
  );
  assert.equal(
    metrics.value("gitfaas_function_duration_seconds_count", { topic: "fails", status: "failed" }),
    1,
  );
  assert.ok(
    metrics.value("gitfaas_store_operation_duration_seconds_count", { operation: "createRequest" }) >= 2,
  );
  assert.ok(
    metrics.value("gitfaas_store_operation_duration_seconds_count", { operation: "putResponse" }) >= 1,
  );
});

test("a refused publish counts under its code; an unknown topic never becomes a label value", async () => {
  const unknown = await http(server.url, "POST", "/publish/made-up-topic-42");
  assert.equal(unknown.status, 404);
  const reserved = await http(server.url, "POST", "/publish/ok?PAYLOAD=x");
  assert.equal(reserved.status, 400);
  const { value, text } = await scrape();
  assert.equal(value("gitfaas_publishes_total", { topic: "/unknown", outcome: "TOPIC_NOT_FOUND" }), 1);
  assert.equal(value("gitfaas_publishes_total", { topic: "ok", outcome: "RESERVED_PARAMETER" }), 1);
  assert.doesNotMatch(text, /made-up-topic-42/);
});

test("running and queued functions per topic follow the runs", async () => {
  for (const _ of [1, 2]) {
    const published = await http(server.url, "POST", "/publish/block");
    assert.equal(published.status, 202, published.text);
  }
  await until(
    "one block running and one queued",
    ({ value }) =>
      value("gitfaas_functions_running", { topic: "block" }) === 1 &&
      value("gitfaas_functions_queued", { topic: "block" }) === 1,
  );
  await writeFile(gate, "");
  const done = await until(
    "both block functions finished",
    ({ value }) => value("gitfaas_functions_finished_total", { topic: "block", status: "succeeded" }) === 2,
  );
  assert.equal(done.value("gitfaas_functions_running", { topic: "block" }), 0);
  assert.equal(done.value("gitfaas_functions_queued", { topic: "block" }), 0);
});

test("git sync: the served revision, the last success, and each refused commit once", async () => {
  const status = await http(server.url, "GET", "/status");
  const before = await scrape();
  assert.equal(before.value("gitfaas_git_revision_info", { revision: status.json.revision as string }), 1);
  const lastSuccess = before.value("gitfaas_git_last_success_timestamp_seconds");
  assert.ok(Math.abs(lastSuccess - Date.parse(status.json.lastSyncAt as string) / 1000) < 0.01);

  await writeTree(repo, { "config.json": "{ broken" });
  for (const _ of [1, 2]) assert.equal((await http(server.url, "GET", "/refresh")).status, 422);
  const after = await scrape();
  assert.equal(after.value("gitfaas_git_refusals_total", { code: "CATALOG_INVALID" }), 1);
  // Still served: the last good revision.
  assert.equal(after.value("gitfaas_git_revision_info", { revision: status.json.revision as string }), 1);
});
