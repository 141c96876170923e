import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";
import type { Dispatcher } from "../src/dispatch/index.js";
import {
  AccessControl,
  buildServer,
  type CatalogSource,
  type LogSource,
  type RunSource,
} from "../src/http/index.js";
import { silentLogger } from "../src/logging/index.js";
import type { Store } from "../src/store/index.js";

type Running = Awaited<ReturnType<typeof startServer>>;

const TOKENS = {
  publish: "tok-publish-1",
  read: "tok-read-2",
  admin: "tok-admin-3",
  both: "tok-both-4",
  split: "tok-split-6",
};
const WEBHOOK_SECRET = "hook-secret-5";

let work: string;
let repo: string;
let server: Running;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd: repo,
    encoding: "utf8",
  }).trim();

before(async () => {
  work = await tempDir("security");
  repo = join(work, "repo");
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "echo", configs: ["echo.yaml"] },
        { name: "slow", configs: ["slow.yaml"] },
      ],
    }),
    "echo.yaml": nodeJob("echo", respondWith("payload")),
    "slow.yaml": nodeJob("slow", `await new Promise((r) => setTimeout(r, 800));\n${respondWith("payload")}`),
  });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-qm", "v1");
  const tokensFile = join(work, "tokens");
  await writeFile(
    tokensFile,
    `# token scopes\n${TOKENS.publish} publish\n${TOKENS.read} read\n${TOKENS.both} publish,read\n${TOKENS.split} publish\n${TOKENS.split} read\n`,
    { mode: 0o600 },
  );
  server = await startServer(
    {
      repo,
      "auth-tokens-file": tokensFile,
      "max-query-parameters": "4",
    },
    { env: { GITFAAS_ADMIN_TOKEN: TOKENS.admin, GITFAAS_WEBHOOK_SECRET: WEBHOOK_SECRET } },
  );
});

after(async () => {
  await server.cleanup();
  await rm(work, { recursive: true, force: true });
});

const bearer = (token: string | undefined): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {};
const readAs = (path: string, token: string) =>
  http(server.url, "GET", path, undefined, undefined, bearer(token));

/** Resolves once every function of the request has finished (woken by the store, not by a timer). */
async function untilFinished(store: Store, requestUid: string): Promise<void> {
  for (;;) {
    let wake = () => {};
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const unsubscribe = store.watchRequest(requestUid, () => wake());
    const request = await store.getRequest(requestUid);
    if (request?.functions.every((fn) => fn.status === "succeeded" || fn.status === "failed")) {
      unsubscribe();
      return;
    }
    await changed;
    unsubscribe();
  }
}

/** A value for each path parameter of the registered routes; a route with a new one must add it here. */
function concretePath(url: string, samples: Readonly<Record<string, string>>): string {
  return url.replace(/:(\w+)/g, (_whole, name: string) => {
    const sample = samples[name];
    assert.ok(
      sample,
      `no sample value for the path parameter :${name} of ${url}: add one to the auth matrix`,
    );
    return sample;
  });
}

