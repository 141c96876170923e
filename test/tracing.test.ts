import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { addTraceparent, type KubeObject } from "../src/templating/index.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import { OtlpListener, type ReceivedSpan } from "./support/otlp-listener.js";

/** Answers the TRACEPARENT its lambda was given. */
const tellsTraceparent = respondWith("({ traceparent: process.env.TRACEPARENT ?? null })");

/** Publishes `child` as a lambda should: its TRACEPARENT and its function as Gitfaas-Parent. */
const publishesChild = `
const sent = await fetch(process.env.GITFAAS_URL + "/publish/child", {
  method: "POST",
  headers: { traceparent: process.env.TRACEPARENT, "gitfaas-parent": process.env.FUNCTION_UID },
});
if (sent.status !== 202) { console.error(await sent.text()); process.exit(1); }
${tellsTraceparent}`;

const repo = await tempDir("tracing-repo");
after(() => rm(repo, { recursive: true, force: true }));
await writeTree(repo, {
  "config.json": JSON.stringify({
    topics: [
      { name: "a", configs: ["a.yaml"], onSuccess: ["b"] },
      { name: "b", configs: ["b.yaml"] },
      { name: "parent", configs: ["parent.yaml"] },
      { name: "child", configs: ["b.yaml"] },
      { name: "banned", configs: ["role.yaml"], onFailure: ["b"] },
    ],
  }),
  "a.yaml": nodeJob("a", tellsTraceparent),
  "b.yaml": nodeJob("b", tellsTraceparent),
  "parent.yaml": nodeJob("parent", publishesChild),
  "role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r-{{RANDOM}}\n",
});

interface FnView {
  status: string;
  answer: { traceparent: string | null } | null;
  children: { topic: string; functions: FnView[] }[];
}

/** Publishes, waits for the whole run (next steps and children included), and answers its functions, root first. */
async function run(
  url: string,
  topic: string,
  headers: Record<string, string> = {},
  allSucceed = true,
): Promise<FnView[]> {
  const published = await http(url, "POST", `/publish/${topic}`, "{}", "application/json", headers);
  assert.equal(published.status, 202, published.text);
  const read = await http(url, "GET", `/requests/${published.json.requestUid as string}/tree?wait=60`);
  assert.equal(read.status, 200, read.text);
  const root = (read.json as { root: { functions: FnView[] } }).root;
  const all = (fns: FnView[]): FnView[] =>
    fns.flatMap((fn) => [fn, ...fn.children.flatMap((c) => all(c.functions))]);
  const functions = all(root.functions);
  for (const fn of functions) if (allSucceed) assert.equal(fn.status, "succeeded", read.text);
  return functions;
}

/**
 * Runs `work` against a gitfaas exporting to a real OTLP/HTTP listener; closing gitfaas sends what is
 * left, then waits for the spans `ready` wants.
 */
async function traced<T>(
  work: (url: string) => Promise<T>,
  ready: (spans: readonly ReceivedSpan[]) => boolean,
): Promise<{ result: T; spans: readonly ReceivedSpan[] }> {
  const listener = await OtlpListener.start();
  try {
    const server = await startServer({ repo, "otlp-endpoint": listener.url });
    let result: T;
    try {
      result = await work(server.url);
    } finally {
      await server.cleanup();
    }
    await listener.waitFor(ready);
    return { result, spans: listener.spans };
  } finally {
    await listener.close();
  }
}

function one(spans: readonly ReceivedSpan[], name: string, topic: string): ReceivedSpan {
  const found = spans.filter((span) => span.name === name && span.attributes["gitfaas.topic"] === topic);
  assert.equal(found.length, 1, `${name} ${topic}: ${JSON.stringify(spans)}`);
  return found[0] as ReceivedSpan;
}

const has = (names: string[]) => (spans: readonly ReceivedSpan[]) =>
  names.every((key) =>
    spans.some((span) => `${span.name} ${String(span.attributes["gitfaas.topic"])}` === key),
  );

const timeout = 90_000;

test(
  "a two-step pipeline is one trace: a's publish → a's function → b's publish → b's function",
  { timeout },
  async () => {
    const { result, spans } = await traced(
      (url) => run(url, "a"),
      has(["publish a", "function a", "publish b", "function b", "render a", "apply a"]),
    );
    const [publishA, functionA, publishB, functionB] = [
      one(spans, "publish", "a"),
      one(spans, "function", "a"),
      one(spans, "publish", "b"),
      one(spans, "function", "b"),
    ];
    assert.equal(publishA.parentSpanId, undefined);
    assert.equal(functionA.parentSpanId, publishA.spanId);
    assert.equal(publishB.parentSpanId, functionA.spanId);
    assert.equal(functionB.parentSpanId, publishB.spanId);
    assert.equal(one(spans, "render", "a").parentSpanId, publishA.spanId);
    assert.equal(one(spans, "apply", "a").parentSpanId, functionA.spanId);
    for (const span of [functionA, publishB, functionB]) assert.equal(span.traceId, publishA.traceId);
    // Each lambda got its own function span as TRACEPARENT.
    const [answerA, answerB] = result.map((fn) => fn.answer?.traceparent);
    assert.equal(answerA, `00-${publishA.traceId}-${functionA.spanId}-01`);
    assert.equal(answerB, `00-${publishA.traceId}-${functionB.spanId}-01`);
    assert.equal(functionA.attributes["gitfaas.function.status"], "succeeded");
    assert.equal(functionA.attributes["gitfaas.path"], "a.yaml");
    assert.match(String(functionA.attributes["gitfaas.function.id"]), /^f-[0-9a-f-]{36}$/);
    assert.equal(functionA.status.code, 1);
    assert.equal(publishA.service, "gitfaas");
    // A function UID is the capability to answer: never an attribute.
    for (const span of spans)
      for (const value of Object.values(span.attributes)) assert.doesNotMatch(String(value), /^f-.*-r-/);
  },
);

