/**
 * gitfaas as the original Python gitfaas's users call it: a repository in its shapes (its README's
 * Job manifest, its starter lambdas in Python and in Node posting to `$GITFAAS_URL/response/$FUNCTION_UID`,
 * Mustache's unescaped forms), its curl lines, and the answers its contract describes
 * (../shared/reference/original-contract.md). Written anew here; nothing is copied from the original.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { BUILT_IN_VALUES } from "../src/dispatch/index.js";
import { isErrorCode } from "../src/errors/index.js";
import { http, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;

/** The original README's minimal Job, as its users copied it, with their lambda's command. */
function readmeJob(name: string, command: string, extraEnv = ""): string {
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
  namespace: default
spec:
  ttlSecondsAfterFinished: 60
  backoffLimit: 0
  template:
    spec:
      containers:
      - name: myfunction
        image: python:3
        command: ${command}
        env:
        - name: PAYLOAD
          value: "{{PAYLOAD}}"
        - name: FUNCTION_UID
          value: "{{FUNCTION_UID}}"
${extraEnv}      restartPolicy: Never
`;
}

// The starter lambda's Python style: the payload from base64, the answer posted with the standard library.
const PYTHON_HANDLER = `import base64, json, os, urllib.request

def main():
    b64_payload = os.environ.get("PAYLOAD", None)
    if b64_payload is None:
        print("No payload in env")
        return
    message = base64.b64decode(b64_payload).decode("utf-8")
    answer = json.dumps({"got": message, "who": os.environ.get("WHO", "")}).encode("utf-8")
    url = os.environ["GITFAAS_URL"] + "/response/" + os.environ["FUNCTION_UID"]
    request = urllib.request.Request(url, data=answer, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        print("stored:", response.read().decode("utf-8"))

main()
`;

// The Node style: fetch, a text answer.
const NODE_HANDLER = `const message = Buffer.from(process.env.PAYLOAD ?? "", "base64").toString("utf8");
const url = process.env.GITFAAS_URL + "/response/" + process.env.FUNCTION_UID;
const response = await fetch(url, { method: "POST", headers: { "content-type": "text/plain" }, body: "node:" + message });
console.log("stored:", await response.text());
`;

before(async () => {
  repo = await tempDir("original-shapes");
  await writeTree(repo, {
    "config.json": JSON.stringify(
      {
        topics: [
          { name: "timeToCollect", configs: ["collect.yaml", "uncompress.yaml"] },
          { name: "timeToGreet", configs: ["greet.yaml"] },
        ],
      },
      null,
      4,
    ),
    "collect.yaml": readmeJob("collect", '["python3", "handler.py"]'),
    "uncompress.yaml": readmeJob("uncompress", '["node", "handler.mjs"]'),
    // Mustache's unescaped forms and a comment, as the original's users wrote them.
    "greet.yaml": readmeJob(
      "greet",
      '["python3", "handler.py"]',
      '        - name: WHO\n          value: "{{{who}}} and {{& who}}{{! the original unescaped both }}"\n',
    ),
    "handler.py": PYTHON_HANDLER,
    "handler.mjs": NODE_HANDLER,
  });
  server = await startServer({ repo });
});

after(async () => {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
});

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

test("a publish as the original's README sends it: 202 with its fields, UIDs in its shapes, both lambdas answer", async () => {
  // curl -X POST http://gitfaas:5000/publish/timeToCollect -d '…' sends a form body: taken as text.
  const published = await http(
    server.url,
    "POST",
    "/publish/timeToCollect",
    "stations=oslo",
    "application/x-www-form-urlencoded",
  );
  assert.equal(published.status, 202, published.text);
  const requestUid = published.json.requestUid as string;
  assert.match(requestUid, new RegExp(`^r-${UUID}$`));
  assert.equal(requestUid.length, 38);
  assert.equal(published.json.error, false);
  const applies = published.json.applies as {
    error: boolean;
    path: string;
    message: string;
    functionUid: string;
  }[];
  assert.deepEqual(
    applies.map(({ error, path }) => ({ error, path })),
    [
      { error: false, path: "collect.yaml" },
      { error: false, path: "uncompress.yaml" },
    ],
  );
  for (const apply of applies) {
    assert.equal(typeof apply.message, "string");
    assert.match(apply.functionUid, new RegExp(`^f-${UUID}-${requestUid}$`));
    assert.equal(apply.functionUid.length, 77);
  }

  const answered = await http(server.url, "GET", `/response/${requestUid}?wait=30`);
  assert.equal(answered.status, 200, answered.text);
  assert.equal(answered.json.error, false);
  // One base64 answer per function, in apply order, each byte for byte what its lambda posted.
  const responses = (answered.json.responses as string[]).map((b64) => Buffer.from(b64, "base64").toString());
  assert.deepEqual(responses, ['{"got": "stations=oslo", "who": ""}', "node:stations=oslo"]);
});

test("the original's routes and answers: /alive, the stored-response message", async () => {
  const alive = await http(server.url, "GET", "/alive");
  assert.equal(alive.status, 200);
  assert.deepEqual(alive.json, { alive: true });

  const published = await http(server.url, "POST", "/publish/timeToGreet?who=ann", "hi", "text/plain");
  const requestUid = published.json.requestUid as string;
  const answered = await http(server.url, "GET", `/response/${requestUid}?wait=30`);
  const [answer] = (answered.json.responses as string[]).map((b64) => Buffer.from(b64, "base64").toString());
  // {{{who}}} and {{& who}} render as {{who}}; the comment disappears; the value is not HTML-escaped.
  assert.deepEqual(JSON.parse(answer!), { got: "hi", who: "ann and ann" });
  // The lambda prints what it was told after its answer is stored: its output is whole once it ended.
  while (
    ((await http(server.url, "GET", `/response/${requestUid}`)).json.functions as { status: string }[])[0]!
      .status !== "succeeded"
  )
    await new Promise((resolve) => setTimeout(resolve, 50));
  const logs = await http(server.url, "GET", `/logs/${requestUid}/0`);
  assert.match(logs.text, /stored: \{"error": ?false, ?"message": ?"Response stored correctly"/);
});

test("the declared differences: unknown topic 404, reserved names 400, missing value 400", async () => {
  const unknown = await http(server.url, "POST", "/publish/noSuchTopic", "x", "text/plain");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.code, "TOPIC_NOT_FOUND");
  for (const name of BUILT_IN_VALUES) {
    const reserved = await http(
      server.url,
      "POST",
      `/publish/timeToGreet?who=a&${name}=x`,
      "x",
      "text/plain",
    );
    assert.equal(reserved.status, 400, name);
    assert.equal(reserved.json.code, "RESERVED_PARAMETER", name);
  }
  const missing = await http(server.url, "POST", "/publish/timeToGreet", "x", "text/plain");
  assert.equal(missing.status, 400);
  assert.equal(missing.json.code, "TEMPLATE_MISSING_VALUE");
});

test("the README's migration section is in step with the code: every reserved name, only registered codes", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("## Migrating from the Python gitfaas");
  assert.ok(start >= 0, "README has no migration section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end);
  for (const name of BUILT_IN_VALUES)
    assert.match(section, new RegExp(`\`${name}\``), `reserved name ${name}`);
  const named = [...section.matchAll(/`([A-Z][A-Z_]*_[A-Z_]+)`/g)].map((match) => match[1]!);
  // Codes the differences answer with: each must be said where the difference is.
  for (const code of [
    "TOPIC_NOT_FOUND",
    "REQUEST_NOT_FOUND",
    "TEMPLATE_MISSING_VALUE",
    "RESERVED_PARAMETER",
    "CATALOG_NOT_LOADED",
    "CATALOG_INVALID",
    "METHOD_NOT_ALLOWED",
    "ANSWER_FINAL",
  ])
    assert.ok(named.includes(code), `the migration section does not name ${code}`);
  const reserved = new Set<string>(BUILT_IN_VALUES);
  const unknown = named.filter((word) => !reserved.has(word) && !isErrorCode(word) && !isEnvName(word));
  assert.deepEqual(unknown, [], "codes named in the migration section that the registry does not have");
});

/** The original's and our environment names, which the section names too. */
function isEnvName(word: string): boolean {
  return /^(GIT_|POLLING_|APPLY_|BANNED_|EXPIRATION_|REDIS_|LOG_|GITFAAS_)/.test(word);
}