test("auth matrix, built from the registered routes: each scope grants its routes alone; 401 without a known token, 403 without the scope", async () => {
  const published = await http(
    server.url,
    "POST",
    "/publish/echo",
    "x",
    "text/plain",
    bearer(TOKENS.publish),
  );
  assert.equal(published.status, 202, published.text);
  const requestUid = published.json.requestUid as string;
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;
  await readAs(`/response/${requestUid}?wait=20`, TOKENS.publish);
  const samples = { topic: "echo", requestUid, functionUid, index: "0", file: "app.js" };

  const routes = server.routes.list();
  assert.ok(routes.length >= 10, `only ${routes.length} routes registered`);
  // Opening a route to everyone is a decision, reviewed here: lambdas answer and fetch payloads
  // without tokens (as the original's do), probes and git servers cannot send ours.
  const publicRoutes = routes.filter((route) => route.access === "public" && route.method !== "HEAD");
  assert.deepEqual(publicRoutes.map((route) => `${route.method} ${route.url}`).sort(), [
    "GET /alive",
    "GET /healthz",
    "GET /openapi.json",
    "GET /payload/:functionUid",
    "GET /readyz",
    // The dashboard's own files: the page asks for a token and every call it makes carries it.
    "GET /ui",
    "GET /ui/:file",
    "POST /response/:functionUid",
    "POST /webhooks/git",
  ]);
  for (const route of routes) {
    const path = concretePath(route.url, samples);
    const body = route.method === "POST" || route.method === "PUT" ? "y" : undefined;
    for (const [name, token] of [
      ["none", undefined],
      ["unknown", "nope"],
      ...Object.entries(TOKENS),
    ] as const) {
      const answer = await http(
        server.url,
        route.method,
        path,
        body,
        body ? "text/plain" : undefined,
        bearer(token),
      );
      const what = `${route.method} ${route.url} (${route.access}) with ${name}: ${answer.status} ${answer.text}`;
      // "split" is listed twice, once per scope: it holds both.
      const holds =
        route.access === "public" ||
        name === route.access ||
        ((name === "both" || name === "split") && (route.access === "publish" || route.access === "read"));
      if (holds) {
        // A public route may refuse on its own terms (a webhook's signature), never for want of a token.
        if (route.method === "HEAD") assert.ok(answer.status !== 401 && answer.status !== 403, what);
        else assert.ok(!["UNAUTHORIZED", "FORBIDDEN"].includes(answer.json.code as string), what);
        continue;
      }
      const expected = name === "none" || name === "unknown" ? 401 : 403;
      assert.equal(answer.status, expected, what);
      if (route.method === "HEAD") continue;
      assert.equal(answer.json.code, expected === 401 ? "UNAUTHORIZED" : "FORBIDDEN", what);
      if (expected === 401) assert.match(answer.headers.get("www-authenticate") ?? "", /Bearer/, what);
    }
  }
});

test("a route that declares no access stops start-up: routes are denied by default", async () => {
  const { app } = buildServer({
    dispatcher: {} as Dispatcher,
    store: {} as Store,
    source: {} as CatalogSource,
    runtime: {} as LogSource,
    runs: {} as RunSource,
    bodyLimitBytes: 1024,
    logger: silentLogger(),
    limits: { maxQueryParameters: 1, maxParameterLength: 10, requestTimeoutMs: 1000 },
    maxWaitSeconds: 1,
    access: new AccessControl([]),
    webhooks: undefined,
  });
  await assert.rejects(async () => {
    app.get("/undeclared", async () => "open by accident");
    await app.ready();
  }, /declares no access/);
  await app.close();
});

test("a read token sees no function UIDs (the capability to answer); a finished function's answer is final", async () => {
  const published = await http(
    server.url,
    "POST",
    "/publish/echo",
    "first",
    "text/plain",
    bearer(TOKENS.publish),
  );
  const requestUid = published.json.requestUid as string;
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;
  await untilFinished(server.store, requestUid);
  const asPublisher = await readAs(`/response/${requestUid}`, TOKENS.both);
  const asReader = await readAs(`/response/${requestUid}`, TOKENS.read);
  const publisherView = (asPublisher.json.functions as { functionUid: string | null; status: string }[])[0]!;
  assert.equal(publisherView.functionUid, functionUid);
  assert.equal(publisherView.status, "succeeded");
  assert.ok(!asReader.text.includes(functionUid.slice(0, 38)), asReader.text);
  assert.equal((asReader.json.functions as { functionUid: string | null }[])[0]!.functionUid, null);
  // The reader still reaches the output, by request and place.
  const logs = await readAs(`/logs/${requestUid}/0`, TOKENS.read);
  assert.equal(logs.status, 200, logs.text);

  const overwrite = await http(server.url, "POST", `/response/${functionUid}`, "forged", "text/plain");
  assert.equal(overwrite.status, 409, overwrite.text);
  assert.equal(overwrite.json.code, "ANSWER_FINAL");
  const after = await readAs(`/response/${requestUid}`, TOKENS.read);
  assert.equal(Buffer.from((after.json.responses as string[])[0]!, "base64").toString(), '"first"');
});

