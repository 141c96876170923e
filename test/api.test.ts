import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;

const ECHO = respondWith("{ payload, param: process.env.PARAM, topic: process.env.TOPIC_NAME }");

before(async () => {
  repo = await tempDir("repo");
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "echo", configs: ["echo.yaml"] },
        { name: "twice", configs: ["echo.yaml", "second.yaml"] },
        { name: "param", configs: ["param.yaml"] },
        { name: "banned", configs: ["service.yaml", "echo.yaml"] },
        { name: "elsewhere", configs: ["other-namespace.yaml"] },
        { name: "deployment", configs: ["deployment.yaml"] },
        { name: "fails", configs: ["fails.yaml"] },
        { name: "by-url", configs: ["by-url.yaml"] },
        {
          name: "typed",
          configs: ["param.yaml"],
          params: {
            who: { type: "string", pattern: "^[a-z]+$", default: "nobody" },
            n: { type: "integer", maximum: 3 },
          },
        },
      ],
    }),
    "echo.yaml": nodeJob("echo", ECHO, { TOPIC_NAME: '"{{ TOPIC }}"' }),
    "second.yaml": nodeJob("second", respondWith('"second:" + payload')),
    "param.yaml": nodeJob("param", ECHO, { PARAM: '"{{who}}"' }),
    "service.yaml": "apiVersion: v1\nkind: service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80}]\n",
    "other-namespace.yaml": nodeJob("other", ECHO).replace(
      "metadata:\n",
      "metadata:\n  namespace: kube-system\n",
    ),
    "deployment.yaml":
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: {{replicas}}\n",
    "fails.yaml": nodeJob("fails", "process.exit(4)").replace("backoffLimit: 0", "backoffLimit: 1"),
    "by-url.yaml": nodeJob("by-url", respondWith("await (await fetch(process.env.BODY_URL)).text()"), {
      PAYLOAD: '""',
      BODY_URL: "{{PAYLOAD_URL}}",
    }),
  });
  server = await startServer({ repo, "body-limit": String(512 * 1024) });
});

after(async () => {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
});

async function publishAndWait(path: string, body?: string, contentType?: string) {
  const published = await http(server.url, "POST", path, body, contentType);
  assert.equal(published.status, 202, published.text);
  const requestUid = published.json.requestUid as string;
  const responses = await http(server.url, "GET", `/response/${requestUid}?wait=20`);
  assert.equal(responses.status, 200, responses.text);
  return { published: published.json, responses: responses.json };
}

test("publish → lambda → response round trip, in the original's shapes", async () => {
  const { published, responses } = await publishAndWait("/publish/echo", "hello world", "text/plain");
  assert.match(published.requestUid as string, /^r-[0-9a-f-]{36}$/);
  const applies = published.applies as { error: boolean; path: string; functionUid: string }[];
  assert.equal(applies.length, 1);
  assert.equal(applies[0]!.error, false);
  assert.equal(applies[0]!.path, "echo.yaml");
  assert.match(applies[0]!.functionUid, new RegExp(`^f-[0-9a-f-]{36}-${published.requestUid as string}$`));
  assert.equal(published.error, false);

  const encoded = (responses.responses as (string | null)[])[0]!;
  const answer = JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
  assert.deepEqual(answer, { payload: "hello world", topic: "echo" });
  const functions = responses.functions as Record<string, unknown>[];
  assert.equal(functions[0]!.functionUid, applies[0]!.functionUid);
  assert.equal(JSON.parse(functions[0]!.response as string).payload, "hello world");
  assert.ok(["running", "succeeded"].includes(functions[0]!.status as string));
});

test("every manifest of a topic runs; responses come back in apply order", async () => {
  const { published, responses } = await publishAndWait("/publish/twice", '{"n":1}', "application/json");
  assert.deepEqual(
    (published.applies as { path: string }[]).map((a) => a.path),
    ["echo.yaml", "second.yaml"],
  );
  const decoded = (responses.responses as string[]).map((r) =>
    JSON.parse(Buffer.from(r, "base64").toString()),
  );
  assert.deepEqual(decoded[0], { payload: '{"n":1}', topic: "twice" });
  assert.equal(decoded[1], 'second:{"n":1}');
});

