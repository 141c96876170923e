import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

/** A repository written for the Python gitfaas: its Mustache forms, and a kind: List of two Jobs. */

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;

/** `manifest` (one object) as an item of a List: its lines indented under `  - `. */
function listItem(manifest: string): string {
  const [first, ...rest] = manifest.trimEnd().split("\n");
  return [`  - ${first}`, ...rest.map((line) => `    ${line}`)].join("\n");
}

// The second Job answers only once the first one's answer is in, and includes it: the function's final
// answer then shows that both ran and both answered, whatever order they started in.
const SECOND = `
const url = process.env.GITFAAS_URL + "/response/" + process.env.REQUEST_UID + "?wait=5";
let first = null;
while (first === null) first = (await (await fetch(url)).json()).responses[1];
${respondWith('{ job: "b", first: JSON.parse(Buffer.from(first, "base64").toString("utf8")) }')}
`;

before(async () => {
  repo = await tempDir("compat-repo");
  const values = nodeJob("values", respondWith("{ x: process.env.X, y: process.env.Y, z: process.env.Z }"), {
    X: "{{{x}}}",
    Y: '"{{& y}}"',
    Z: '"z{{! dropped }}"',
  });
  await writeTree(repo, {
    "config.json": JSON.stringify({ topics: [{ name: "compat", configs: ["values.yaml", "list.yaml"] }] }),
    "values.yaml": `{{! written for the Python gitfaas }}\n${values}`,
    "list.yaml": [
      "apiVersion: v1",
      "kind: List",
      "items:",
      listItem(nodeJob("list-a", respondWith('{ job: "a", x: process.env.X }'), { X: '"{{{x}}}"' })),
      listItem(nodeJob("list-b", SECOND, { REQUEST_UID: '"{{REQUEST_UID}}"' })),
      "",
    ].join("\n"),
  });
  server = await startServer({ repo });
});

after(async () => {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
});

interface FunctionView {
  functionUid: string;
  status: string;
  response: string | null;
}

/** Reads the request until every function has finished (an answer alone does not end a run). */
async function finished(
  requestUid: string,
): Promise<{ responses: (string | null)[]; functions: FunctionView[] }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const read = await http(server.url, "GET", `/response/${requestUid}?wait=20`);
    assert.equal(read.status, 200, read.text);
    const functions = read.json.functions as FunctionView[];
    if (functions.every((fn) => fn.status === "succeeded" || fn.status === "failed")) {
      return { responses: read.json.responses as (string | null)[], functions };
    }
    assert.ok(Date.now() < deadline, `still running: ${read.text}`);
    await sleep(100);
  }
}

const decode = (encoded: string | null | undefined): unknown =>
  JSON.parse(Buffer.from(encoded ?? "", "base64").toString("utf8"));

test("{{{x}}}, {{& x}} and {{! c }} render as the original did, values unescaped; both Jobs of a List run and answer", async () => {
  const x = 'a"b&c<d>';
  const y = "<&>'";
  const query = `x=${encodeURIComponent(x)}&y=${encodeURIComponent(y)}`;
  const published = await http(server.url, "POST", `/publish/compat?${query}`, "hi", "text/plain");
  assert.equal(published.status, 202, published.text);
  assert.equal(published.json.error, false, published.text);
  const applies = published.json.applies as {
    path: string;
    error: boolean;
    message: string;
    functionUid: string;
    objects: { kind: string; name: string }[];
  }[];
  assert.deepEqual(
    applies.map((apply) => [apply.path, apply.error, apply.objects.map((object) => object.kind)]),
    [
      ["values.yaml", false, ["Job"]],
      ["list.yaml", false, ["Job", "Job"]],
    ],
  );
  assert.match(applies[1]!.objects[0]!.name, /^list-a-/);
  assert.match(applies[1]!.objects[1]!.name, /^list-b-/);

  const { responses, functions } = await finished(published.json.requestUid as string);
  assert.deepEqual(
    functions.map((fn) => fn.status),
    ["succeeded", "succeeded"],
  );
  assert.deepEqual(decode(responses[0]), { x, y, z: "z" });
  assert.deepEqual(decode(responses[1]), { job: "b", first: { job: "a", x } });

  const logs = await http(server.url, "GET", `/logs/${applies[1]!.functionUid}`);
  assert.match(logs.text, /--- Job\/list-a-[0-9a-f-]+ container main, attempt 1 ---/);
  assert.match(logs.text, /--- Job\/list-b-[0-9a-f-]+ container main, attempt 1 ---/);
});
