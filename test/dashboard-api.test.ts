import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;

// What the dashboard reads besides the routes every caller uses: GET /topics, and the tree's long-poll.
let work: string;
let gate: string;
let server: Running;
const READ = "tok-dash-read";

before(async () => {
  work = await tempDir("dashboard-api");
  gate = join(work, "gate");
  const held = `import { existsSync } from "node:fs";
while (!existsSync(process.env.GATE)) await new Promise((r) => setTimeout(r, 50));
${respondWith("payload")}`;
  await writeTree(join(work, "repo"), {
    "config.json": JSON.stringify({
      topics: [
        { name: "held", configs: ["held.yaml"], onSuccess: ["after"] },
        { name: "after", configs: ["after.yaml"] },
        { name: "scale", configs: ["after.yaml"], params: { replicas: { type: "integer", default: 1 } } },
      ],
    }),
    "held.yaml": nodeJob("held", held, { GATE: JSON.stringify(gate) }),
    "after.yaml": nodeJob("after", respondWith("payload")),
  });
  const tokens = join(work, "tokens");
  await writeFile(tokens, `${READ} read\n`, { mode: 0o600 });
  server = await startServer(
    { repo: join(work, "repo"), "auth-tokens-file": tokens },
    { env: { GITFAAS_PUBLISH_TOKEN: "tok-dash-publish" } },
  );
});

after(async () => {
  await server?.cleanup();
  await rm(work, { recursive: true, force: true });
});

const asReader = { authorization: `Bearer ${READ}` };

test("GET /topics gives readers each topic's manifest paths, declared parameters and next steps, and their scopes", async () => {
  const answer = await http(server.url, "GET", "/topics", undefined, undefined, asReader);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.revision, (await http(server.url, "GET", "/readyz")).json.revision);
  assert.deepEqual(answer.json.scopes, ["read"]);
  assert.deepEqual(answer.json.topics, [
    {
      name: "after",
      manifests: ["after.yaml"],
      params: null,
      next: { onSuccess: [], onFailure: [], join: null },
      schedule: null,
    },
    {
      name: "held",
      manifests: ["held.yaml"],
      params: null,
      next: { onSuccess: ["after"], onFailure: [], join: null },
      schedule: null,
    },
    {
      name: "scale",
      manifests: ["after.yaml"],
      params: { replicas: { type: "integer", default: 1 } },
      next: { onSuccess: [], onFailure: [], join: null },
      schedule: null,
    },
  ]);
  // Manifest contents stay out of it.
  assert.doesNotMatch(answer.text, /apiVersion|GATE/);
});

test(
  "GET /requests/<uid>/tree?wait&since=<version> answers as soon as the tree differs from that version",
  { timeout: 60_000 },
  async () => {
    const published = await http(server.url, "POST", "/publish/held", "x", "text/plain", {
      authorization: "Bearer tok-dash-publish",
    });
    assert.equal(published.status, 202, published.text);
    const uid = published.json.requestUid as string;
    const first = await http(server.url, "GET", `/requests/${uid}/tree`, undefined, undefined, asReader);
    assert.equal(first.json.finished, false);
    assert.match(first.json.version as string, /^[0-9a-f]{20}$/);
    // An unknown version differs from the tree now: answered at once, although the run is held open
    // (without `since` this wait would last until the run finishes, which it cannot before the gate opens).
    const stale = await http(
      server.url,
      "GET",
      `/requests/${uid}/tree?wait=300&since=0`,
      undefined,
      undefined,
      asReader,
    );
    assert.equal(stale.json.finished, false);
    // Held while nothing changes, then answered with the change.
    const current = stale.json.version as string;
    const waiting = http(
      server.url,
      "GET",
      `/requests/${uid}/tree?wait=300&since=${current}`,
      undefined,
      undefined,
      asReader,
    );
    await writeFile(gate, "open");
    const changed = await waiting;
    assert.notEqual(changed.json.version, current);
    // Followed to the end, each answer naming the version it shows.
    let last = changed.json;
    while (!last.finished) {
      last = (
        await http(
          server.url,
          "GET",
          `/requests/${uid}/tree?wait=300&since=${last.version}`,
          undefined,
          undefined,
          asReader,
        )
      ).json;
    }
    const root = last.root as { functions: { status: string; children: { topic: string }[] }[] };
    assert.equal(root.functions[0]!.status, "succeeded");
    assert.equal(root.functions[0]!.children[0]!.topic, "after");
  },
);
