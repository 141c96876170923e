import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { startGitfaas } from "../src/app.js";
import { parseSettings } from "../src/settings/index.js";
import { TempDirs, TestRepo } from "./support/git-repos.js";
import { credentialEchoes, startGitHttpServer } from "./support/git-http-server.js";
import { http } from "./support/gitfaas-fixture.js";

const USER = "alice";
const TOKEN = "ghp_8f+3a/91c2=app&level~secret";
const temps = new TempDirs();
after(() => temps.cleanup());

/** Every form of the credentials a leaky remote can send back, none of which may be shown. */
function credentialForms(): string[] {
  const credentials = `${USER}:${TOKEN}`;
  const header = `Basic ${Buffer.from(credentials).toString("base64")}`;
  const encoded = encodeURIComponent(credentials);
  return [
    TOKEN,
    TOKEN.slice(0, 8),
    encodeURIComponent(TOKEN),
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    header.slice("Basic ".length),
    Buffer.from(TOKEN).toString("base64"),
    Buffer.from(`[${credentials}]`).toString("base64"),
    ...credentialEchoes(header),
  ];
}

test("credentials echoed by the git server reach neither /refresh, /status nor the log", async () => {
  const root = await temps.make("gitfaas-echo-app-");
  const repo = await TestRepo.create(root, "lambdas");
  await repo.commit({ "config.json": JSON.stringify({ topics: [] }) });
  const gitServer = await startGitHttpServer({
    projectRoot: root,
    username: USER,
    token: TOKEN,
    echoAuthorization: true,
  });
  after(() => gitServer.close());

  const lines: string[] = [];
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  const settings = parseSettings(
    {
      repo: gitServer.urlFor("lambdas.git"),
      "git-username": USER,
      port: "0",
      "data-dir": await temps.make("gitfaas-data-"),
      "poll-interval": "1h",
    },
    { GITFAAS_GIT_TOKEN: TOKEN },
  );
  const hostEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" };
  const app = await startGitfaas(settings, hostEnv, pino({ level: "debug" }, output));
  after(() => app.close());

  const refresh = await http(app.url, "GET", "/refresh");
  const status = await http(app.url, "GET", "/status");
  assert.equal(refresh.json.code, "GIT_AUTH_FAILED", refresh.text);
  // The echo did reach what gitfaas shows: scrubbed.
  assert.match(refresh.json.message!, /remote: you sent Authorization: Basic \*\*\*/);
  assert.match(status.text, /remote: you sent Authorization: Basic \*\*\*/);
  assert.ok(
    lines.some((line) => line.includes("you sent Authorization: Basic ***")),
    lines.join(""),
  );
  for (const text of [refresh.text, status.text, ...lines]) {
    for (const form of credentialForms()) assert.ok(!text.includes(form), `${form} in ${text}`);
  }
});