test("query parameters are template values; injection lands verbatim inside one scalar", async () => {
  const attacks = [
    'x"\nkind: ClusterRole\n',
    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}",
    "{a: 1}",
    "'; rm -rf / #",
  ];
  for (const attack of attacks) {
    const query = new URLSearchParams({ who: attack });
    const { published, responses } = await publishAndWait(`/publish/param?${query}`, attack, "text/plain");
    assert.equal(published.error, false);
    const answer = JSON.parse(Buffer.from((responses.responses as string[])[0]!, "base64").toString());
    assert.equal(answer.param, attack);
    assert.equal(answer.payload, attack);
  }
});

test("a missing template value refuses the publish, naming it, and runs nothing", async () => {
  const runs = async (): Promise<string[]> =>
    (await readdir(join(server.dataDir, "runs")).catch(() => [])).sort();
  const before = await runs();
  const answer = await http(server.url, "POST", "/publish/param", "x", "text/plain");
  // The local runtime makes a function's run folder before publish answers: none means none started.
  assert.deepEqual(await runs(), before, "no function was started");
  assert.equal(answer.status, 400);
  assert.equal(answer.json.error, true);
  assert.equal(answer.json.code, "TEMPLATE_MISSING_VALUE");
  assert.match(answer.json.message!, /who/);
});

test("a parameter may not take over a built-in value", async () => {
  const answer = await http(server.url, "POST", "/publish/echo?PAYLOAD=evil", "x", "text/plain");
  assert.equal(answer.status, 400);
  assert.equal(answer.json.code, "RESERVED_PARAMETER");
});

test("unknown topic is 404, not an empty success", async () => {
  const answer = await http(server.url, "POST", "/publish/no-such-topic", "x", "text/plain");
  assert.equal(answer.status, 404);
  assert.deepEqual(Object.keys(answer.json).sort(), ["code", "details", "error", "message"]);
  assert.equal(answer.json.code, "TOPIC_NOT_FOUND");
});

test("a banned kind is refused per manifest (case-insensitive); the others still run", async () => {
  const { published, responses } = await publishAndWait("/publish/banned", "b", "text/plain");
  const applies = published.applies as { error: boolean; code: string; message: string }[];
  assert.equal(published.error, true);
  assert.equal(applies[0]!.error, true);
  assert.equal(applies[0]!.code, "BANNED_KIND");
  assert.equal(applies[1]!.error, false);
  const functions = responses.functions as { status: string }[];
  assert.equal(functions[0]!.status, "failed");
  assert.equal((responses.responses as (string | null)[])[0], null);
  assert.notEqual((responses.responses as (string | null)[])[1], null);
});

test("a manifest naming another namespace is refused under namespaced scope", async () => {
  const answer = await http(server.url, "POST", "/publish/elsewhere", "x", "text/plain");
  assert.equal(answer.status, 202);
  const applies = answer.json.applies as { error: boolean; code: string }[];
  assert.equal(applies[0]!.code, "NAMESPACE_FORBIDDEN");
});

test("kinds the local runtime cannot run are reported per manifest", async () => {
  const answer = await http(server.url, "POST", "/publish/deployment?replicas=2", "", undefined);
  assert.equal(answer.status, 202);
  const applies = answer.json.applies as { error: boolean; code: string; message: string }[];
  assert.equal(applies[0]!.code, "UNSUPPORTED_KIND");
  assert.match(applies[0]!.message, /Deployment/);
});

test("a failing lambda is retried per backoffLimit and ends failed", async () => {
  const { responses } = await publishAndWait("/publish/fails", "", undefined);
  const fn = (responses.functions as { status: string; attempts: number; reason: string }[])[0]!;
  assert.equal(fn.status, "failed");
  assert.equal(fn.attempts, 2);
  assert.match(fn.reason, /exited with code 4/);
  const logs = await http(
    server.url,
    "GET",
    `/logs/${(responses.functions as { functionUid: string }[])[0]!.functionUid}`,
  );
  assert.equal(logs.status, 200);
  assert.equal(logs.text.match(/attempt \d/g)?.length, 2);
});

