import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;

// The dashboard in a real headless Chromium (Debian's: scripts/install-test-deps.sh) against real gitfaas
// servers. Screenshots of each state go to test-results/ui (not committed) for a person to look at.
const SCREENSHOTS = join(import.meta.dirname, "..", "test-results", "ui");
const TOKENS = { read: "tok-ui-read", both: "tok-ui-both" };

let work: string;
let gate: string;
let open: Running;
let guarded: Running;
let browser: BrowserContext;

async function repository(dir: string): Promise<void> {
  const topics = [
    { name: "slow", configs: ["slow.yaml"] },
    { name: "broken", configs: ["broken.yaml"] },
    { name: "first", configs: ["first.yaml"], onSuccess: ["second"], params: { note: { type: "string" } } },
    { name: "second", configs: ["second.yaml"] },
    {
      name: "scale",
      configs: ["first.yaml"],
      params: { replicas: { type: "integer", minimum: 1, default: 1 } },
    },
  ];
  // The slow lambda waits for a file the test writes once the page has shown it running: no timer.
  const slow = `import { existsSync } from "node:fs";
console.log("slow: waiting for the gate");
while (!existsSync(process.env.GATE)) await new Promise((r) => setTimeout(r, 50));
console.log("slow: gate open");
${respondWith("payload")}`;
  await writeTree(dir, {
    "config.json": JSON.stringify({ topics }),
    "slow.yaml": nodeJob("slow", slow, { GATE: JSON.stringify(gate) }),
    "broken.yaml": nodeJob("broken", `console.error("disk on fire"); process.exit(3);`),
    "first.yaml": nodeJob("first", respondWith(`({ step: 1, note: process.env.NOTE })`), {
      NOTE: '"{{note}}"',
    }),
    "second.yaml": nodeJob("second", respondWith(`({ step: 2, got: JSON.parse(payload) })`)),
  });
}