test(
  "a lambda's child publish with the TRACEPARENT it received continues the same trace",
  { timeout },
  async () => {
    const { spans } = await traced(
      (url) => run(url, "parent"),
      has(["publish parent", "function parent", "publish child", "function child"]),
    );
    const parentFunction = one(spans, "function", "parent");
    const childPublish = one(spans, "publish", "child");
    assert.equal(childPublish.parentSpanId, parentFunction.spanId);
    assert.equal(childPublish.traceId, parentFunction.traceId);
    assert.equal(one(spans, "function", "child").traceId, parentFunction.traceId);
  },
);

test("a caller's traceparent is kept: the publish is its child, in its trace", { timeout }, async () => {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  const { result, spans } = await traced(
    (url) => run(url, "b", { traceparent: `00-${traceId}-${spanId}-01` }),
    has(["publish b", "function b"]),
  );
  const publish = one(spans, "publish", "b");
  assert.equal(publish.traceId, traceId);
  assert.equal(publish.parentSpanId, spanId);
  assert.equal(one(spans, "function", "b").traceId, traceId);
  assert.match(String(result[0]?.answer?.traceparent), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
});

test("an invalid traceparent is replaced by a new trace, not refused", { timeout }, async () => {
  const { result, spans } = await traced(
    (url) => run(url, "b", { traceparent: "00-not-a-trace-01" }),
    has(["publish b", "function b"]),
  );
  const publish = one(spans, "publish", "b");
  assert.equal(publish.parentSpanId, undefined);
  assert.match(publish.traceId, /^[0-9a-f]{32}$/);
  assert.equal(publish.attributes["gitfaas.traceparent.invalid"], true);
  const fn = one(spans, "function", "b");
  assert.equal(result[0]?.answer?.traceparent, `00-${publish.traceId}-${fn.spanId}-01`);
});

test(
  "a refused function and a refused publish end their spans as errors; onFailure continues the trace",
  { timeout },
  async () => {
    const { spans } = await traced(
      async (url) => {
        await run(url, "banned", {}, false);
        // Its base64 is over 128 KiB in an environment value: 413 once every manifest is rendered.
        const big = await http(url, "POST", "/publish/b", "x".repeat(200_000), "text/plain");
        assert.equal(big.status, 413, big.text);
      },
      has(["function banned", "apply banned", "publish b", "function b"]),
    );
    const refused = one(spans, "function", "banned");
    assert.equal(refused.status.code, 2);
    assert.equal(refused.attributes["gitfaas.function.status"], "failed");
    assert.equal(one(spans, "apply", "banned").attributes["gitfaas.error.code"], "BANNED_KIND");
    const published = spans.filter((s) => s.name === "publish" && s.attributes["gitfaas.topic"] === "b");
    const deadLetter = published.find((s) => s.parentSpanId !== undefined);
    const tooBig = published.find((s) => s.parentSpanId === undefined);
    assert.equal(deadLetter?.parentSpanId, refused.spanId);
    assert.equal(deadLetter?.traceId, refused.traceId);
    assert.equal(tooBig?.attributes["gitfaas.error.code"], "ENV_VALUE_TOO_LARGE");
    const notRun = spans.find((s) => s.name === "function" && s.parentSpanId === tooBig?.spanId);
    assert.equal(notRun?.status.code, 2);
  },
);

test(
  "without --otlp-endpoint, lambdas still get the context: the caller's as sent, and next steps continue it",
  { timeout },
  async () => {
    const server = await startServer({ repo });
    after(() => server.cleanup());
    const given = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
    const [a, b] = await run(server.url, "a", { traceparent: given });
    assert.equal(a?.answer?.traceparent, given);
    assert.equal(b?.answer?.traceparent, given);
    const [fresh] = await run(server.url, "b");
    assert.match(String(fresh?.answer?.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  },
);

test("TRACEPARENT goes into each container of a Job or Pod, unless set; never into a long-lived workload", () => {
  const container = (name: string, env?: unknown[]) => ({ name, image: "x", ...(env ? { env } : {}) });
  const job: KubeObject = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "j" },
    spec: {
      template: {
        spec: {
          initContainers: [container("init")],
          containers: [
            container("main", [{ name: "A", value: "1" }]),
            container("own", [{ name: "TRACEPARENT", value: "mine" }]),
          ],
        },
      },
    },
  };
  const deployment: KubeObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "d" },
    spec: { template: { spec: { containers: [container("main")] } } },
  };
  const [tracedJob, tracedDeployment] = addTraceparent([job, deployment], "00-t-s-01");
  const spec = (tracedJob?.spec as { template: { spec: Record<string, { env: unknown[] }[]> } }).template
    .spec;
  assert.deepEqual(spec.initContainers?.[0]?.env, [{ name: "TRACEPARENT", value: "00-t-s-01" }]);
  assert.deepEqual(spec.containers?.[0]?.env, [
    { name: "A", value: "1" },
    { name: "TRACEPARENT", value: "00-t-s-01" },
  ]);
  assert.deepEqual(spec.containers?.[1]?.env, [{ name: "TRACEPARENT", value: "mine" }]);
  // In place (the objects of one publish, freshly rendered): the same objects come back.
  assert.equal(tracedJob, job);
  assert.equal(tracedDeployment, deployment);
  assert.deepEqual(
    (deployment.spec as { template: { spec: { containers: { env?: unknown }[] } } }).template.spec
      .containers[0],
    container("main"),
  );
});
