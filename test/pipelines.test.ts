import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadCatalog } from "../src/catalog/index.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const READER = randomBytes(12).toString("hex");
const PUBLISHER = randomBytes(12).toString("hex");
const asReader = { authorization: `Bearer ${READER}` };
const asPublisher = { authorization: `Bearer ${PUBLISHER}` };

/** Answers its payload plus one to `n`: a chain step whose input proves JSON stayed JSON. */
const addOne = respondWith("({ n: JSON.parse(payload).n + 1, type: typeof JSON.parse(payload) })");

/** Publishes `child` on behalf of its own function (Gitfaas-Parent), then answers the child's UID. */
const publishesChild = `
const sent = await fetch(process.env.GITFAAS_URL + "/publish/child", {
  method: "POST",
  headers: { "content-type": "application/json", "gitfaas-parent": process.env.FUNCTION_UID, authorization: "Bearer " + process.env.TOKEN },
  body: JSON.stringify({ n: 10 }),
});
const published = await sent.json();
if (sent.status !== 202) { console.error(JSON.stringify(published)); process.exit(1); }
${respondWith("({ child: published.requestUid })")}`;

const topics = [
  { name: "parent", configs: ["parent.yaml"] },
  { name: "child", configs: ["add.yaml"] },
  { name: "a", configs: ["start.yaml"], onSuccess: ["b"] },
  { name: "b", configs: ["add.yaml"], onSuccess: ["c"] },
  { name: "c", configs: ["add.yaml"] },
  { name: "fails", configs: ["fail.yaml"], onFailure: ["dead"] },
  { name: "dead", configs: ["echo.yaml"] },
  { name: "fan", configs: ["add.yaml", "add2.yaml", "fail.yaml"], join: "report" },
  { name: "report", configs: ["echo.yaml"] },
  { name: "loop", configs: ["add.yaml"], onSuccess: ["loop"] },
];

const repo = await tempDir("pipelines-repo");
const work = await tempDir("pipelines-work");
after(() => rm(repo, { recursive: true, force: true }));
after(() => rm(work, { recursive: true, force: true }));
await writeTree(repo, {
  "config.json": JSON.stringify({ topics }, null, 2),
  "parent.yaml": nodeJob("parent", publishesChild, { TOKEN: '"{{token}}"' }),
  "start.yaml": nodeJob("start", respondWith("({ n: 1 })")),
  "add.yaml": nodeJob("add", addOne),
  "add2.yaml": nodeJob("add-two", addOne),
  "fail.yaml": nodeJob("fail", `console.error("no luck"); process.exit(3);`),
  "echo.yaml": nodeJob("echo", respondWith("JSON.parse(payload)")),
});
const tokensFile = join(work, "tokens");
await writeFile(tokensFile, `${READER} read\n${PUBLISHER} publish,read\n`, { mode: 0o600 });
const server = await startServer({ repo, "auth-tokens-file": tokensFile, "pipeline-max-depth": "3" });
after(() => server.cleanup());

interface FnView {
  functionUid: string | null;
  status: string;
  attempts: number;
  answer: unknown;
  next: { kind: string; topic: string; state: string; reason: string | null; requestUid: string | null }[];
  children: RequestView[];
}
interface RequestView {
  requestUid: string;
  topic: string;
  depth: number;
  functions: FnView[];
  join: { topic: string; state: string; requestUid: string | null }[];
}
interface TreeView {
  rootRequestUid: string;
  finished: boolean;
  totals: {
    requests: number;
    functions: Record<string, number>;
    firstStart: string | null;
    lastFinish: string | null;
  };
  root: RequestView;
}

async function publish(topic: string, body: unknown, query = ""): Promise<string> {
  const published = await http(
    server.url,
    "POST",
    `/publish/${topic}${query}`,
    JSON.stringify(body),
    "application/json",
    asPublisher,
  );
  assert.equal(published.status, 202, published.text);
  return published.json.requestUid as string;
}

async function tree(requestUid: string, headers = asPublisher): Promise<TreeView> {
  const read = await http(
    server.url,
    "GET",
    `/requests/${requestUid}/tree?wait=60`,
    undefined,
    undefined,
    headers,
  );
  assert.equal(read.status, 200, read.text);
  const view = read.json as unknown as TreeView;
  assert.equal(view.finished, true, read.text);
  return view;
}

/** Every request of the tree, depth first. */
function requestsOf(node: RequestView): RequestView[] {
  return [node, ...node.functions.flatMap((fn) => fn.children.flatMap(requestsOf))];
}