before(async () => {
  // The page as this checkout builds it (npm run build does the same).
  execFileSync(process.execPath, [join(import.meta.dirname, "..", "scripts", "build-ui.mjs")]);
  await mkdir(SCREENSHOTS, { recursive: true });
  work = await tempDir("ui");
  gate = join(work, "gate");
  await repository(join(work, "repo"));
  open = await startServer({ repo: join(work, "repo") });
  const tokens = join(work, "tokens");
  await writeFile(tokens, `${TOKENS.read} read\n${TOKENS.both} publish,read\n`, { mode: 0o600 });
  guarded = await startServer({ repo: join(work, "repo"), "auth-tokens-file": tokens });
  browser = await chromium.launchPersistentContext(join(work, "chromium-profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await open?.cleanup();
  await guarded?.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** A page that records every console error and uncaught exception. */
async function newPage(width = 1200): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewportSize({ width, height: 900 });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, errors };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Publishes through the form; resolves to the new request's UID. */
async function publishVia(
  page: Page,
  topic: string,
  body: { type: string; text: string },
  params: Record<string, string> = {},
): Promise<string> {
  await page.selectOption("#topic", topic);
  for (const [name, value] of Object.entries(params)) await page.fill(`[data-param="${name}"]`, value);
  await page.selectOption("#content-type", body.type);
  await page.fill("#body", body.text);
  // The click's handler replaces the last outcome with "publishing…" before it returns: what follows is new.
  await page.click("#publish-button");
  const result = page.locator("#publish-result", { hasText: /^(published r-|[A-Z_]+: )/ });
  await result.waitFor();
  const text = (await result.textContent()) ?? "";
  const match = /published (r-\S+)/.exec(text);
  assert.ok(match, `the publish was refused: ${text}`);
  return match[1]!;
}

/** Marks the document: a reload would lose the mark, so its presence later proves there was none. */
// (Expressions as text: they run in the page, whose DOM types the tests' compiler does not load.)
const markDocument = (page: Page) => page.evaluate("window.gitfaasTestMark = 1");
const stillMarked = (page: Page) => page.evaluate("window.gitfaasTestMark === 1");

test("the page loads with no console errors: the served revision, the topics and the publish form", async () => {
  const { page, errors } = await newPage();
  const response = await page.goto(`${open.url}/ui`);
  assert.equal(response?.status(), 200);
  // Only its own files, no inline code, no other origin.
  assert.match(response?.headers()["content-security-policy"] ?? "", /default-src 'none'; script-src 'self'/);
  await page.locator('[data-service="synced"]').waitFor();
  const revision = (await http(open.url, "GET", "/status")).json.revision as string;
  assert.equal(await page.getAttribute("[data-service] .revision", "title"), revision);
  await page.locator('dt[data-topic="first"]').waitFor();
  assert.match(
    (await page.textContent("#topics")) ?? "",
    /first\.yaml[\s\S]*params: note: string[\s\S]*onSuccess → second/,
  );
  // A topic's declared parameters become typed fields.
  await page.selectOption("#topic", "scale");
  assert.equal(await page.getAttribute('[data-param="replicas"]', "type"), "number");
  assert.equal(await page.getAttribute('[data-param="replicas"]', "placeholder"), "1");
  await shot(page, "01-loaded");
  assert.deepEqual(errors, []);
  await page.close();
});

test("publishing a slow topic shows its status change live, without a reload", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${open.url}/ui`);
  await page.locator('dt[data-topic="slow"]').waitFor();
  await markDocument(page);
  const requestUid = await publishVia(page, "slow", { type: "text/plain", text: "hello" });
  const row = page.locator(`#requests li[data-request-uid="${requestUid}"]`);
  const step = page.locator(`#run .req[data-request-uid="${requestUid}"] > .fns > .fn`);
  await page
    .locator(`#run .req[data-request-uid="${requestUid}"] > .fns > .fn[data-status="running"]`)
    .waitFor();
  await page.locator(`#requests li[data-request-uid="${requestUid}"][data-status="running"]`).waitFor();
  await shot(page, "02-running");
  await writeFile(gate, "open");
  await page
    .locator(`#run .req[data-request-uid="${requestUid}"] > .fns > .fn[data-status="succeeded"]`)
    .waitFor();
  await page.locator(`#requests li[data-request-uid="${requestUid}"][data-status="succeeded"]`).waitFor();
  assert.equal(await step.getAttribute("data-status"), "succeeded");
  assert.equal(await row.getAttribute("data-status"), "succeeded");
  assert.ok(await stillMarked(page), "the page was reloaded");
  await shot(page, "03-succeeded");

  // Its logs open under the function, fetched as a reader would (by request and place).
  await page.click(`#run .req[data-request-uid="${requestUid}"] > .fns > .fn details.logs summary`);
  await page.locator("#run pre[data-log]", { hasText: "slow: gate open" }).waitFor();
  assert.match(
    (await page.textContent("#run pre[data-log]")) ?? "",
    /slow: waiting for the gate\nslow: gate open/,
  );
  await shot(page, "04-logs");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a failing function shows its failure reason", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${open.url}/ui`);
  await page.locator('dt[data-topic="broken"]').waitFor();
  const requestUid = await publishVia(page, "broken", { type: "", text: "" });
  const reason = page.locator(
    `#run .req[data-request-uid="${requestUid}"] > .fns > .fn[data-status="failed"] [data-reason]`,
  );
  await reason.waitFor();
  const answer = await http(open.url, "GET", `/response/${requestUid}`);
  const expected = (answer.json.functions as { reason: string }[])[0]!.reason;
  assert.ok(expected, "the API gives a reason");
  assert.equal(await reason.textContent(), expected);
  await page.locator(`#requests li[data-request-uid="${requestUid}"][data-status="failed"]`).waitFor();
  await shot(page, "05-failed");
  assert.deepEqual(errors, []);
  await page.close();
});

test("the tree of a two-step pipeline (onSuccess) shows both steps with their durations", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${open.url}/ui`);
  await page.locator('dt[data-topic="first"]').waitFor();
  const requestUid = await publishVia(
    page,
    "first",
    { type: "application/json", text: '{"n": 1}' },
    { note: "hi" },
  );
  await page.locator('#run .tree[data-finished="true"]').waitFor();
  const first = page.locator(`#run .req[data-request-uid="${requestUid}"][data-topic="first"]`);
  const firstStep = first.locator('.fn[data-path="first.yaml"][data-status="succeeded"]');
  // The second step hangs under the function whose success published it.
  const secondStep = firstStep.locator(
    '.req[data-topic="second"] .fn[data-path="second.yaml"][data-status="succeeded"]',
  );
  assert.equal(await firstStep.count(), 1);
  assert.equal(await secondStep.count(), 1);
  assert.match((await firstStep.locator(".next").textContent()) ?? "", /onSuccess → second\s*published/);
  for (const step of [firstStep, secondStep]) {
    assert.match(
      (await step.locator(".fn-head").first().textContent()) ?? "",
      /succeeded\S*\.yaml\d+(ms|\.\ds)/,
    );
  }
  assert.match((await page.textContent("#run .totals")) ?? "", /^2 requests · 2 succeeded · \d/);
  await secondStep.locator("details.answer summary").click();
  assert.match((await secondStep.locator("details.answer pre").textContent()) ?? "", /"note": "hi"/);
  await shot(page, "06-pipeline");
  assert.deepEqual(errors, []);
  await page.close();
});

test("at 375 px wide nothing overflows horizontally", async () => {
  const { page, errors } = await newPage(375);
  const published = await http(open.url, "POST", "/publish/first?note=narrow", "{}", "application/json");
  const requestUid = published.json.requestUid as string;
  await page.goto(`${open.url}/ui`);
  // A run published elsewhere (the CLI, say) opened by its UID; with its logs, the widest content.
  await page.fill("#open-uid", requestUid);
  await page.click('#open-form button[type="submit"]');
  await page.locator(`#run .tree[data-finished="true"] .req[data-request-uid="${requestUid}"]`).waitFor();
  await page.locator("#run details.logs summary").first().click();
  await page.locator("#run pre[data-log]").first().filter({ hasText: "container main" }).waitFor();
  await page.selectOption("#topic", "first");
  const width = await page.evaluate<number>("document.documentElement.scrollWidth");
  assert.ok(width <= 375, `the page is ${width} px wide`);
  await shot(page, "07-narrow");
  assert.deepEqual(errors, []);
  await page.close();
});

test("with auth on, the page asks for a token, and works once it is given; a read token cannot publish", async () => {
  const { page } = await newPage();
  await page.goto(`${guarded.url}/ui`);
  await page.locator("#token-form").waitFor();
  assert.equal(await page.isHidden("#main"), true);
  await shot(page, "08-token");

  await page.fill("#token", TOKENS.read);
  await page.click('#token-form button[type="submit"]');
  await page.locator('dt[data-topic="slow"]').waitFor();
  // Without admin, the service line is what the public /readyz says.
  await page.locator('[data-service="ready"]').waitFor();
  assert.equal(await page.isDisabled("#publish-button"), true);
  assert.match((await page.textContent("#publish-result")) ?? "", /needs the publish scope/);
  await shot(page, "09-read-token");

  await page.click("#sign-out");
  await page.locator("#token-form").waitFor();
  await page.fill("#token", TOKENS.both);
  await page.click('#token-form button[type="submit"]');
  await page.locator('dt[data-topic="first"]').waitFor();
  const requestUid = await publishVia(page, "first", { type: "application/json", text: "{}" }, { note: "x" });
  await page
    .locator(`#run .req[data-request-uid="${requestUid}"] > .fns > .fn[data-status="succeeded"]`)
    .waitFor();
  await page.locator('#run .req[data-topic="second"] .fn[data-status="succeeded"]').waitFor();
  await shot(page, "10-token-publish");
  await page.close();
});

test("GET /topics shows readers names, manifest paths and declared parameters, and their scopes", async () => {
  const topics = await http(guarded.url, "GET", "/topics", undefined, undefined, {
    authorization: `Bearer ${TOKENS.read}`,
  });
  assert.equal(topics.status, 200, topics.text);
  assert.deepEqual(topics.json.scopes, ["read"]);
  const scale = (topics.json.topics as { name: string }[]).find((each) => each.name === "scale");
  assert.deepEqual(scale, {
    name: "scale",
    manifests: ["first.yaml"],
    params: { replicas: { type: "integer", minimum: 1, default: 1 } },
    next: { onSuccess: [], onFailure: [], join: null },
    schedule: null,
  });
  // The page's files are served flat from the build folder: nothing else can be named.
  assert.equal((await http(open.url, "GET", "/ui/..%2Fcli%2Fmain.js")).status, 404);
  assert.equal(
    (await http(open.url, "GET", "/ui/app.js")).headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
});