function signedPush(branch: string, provider: "github" | "gitlab" | "gitea", secret = WEBHOOK_SECRET) {
  const body = JSON.stringify({ ref: `refs/heads/${branch}`, after: "0".repeat(40) });
  const hmac = createHmac("sha256", secret).update(body).digest("hex");
  const headers: Record<string, string> =
    provider === "github"
      ? { "x-github-event": "push", "x-hub-signature-256": `sha256=${hmac}` }
      : provider === "gitlab"
        ? { "x-gitlab-event": "Push Hook", "x-gitlab-token": secret }
        : { "x-gitea-event": "push", "x-gitea-signature": hmac };
  return { body, headers };
}

async function servedRevision(): Promise<string> {
  const status = await http(server.url, "GET", "/status", undefined, undefined, bearer(TOKENS.admin));
  return status.json.revision as string;
}

async function newCommit(name: string): Promise<string> {
  await writeTree(repo, { [`${name}.txt`]: name });
  git("add", "-A");
  git("commit", "-qm", name);
  return git("rev-parse", "HEAD");
}

test("webhooks: a signed push to the served branch syncs at once; bad, missing or other-branch pushes do nothing", async () => {
  for (const provider of ["github", "gitlab", "gitea"] as const) {
    const before = await servedRevision();
    const commit = await newCommit(`c-${provider}`);

    const forged = signedPush("main", provider, "wrong-secret");
    const refused = await http(
      server.url,
      "POST",
      "/webhooks/git",
      forged.body,
      "application/json",
      forged.headers,
    );
    assert.equal(refused.status, 401, `${provider} forged: ${refused.text}`);
    assert.equal(refused.json.code, "WEBHOOK_UNAUTHORIZED");
    assert.equal(await servedRevision(), before);

    const other = signedPush("feature", provider);
    const ignored = await http(
      server.url,
      "POST",
      "/webhooks/git",
      other.body,
      "application/json",
      other.headers,
    );
    assert.equal(ignored.status, 202, ignored.text);
    assert.equal(ignored.json.synced, false);
    assert.equal(await servedRevision(), before);

    const good = signedPush("main", provider);
    const synced = await http(
      server.url,
      "POST",
      "/webhooks/git",
      good.body,
      "application/json",
      good.headers,
    );
    assert.equal(synced.status, 200, `${provider}: ${synced.text}`);
    assert.equal(synced.json.synced, true);
    assert.equal(synced.json.revision, commit);
  }
  const unsigned = await http(
    server.url,
    "POST",
    "/webhooks/git",
    '{"ref":"refs/heads/main"}',
    "application/json",
  );
  assert.equal(unsigned.status, 401);
});

test("limits: a topic's running functions are capped, one more waits, beyond that 429 with Retry-After; nothing accepted is lost", async () => {
  const limited = await startServer({ repo, "topic-max-running": "1", "topic-max-queued": "1" });
  after(() => limited.cleanup());
  const publish = () => http(limited.url, "POST", "/publish/slow", "s", "text/plain");
  const first = await publish();
  const second = await publish();
  const third = await publish();
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.match((second.json.applies as { message: string }[])[0]!.message, /queued/);
  assert.equal(third.status, 429, third.text);
  assert.equal(third.json.code, "TOO_MANY_REQUESTS");
  assert.ok(Number(third.headers.get("retry-after")) > 0);
  for (const accepted of [first, second]) {
    const answer = await http(limited.url, "GET", `/response/${accepted.json.requestUid as string}?wait=30`);
    assert.notEqual((answer.json.responses as (string | null)[])[0], null, answer.text);
  }
  const firstDone = await http(limited.url, "GET", `/response/${first.json.requestUid as string}`);
  const secondDone = await http(limited.url, "GET", `/response/${second.json.requestUid as string}`);
  const firstFn = (firstDone.json.functions as { finishedAt: string }[])[0]!;
  const secondFn = (secondDone.json.functions as { startedAt: string }[])[0]!;
  assert.ok(
    new Date(secondFn.startedAt) >= new Date(firstFn.finishedAt),
    "the queued one started after the first finished",
  );
});