test("lineage: a publish with Gitfaas-Parent is its function's child, and the tree from the child starts at the root", async () => {
  const root = await publish("parent", {}, `?token=${PUBLISHER}`);
  const whole = await tree(root);
  const [fn] = whole.root.functions;
  if (fn?.status !== "succeeded") {
    const logs = await http(server.url, "GET", `/logs/${root}/0`, undefined, undefined, asReader);
    assert.fail(logs.text);
  }
  const child = (fn?.answer as { child: string }).child;
  assert.equal(whole.rootRequestUid, root);
  assert.deepEqual(
    fn?.children.map((each) => [each.requestUid, each.topic, each.depth]),
    [[child, "child", 1]],
  );
  assert.deepEqual(fn?.children[0]?.functions[0]?.answer, { n: 11, type: "object" });

  // Asked from the child, the same run, from its root; a reader sees no function UIDs.
  const fromChild = await tree(child, asReader);
  assert.equal(fromChild.rootRequestUid, root);
  assert.equal(fromChild.root.functions[0]?.functionUid, null);
  assert.equal(fromChild.root.functions[0]?.children[0]?.functions[0]?.functionUid, null);
  assert.deepEqual(fromChild.totals.functions, { pending: 0, running: 0, succeeded: 2, failed: 0 });
  assert.equal(fromChild.totals.requests, 2);
  assert.ok(fromChild.totals.firstStart && fromChild.totals.lastFinish);
  assert.ok(fromChild.totals.firstStart <= fromChild.totals.lastFinish);
  assert.equal(typeof whole.root.functions[0]?.functionUid, "string");

  for (const [parent, reason] of [
    ["not-a-uid", /not a function UID/],
    [`f-00000000-0000-4000-8000-000000000000-${root}`, /no live function/],
  ] as const) {
    const refused = await http(server.url, "POST", "/publish/child", "{}", "application/json", {
      ...asPublisher,
      "gitfaas-parent": parent,
    });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.code, "INVALID_PARENT");
    assert.match(refused.json.message ?? "", reason);
  }
});

test("onSuccess: a → b → c, each fed the previous answer (JSON stays JSON), and the tree waits for the whole chain", async () => {
  const root = await publish("a", {});
  const whole = await tree(root);
  const [a, b, c] = requestsOf(whole.root);
  assert.deepEqual(
    [a, b, c].map((each) => [each?.topic, each?.depth]),
    [
      ["a", 0],
      ["b", 1],
      ["c", 2],
    ],
  );
  assert.deepEqual(a?.functions[0]?.answer, { n: 1 });
  assert.deepEqual(b?.functions[0]?.answer, { n: 2, type: "object" });
  assert.deepEqual(c?.functions[0]?.answer, { n: 3, type: "object" });
  assert.deepEqual(a?.functions[0]?.next, [
    { kind: "onSuccess", topic: "b", state: "published", reason: null, requestUid: b?.requestUid },
  ]);
  assert.deepEqual(whole.totals.functions, { pending: 0, running: 0, succeeded: 3, failed: 0 });
});

test("onFailure: a function failed after its retries publishes a dead-letter report", async () => {
  const root = await publish("fails", { order: 7 });
  const whole = await tree(root);
  const [failed] = whole.root.functions;
  assert.equal(failed?.status, "failed");
  const [dead] = failed?.children ?? [];
  assert.equal(dead?.topic, "dead");
  const report = dead?.functions[0]?.answer as Record<string, unknown>;
  assert.equal(report.requestUid, root);
  assert.equal(report.functionUid, failed?.functionUid);
  assert.equal(report.topic, "fails");
  assert.equal(report.path, "fail.yaml");
  assert.equal(report.attempts, 1);
  assert.match(String(report.reason), /exit|3/);
  const payload = await http(String(report.payload), "GET", "");
  assert.deepEqual(JSON.parse(payload.text), { order: 7 });
});

test("join: once every function of a request has finished, the join topic is published once with their answers", async () => {
  const root = await publish("fan", { n: 4 });
  const whole = await tree(root);
  assert.equal(whole.root.join.length, 1);
  assert.equal(whole.root.join[0]?.state, "published");
  const reports = requestsOf(whole.root).filter((each) => each.topic === "report");
  assert.deepEqual(
    reports.map((each) => each.requestUid),
    [whole.root.join[0]?.requestUid],
  );
  const answers = reports[0]?.functions[0]?.answer as { index: number; status: string; answer: unknown }[];
  assert.deepEqual(
    answers.map((each) => [each.index, each.status, each.answer]),
    [
      [0, "succeeded", { n: 5, type: "object" }],
      [1, "succeeded", { n: 5, type: "object" }],
      [2, "failed", null],
    ],
  );
  // Heard again (a relist, another replica): claimed already, nothing more is published.
  const functions = (await server.store.getRequest(root))?.functions ?? [];
  await Promise.all(functions.map((fn) => server.nextSteps.functionFinished(fn.functionUid)));
  const again = await server.store.listTree(root);
  assert.equal(again.filter((request) => request.topic === "report").length, 1);
});

