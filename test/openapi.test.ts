import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { ROUTE_DOCS } from "../src/http/openapi/index.js";
import {
  http,
  nodeJob,
  startServer,
  tempDir,
  writeTree,
  type HttpAnswer,
} from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;
type Operation = {
  summary?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

let repo: string;
let gate: string;
let server: Running;
let document: Document;

before(async () => {
  repo = await tempDir("openapi-repo");
  gate = join(await tempDir("openapi-gate"), "open");
  await writeTree(repo, {
    "config.json": JSON.stringify({ topics: [{ name: "wait", configs: ["wait.yaml"] }] }),
    // Runs until the test opens the gate, so that the test can answer for it meanwhile.
    "wait.yaml": nodeJob(
      "wait",
      `import { existsSync } from "node:fs";\nwhile (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 50));`,
    ),
  });
  server = await startServer({ repo });
  const answer = await http(server.url, "GET", "/openapi.json");
  assert.equal(answer.status, 200, answer.text);
  document = answer.json as unknown as Document;
});

after(async () => {
  await writeFile(gate, "").catch(() => undefined);
  await server?.cleanup();
  await rm(repo, { recursive: true, force: true });
});

const ajv = new Ajv2020({ strict: false, validateFormats: false });

/** Checks a real answer against the schema the document gives for its route and status. */
function assertMatches(answer: HttpAnswer, method: string, path: string): void {
  const operation = document.paths[path]?.[method];
  assert.ok(operation, `${method} ${path} is not in the document`);
  const response =
    operation.responses[String(answer.status)] ?? operation.responses[`${String(answer.status)[0]}XX`];
  const schema = response?.content?.["application/json"]?.schema;
  assert.ok(schema, `${method} ${path} documents no JSON answer for ${answer.status}`);
  const validate = ajv.compile(schema);
  assert.ok(
    validate(answer.json),
    `${method} ${path} ${answer.status}: ${ajv.errorsText(validate.errors)}\n${answer.text}`,
  );
}

test("GET /openapi.json is a valid OpenAPI 3.1 document", async () => {
  assert.equal(document.openapi, "3.1.0");
  const validator = new Validator();
  const result = await validator.validate(document as unknown as Parameters<Validator["validate"]>[0]);
  assert.equal(validator.version, "3.1");
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
});

test("every registered route is documented, with its scope as the bearer scheme's requirement", () => {
  const routes = server.routes.list();
  assert.ok(routes.length >= 15);
  for (const route of routes) {
    const path = route.url.replace(/:(\w+)/g, "{$1}");
    const operation = document.paths[path]?.[route.method.toLowerCase()];
    assert.ok(operation, `${route.method} ${route.url} is missing`);
    assert.ok(
      ROUTE_DOCS[`${route.method === "HEAD" ? "GET" : route.method} ${route.url}`],
      `${route.url} has no ROUTE_DOCS entry`,
    );
    assert.ok(operation.summary, `${route.method} ${route.url} has no summary`);
    assert.deepEqual(
      operation.security,
      route.access === "public" ? [] : [{ bearer: [route.access] }],
      route.url,
    );
    for (const [status, response] of Object.entries(operation.responses)) {
      if (!/^[45]/.test(status)) continue;
      const schema = response.content?.["application/json"]?.schema as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      // The error answer: `error` can only be true (swagger writes the const as a one-value enum).
      assert.ok(
        [`{"const":true}`, `{"enum":[true]}`].includes(JSON.stringify(schema?.properties?.error)),
        `${route.url} ${status}`,
      );
      assert.deepEqual(schema.required, ["error", "code", "message"], `${route.url} ${status}`);
    }
  }
});

test("real answers match the document's schemas, and nothing is dropped from them", async () => {
  const published = await http(server.url, "POST", "/publish/wait", "hi", "text/plain");
  assertMatches(published, "post", "/publish/{topic}");
  const requestUid = published.json.requestUid as string;
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;

  const answered = await http(server.url, "POST", `/response/${functionUid}`, '{"x":1}', "application/json");
  assert.equal(answered.status, 201, answered.text);
  assertMatches(answered, "post", "/response/{functionUid}");
  // The original's message: a response schema that serialized answers would drop what it does not list.
  assert.equal(answered.json.message, "Response stored correctly");
  await writeFile(gate, "");

  // Until its run has ended: only then is the answer final.
  let responses = await http(server.url, "GET", `/response/${requestUid}`);
  const deadline = Date.now() + 30_000;
  while ((responses.json.functions as { status: string }[])[0]?.status !== "succeeded") {
    assert.ok(Date.now() < deadline, responses.text);
    await new Promise((resolve) => setTimeout(resolve, 100));
    responses = await http(server.url, "GET", `/response/${requestUid}`);
  }
  assertMatches(responses, "get", "/response/{requestUid}");
  const tree = await http(server.url, "GET", `/requests/${requestUid}/tree`);
  assertMatches(tree, "get", "/requests/{requestUid}/tree");
  // Documented as a bare object: still sent whole.
  assert.ok(Object.keys(tree.json.totals as object).length > 0, tree.text);
  const final = await http(server.url, "POST", `/response/${functionUid}`, "again", "text/plain");
  assert.equal(final.status, 409, final.text);
  assertMatches(final, "post", "/response/{functionUid}");

  for (const path of ["/status", "/healthz", "/alive", "/readyz"]) {
    assertMatches(await http(server.url, "GET", path), "get", path);
  }
  const unknown = await http(server.url, "POST", "/publish/nope");
  assert.equal(unknown.status, 404);
  assertMatches(unknown, "post", "/publish/{topic}");
  const reserved = await http(server.url, "POST", "/publish/wait?PAYLOAD=x");
  assert.equal(reserved.status, 400);
  assertMatches(reserved, "post", "/publish/{topic}");
  // `details` is documented as an object without properties: its content stays.
  assert.deepEqual((reserved.json.details as { names: string[] }).names, ["PAYLOAD"]);
});