test("limits: too many or too long query parameters are refused clearly", async () => {
  const many = await http(
    server.url,
    "POST",
    "/publish/echo?a=1&b=2&c=3&d=4&e=5",
    "x",
    "text/plain",
    bearer(TOKENS.publish),
  );
  assert.equal(many.status, 400);
  assert.equal(many.json.code, "TOO_MANY_PARAMETERS");
  const long = await http(
    server.url,
    "POST",
    `/publish/echo?a=${"v".repeat(9000)}`,
    "x",
    "text/plain",
    bearer(TOKENS.publish),
  );
  assert.equal(long.status, 414);
  assert.equal(long.json.code, "PARAMETER_TOO_LONG");
});

// Bounded: a close that waited for its readers' full ?wait (60 s) instead of answering them must fail.
test(
  "graceful shutdown: in-flight requests finish, waiting readers get an answer, new ones are refused",
  { timeout: 20_000 },
  async () => {
    const own = await startServer({ repo });
    const published = await http(own.url, "POST", "/publish/slow", "s", "text/plain");
    const waiting = http(own.url, "GET", `/response/${published.json.requestUid as string}?wait=60`);
    const publishing = http(own.url, "POST", "/publish/echo", "in flight", "text/plain");
    // Let both requests reach the server before the close begins.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const closing = own.cleanup();
    const [waited, inFlight] = await Promise.all([waiting, publishing]);
    assert.equal(waited.status, 200, waited.text);
    // Answered at shutdown with what was known, not held until the lambda answered.
    assert.deepEqual(waited.json.responses, [null]);
    assert.equal(inFlight.status, 202, inFlight.text);
    await closing;
    await assert.rejects(http(own.url, "GET", "/healthz"));
  },
);

test("the CLI sends the bearer token from GITFAAS_TOKEN or --token-file, never from argv", async () => {
  // The server runs in this process: the CLI must run without blocking it.
  const cli = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "..", "src", "cli", "main.ts"), ...args],
        { env: { ...process.env, GITFAAS_TOKEN: "", ...env } },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  const refused = await cli(["publish", "echo", "-d", "x", "--url", server.url]);
  assert.equal(refused.status, 1, refused.stderr);
  assert.equal(JSON.parse(refused.stdout).code, "UNAUTHORIZED");
  const viaEnv = await cli(["publish", "echo", "-d", "x", "--wait", "20", "--url", server.url], {
    GITFAAS_TOKEN: TOKENS.both,
  });
  assert.equal(viaEnv.status, 0, viaEnv.stdout + viaEnv.stderr);
  assert.notEqual(JSON.parse(viaEnv.stdout).responses[0], null);
  const tokenFile = join(work, "cli-token");
  await writeFile(tokenFile, `${TOKENS.read}\n`, { mode: 0o600 });
  const requestUid = JSON.parse(viaEnv.stdout).requestUid as string;
  const viaFile = await cli(["responses", requestUid, "--token-file", tokenFile, "--url", server.url]);
  assert.equal(viaFile.status, 0, viaFile.stdout + viaFile.stderr);
});

test("functions still waiting for a slot at shutdown are kept, and run after the restart", async () => {
  const dataDir = await tempDir("drain");
  const first = await startServer({ repo, "topic-max-running": "1", "topic-max-queued": "5" }, { dataDir });
  await http(first.url, "POST", "/publish/slow", "s", "text/plain");
  const queued = await http(first.url, "POST", "/publish/slow", "kept", "text/plain");
  assert.match((queued.json.applies as { message: string }[])[0]!.message, /queued/);
  await first.close();
  const second = await startServer({ repo, "topic-max-running": "1", "topic-max-queued": "5" }, { dataDir });
  // Closed before its data dir goes: its runner may still be writing a run's last records.
  after(async () => {
    await second.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const read = await http(second.url, "GET", `/response/${queued.json.requestUid as string}?wait=30`);
  const fn = (
    read.json.functions as { status: string; response: string | null; apply: { error: boolean } }[]
  )[0]!;
  assert.equal(fn.apply.error, false, read.text);
  assert.equal(JSON.parse(fn.response ?? "null"), "kept", read.text);
});