test("depth bound: a loop of next steps stops at --pipeline-max-depth with the reason", async () => {
  const root = await publish("loop", { n: 0 });
  const whole = await tree(root);
  const chain = requestsOf(whole.root);
  assert.deepEqual(
    chain.map((each) => each.depth),
    [0, 1, 2, 3],
  );
  const last = chain.at(-1)?.functions[0];
  assert.deepEqual(last?.answer, { n: 4, type: "object" });
  assert.equal(last?.next[0]?.state, "refused");
  assert.match(last?.next[0]?.reason ?? "", /4 publishes deep; at most 3/);
});

test("a step claimed and never published (its claimer died) is published once at the next start, under the claimed UID", async () => {
  const dataDir = await tempDir("pipelines-restart");
  after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startServer({ repo }, { dataDir });
  const published = await http(first.url, "POST", "/publish/c", '{"n":0}', "application/json");
  const done = await http(first.url, "GET", `/requests/${published.json.requestUid as string}/tree?wait=60`);
  assert.equal(done.json.finished, true, done.text);
  const [fn] = (await first.store.getRequest(published.json.requestUid as string))?.functions ?? [];
  assert.ok(fn);
  // What a process killed between claiming and publishing leaves behind.
  const childRequestUid = `r-${randomUUID()}`;
  const claim = {
    key: `${fn.functionUid}:onSuccess:b`,
    kind: "onSuccess" as const,
    sourceRequestUid: fn.requestUid,
    sourceFunctionUid: fn.functionUid,
    topic: "b",
    childRequestUid,
    claimedAt: new Date(),
  };
  assert.equal(await first.store.claimFiring(claim), true);
  await first.close();

  const second = await startServer({ repo }, { dataDir });
  after(() => second.cleanup());
  // The unsettled claim holds the run open: the wait ends once the child is published and has run.
  const run = await http(second.url, "GET", `/requests/${fn.requestUid}/tree?wait=60`);
  assert.equal(run.status, 200, run.text);
  assert.equal(run.json.finished, true, run.text);
  const view = run.json as unknown as TreeView;
  assert.deepEqual(view.root.functions[0]?.children[0]?.functions[0]?.answer, { n: 2, type: "object" });
  assert.deepEqual(view.root.functions[0]?.next, [
    { kind: "onSuccess", topic: "b", state: "published", reason: null, requestUid: childRequestUid },
  ]);
  const steps = await second.store.listTree(fn.requestUid);
  assert.deepEqual(
    steps.filter((request) => request.topic === "b").map((request) => request.requestUid),
    [childRequestUid],
  );
});

test("next steps naming an unknown topic refuse the revision with file:line", async () => {
  const broken = await tempDir("pipelines-broken");
  after(() => rm(broken, { recursive: true, force: true }));
  await writeTree(broken, {
    "config.json":
      '{\n  "topics": [\n    { "name": "a", "configs": ["a.yaml"],\n      "onSuccess": ["nope"] }\n  ]\n}\n',
    "a.yaml": nodeJob("a", respondWith("1")),
  });
  await assert.rejects(loadCatalog(broken, "config.json"), {
    code: "CATALOG_INVALID",
    message: /^config\.json:4: onSuccess names topic "nope", which config\.json does not define$/,
  });
});

const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts")];

/** Runs the CLI as its own process (piped: no colour) against the test server. */
async function gitfaas(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args, "--url", server.url], {
    env: { ...process.env, GITFAAS_TOKEN: PUBLISHER },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

test("CLI: publish --parent links the request; trace prints the run as a plain tree when piped, or JSON", async () => {
  const root = await publish("a", {});
  await tree(root);
  const [fn] = (await server.store.getRequest(root))?.functions ?? [];
  assert.ok(fn);
  const published = await gitfaas([
    "publish",
    "child",
    "--json",
    "-d",
    '{"n":41}',
    "--parent",
    fn.functionUid,
  ]);
  assert.equal(published.code, 0, published.stderr);
  const child = (JSON.parse(published.stdout) as { requestUid: string }).requestUid;

  const traced = await gitfaas(["trace", child, "--wait", "60"]);
  assert.equal(traced.code, 0, traced.stderr);
  assert.ok(!traced.stdout.includes("\u001b["), traced.stdout);
  const lines = traced.stdout.trimEnd().split("\n");
  assert.equal(lines[0], `${root} a`);
  assert.match(lines[1] ?? "", /^└─ start\.yaml {2}succeeded {2}\d+(ms|\.\ds)$/);
  assert.match(traced.stdout, new RegExp(`· onSuccess → b {2}published {2}r-`));
  assert.match(traced.stdout, new RegExp(`\\s${child} child\\n`));
  assert.match(lines.at(-1) ?? "", /^4 requests · 4 functions: 4 succeeded · /);

  const json = await gitfaas(["trace", child, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as TreeView).rootRequestUid, root);
  const unknown = await gitfaas(["trace", `r-${randomUUID()}`]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stdout, /REQUEST_NOT_FOUND/);
});