test("{{PAYLOAD_URL}} serves the published body to the lambda", async () => {
  const big = "z".repeat(200 * 1024);
  const { responses } = await publishAndWait("/publish/by-url", big, "text/plain");
  const answer = JSON.parse(Buffer.from((responses.responses as string[])[0]!, "base64").toString());
  assert.equal(answer, big);
});

test("a payload too large for an environment value is refused before anything runs", async () => {
  const big = "y".repeat(200 * 1024);
  const answer = await http(server.url, "POST", "/publish/echo", big, "text/plain");
  assert.equal(answer.status, 413);
  assert.equal(answer.json.code, "ENV_VALUE_TOO_LARGE");
  assert.match(answer.json.message!, /PAYLOAD_URL/);
});

test("bodies: other media types 406, broken JSON 400, over the limit 413", async () => {
  assert.equal((await http(server.url, "POST", "/publish/echo", "<p>", "text/html")).status, 406);
  const broken = await http(server.url, "POST", "/publish/echo", "{nope", "application/json");
  assert.equal(broken.status, 400);
  assert.equal(broken.json.code, "INVALID_JSON");
  const huge = await http(server.url, "POST", "/publish/echo", "x".repeat(600 * 1024), "text/plain");
  assert.equal(huge.status, 413);
  assert.equal(huge.json.code, "BODY_TOO_LARGE");
  assert.equal(huge.json.error, true);
});

test("POST /response: unknown function 404, empty body 400", async () => {
  const unknown = await http(
    server.url,
    "POST",
    "/response/f-00000000-0000-4000-8000-000000000000-r-00000000-0000-4000-8000-000000000000",
    "hi",
    "text/plain",
  );
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, "FUNCTION_NOT_FOUND");
  const published = await http(server.url, "POST", "/publish/fails", "", undefined);
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;
  const empty = await http(server.url, "POST", `/response/${functionUid}`, "", "text/plain");
  assert.equal(empty.status, 400);
  assert.equal(empty.json.code, "EMPTY_BODY");
  const ok = await http(server.url, "POST", `/response/${functionUid}`, '{"a":1}', "application/json");
  assert.equal(ok.status, 201);
  const read = await http(server.url, "GET", `/response/${published.json.requestUid as string}`);
  assert.equal(Buffer.from((read.json.responses as string[])[0]!, "base64").toString(), '{"a":1}');
});

test("GET /response for an unknown request is 404; unknown routes answer JSON", async () => {
  const unknown = await http(server.url, "GET", "/response/r-00000000-0000-4000-8000-000000000000");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, "REQUEST_NOT_FOUND");
  const route = await http(server.url, "GET", "/nope");
  assert.equal(route.status, 404);
  assert.equal(route.json.error, true);
});

test("GET /status names the revision, topics and no error", async () => {
  const status = await http(server.url, "GET", "/status");
  assert.equal(status.status, 200);
  assert.match(status.json.revision as string, /^dir-/);
  assert.equal(status.json.lastError, null);
  assert.ok((status.json.topics as string[]).includes("echo"));
  assert.ok(status.json.lastSyncAt);
});

test("a topic's declared parameters: checked before rendering, defaults filled, undeclared refused", async () => {
  const bad = await http(server.url, "POST", "/publish/typed?who=Ann!&n=4&extra=1");
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json.code, "PARAMETER_INVALID");
  const named = (bad.json.details as { parameters: { name: string }[] }).parameters.map((p) => p.name).sort();
  assert.deepEqual(named, ["extra", "n", "who"]);
  const { responses } = await publishAndWait("/publish/typed?n=2", "hi");
  assert.equal((responses.responses as string[]).length, 1);
  const answer = JSON.parse(Buffer.from((responses.responses as string[])[0] ?? "", "base64").toString());
  assert.equal(answer.param, "nobody");
});
