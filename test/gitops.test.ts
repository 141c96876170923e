import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmod,
  lstat,
  unlink,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitfaasError, isGitfaasError } from "../src/errors/index.js";
import {
  GitSync,
  parsePollInterval,
  type GitAuth,
  type GitSyncOptions,
  type Revision,
} from "../src/gitops/index.js";
import type { Logger } from "../src/logging/index.js";
import { Scrubber } from "../src/gitops/scrub.js";
import { parseSettings } from "../src/settings/index.js";
import { git, TempDirs, TestRepo } from "./support/git-repos.js";
import {
  credentialEchoes,
  startGitHttpServer,
  startRedirectServer,
  type GitHttpServer,
} from "./support/git-http-server.js";
import { startSshd, type TestSshd } from "./support/sshd.js";

const temps = new TempDirs();
after(() => temps.cleanup());

const NO_AUTH: GitAuth = { strictHostKeyChecking: true };

interface Catalog {
  readonly revision: string;
  readonly topics: Record<string, string[]>;
}

/** Stands in for the catalog: config.json must be JSON with a `topics` object, or the revision is refused. */
async function loadCatalog(dir: string, revision: string): Promise<Catalog> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  } catch (error) {
    throw new GitfaasError("CATALOG_INVALID", `config.json is not valid: ${String(error)}`);
  }
  const topics = (parsed as { topics?: unknown }).topics;
  if (typeof topics !== "object" || topics === null) throw new GitfaasError("CATALOG_INVALID", "no topics");
  return { revision, topics: topics as Record<string, string[]> };
}

function config(topic: string): string {
  return JSON.stringify({ topics: { [topic]: [`${topic}.yaml`] } });
}

function recordingLogger(lines: string[], bindings: Record<string, unknown> = {}): Logger {
  const write =
    (level: string) =>
    (fields: object, message?: string): void => {
      lines.push(JSON.stringify({ level, ...bindings, ...fields, message }));
    };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

async function newSync(
  repo: string,
  overrides: Partial<GitSyncOptions<Catalog>> = {},
): Promise<{ sync: GitSync<Catalog>; dataDir: string; logs: string[] }> {
  const dataDir = await temps.make("gitfaas-data-");
  const logs: string[] = [];
  const sync = new GitSync<Catalog>({
    repo,
    branch: "main",
    dataDir,
    auth: NO_AUTH,
    load: loadCatalog,
    logger: recordingLogger(logs),
    ...overrides,
  });
  return { sync, dataDir, logs };
}

/** Every file name, file content and symlink target under `root`, for searching a secret on disk. */
async function everythingOnDisk(root: string): Promise<Buffer[]> {
  const found: Buffer[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      found.push(Buffer.from(path));
      if (entry.isSymbolicLink()) found.push(Buffer.from(await readlink(path)));
      else if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) found.push(await readFile(path));
    }
  };
  await walk(root);
  return found;
}

/** A git wrapper that appends its argv to `logFile`, then runs the real git. */
async function argvLoggingGit(dir: string): Promise<{ binary: string; logFile: string }> {
  const logFile = join(dir, "argv.log");
  const binary = join(dir, "git-wrapper.sh");
  await writeFile(logFile, "");
  await writeFile(binary, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logFile}'\nexec git "$@"\n`, { mode: 0o755 });
  return { binary, logFile };
}

async function pathExists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("parsePollInterval", () => {
  test("reads seconds, minutes, hours and milliseconds", () => {
    assert.equal(parsePollInterval("30s"), 30_000);
    assert.equal(parsePollInterval("5m"), 300_000);
    assert.equal(parsePollInterval("1h"), 3_600_000);
    assert.equal(parsePollInterval("250ms"), 250);
    assert.equal(parsePollInterval(" 2M "), 120_000);
  });

  test("a bare number means minutes, as in the original", () => {
    assert.equal(parsePollInterval("10"), 600_000);
    assert.equal(parsePollInterval("1.5"), 90_000);
  });

  for (const text of ["0", "0s", "", "abc", "-5m", "5d", "5 minutes", "0.0001s", "1e3", "1000h"]) {
    test(`refuses ${JSON.stringify(text)} with INVALID_SETTING`, () => {
      assert.throws(
        () => parsePollInterval(text),
        (error: unknown) => isGitfaasError(error) && error.code === "INVALID_SETTING",
      );
    });
  }
});

describe("Scrubber", () => {
  const token = "tok/8f+3a=91c2~unit&secret!";
  const scrubber = new Scrubber({ username: "alice", token });

  test("removes the token as it is, URL-encoded, in Basic credentials and in headers and URLs", () => {
    const basic = Buffer.from(`alice:${token}`).toString("base64");
    const encoded = encodeURIComponent(token);
    const text = [
      `raw ${token}`,
      `encoded ${encoded} ${encoded.toLowerCase()} ${new URLSearchParams({ t: token }).toString()}`,
      `Authorization: Basic ${basic}`,
      "authorization: Bearer some-other-credential",
      "fetching https://bob:other-password@example.com/r.git",
      `base64url ${Buffer.from(`alice:${token}`).toString("base64url")}`,
    ].join("\n");
    assert.equal(
      scrubber.scrub(text),
      [
        "raw ***",
        "encoded *** *** t=***",
        "Authorization: Basic ***",
        "authorization: Bearer ***",
        "fetching https://***@example.com/r.git",
        "base64url ***",
      ].join("\n"),
    );
  });

  test("removes the token from any base64 text, whatever its alignment, with the groups it shares", () => {
    for (let before = 0; before < 6; before += 1) {
      for (let after = 0; after < 4; after += 1) {
        const original = Buffer.from(`${"P".repeat(before)}${token}${"S".repeat(after)}`).toString("base64");
        const [head, tail, ...more] = scrubber.scrub(original).split("***");
        assert.equal(more.length, 0);
        assert.ok(original.startsWith(head!), `${before}/${after}`);
        // Only groups (3 bytes = 4 characters) holding no byte of the token stay visible.
        const tokenEnd = before + Buffer.byteLength(token);
        const suffixGroups = Math.ceil((tokenEnd + after) / 3) - Math.ceil(tokenEnd / 3);
        assert.ok(head!.length <= 4 * Math.floor(before / 3), `${before}/${after}: ${head}`);
        assert.ok(tail!.length <= 4 * suffixGroups, `${before}/${after}: ${tail}`);
      }
    }
  });
});

describe("GitSync settings", () => {
  test("a password embedded in an HTTP URL is refused without being echoed", () => {
    assert.throws(
      () =>
        new GitSync({
          repo: "https://bob:hunter2-secret@example.invalid/r.git",
          branch: "main",
          dataDir: "/nonexistent",
          auth: NO_AUTH,
          load: loadCatalog,
          logger: recordingLogger([]),
        }),
      (error: unknown) =>
        isGitfaasError(error) &&
        error.code === "INVALID_SETTING" &&
        !error.message.includes("hunter2-secret"),
    );
  });

  test("a token with a plain http:// URL is refused unless the host is loopback", () => {
    const make = (repo: string, token?: string): GitSync<Catalog> =>
      new GitSync({
        repo,
        branch: "main",
        dataDir: "/nonexistent",
        auth: { username: "alice", token, strictHostKeyChecking: true },
        load: loadCatalog,
        logger: recordingLogger([]),
      });
    const secret = "tok-plain-http-secret";
    for (const repo of [
      "http://git.example.com/r.git",
      "HTTP://git.example.com:8080/r.git",
      "http://alice@10.0.0.1/r.git",
      // Not loopback whatever a WHATWG parser makes of it: git and curl take the host after the '@'.
      "http://127.0.0.1\\@git.example.com/r.git",
      "http://127.0.0.1.example.com/r.git",
    ]) {
      assert.throws(
        () => make(repo, secret),
        (error: unknown) =>
          isGitfaasError(error) && error.code === "INVALID_SETTING" && !error.message.includes(secret),
        repo,
      );
    }
    for (const repo of [
      "http://127.0.0.1:8080/r.git",
      "http://127.3.2.1/r.git",
      "http://localhost:3000/r.git",
      "http://alice@LOCALHOST/r.git",
      "http://[::1]:8080/r.git",
    ]) {
      assert.doesNotThrow(() => make(repo, secret), repo);
    }
    // https, or no token at all, is fine with any host.
    assert.doesNotThrow(() => make("https://git.example.com/r.git", secret));
    assert.doesNotThrow(() => make("http://git.example.com/r.git"));
    assert.doesNotThrow(() => make("http://git.example.com/r.git", ""));
  });

  test("a URL's user-info is refused, without being echoed, unless it is the plain --git-username", () => {
    const secret = "ghp_Zq81secretTokenValue";
    const make = (repo: string, username?: string): GitSync<Catalog> =>
      new GitSync({
        repo,
        branch: "main",
        dataDir: "/nonexistent",
        auth: { username, strictHostKeyChecking: true },
        load: loadCatalog,
        logger: recordingLogger([]),
      });
    const refused: [string, string | undefined][] = [
      [`https://${secret}@github.com/org/repo.git`, undefined],
      [`https://${secret}@github.com/org/repo.git`, "alice"],
      [`https://alice:${secret}@github.com/org/repo.git`, "alice"],
      [`https://alice:${secret}@github.com/org/repo.git`, undefined],
      [`https://x-access-token:${secret}@github.com/org/repo.git`, "x-access-token"],
      [`https://${encodeURIComponent(`${secret}/`)}@github.com/org/repo.git`, undefined],
      // Whichever '@' a parser splits at, the token is in the user-info.
      [`https://${secret}@evil@github.com/org/repo.git`, undefined],
      [`ssh://git:${secret}@github.com/org/repo.git`, undefined],
      [`file://${secret}@localhost/srv/repo.git`, undefined],
      [`git:${secret}@github.com:org/repo.git`, undefined],
    ];
    for (const [repo, username] of refused) {
      for (const attempt of [
        () => make(repo, username),
        () => parseSettings({ repo, ...(username ? { "git-username": username } : {}) }, {}),
      ]) {
        assert.throws(
          attempt,
          (error: unknown) =>
            isGitfaasError(error) &&
            error.code === "INVALID_SETTING" &&
            error.details?.setting === "repo" &&
            /--git-username|password or token/.test(error.message) &&
            !error.message.includes(secret) &&
            !error.message.includes(encodeURIComponent(secret)),
          repo,
        );
      }
    }
    for (const [repo, username] of [
      ["https://alice@github.com/org/repo.git", "alice"],
      ["https://github.com/org/repo.git", undefined],
      ["ssh://git@github.com/org/repo.git", undefined],
      ["git@github.com:org/repo.git", undefined],
    ] as const) {
      assert.doesNotThrow(() => make(repo, username), repo);
      assert.doesNotThrow(() => parseSettings({ repo, "git-username": username }, {}), repo);
    }
  });

  for (const branch of ["-x", "a..b", "a b", "refs:x", "x.lock", ""]) {
    test(`branch ${JSON.stringify(branch)} is refused`, () => {
      assert.throws(
        () =>
          new GitSync({
            repo: "/tmp",
            branch,
            dataDir: "/nonexistent",
            auth: NO_AUTH,
            load: loadCatalog,
            logger: recordingLogger([]),
          }),
        (error: unknown) => isGitfaasError(error) && error.code === "INVALID_SETTING",
      );
    });
  }

  test("ext:: and other command-running transports are refused", () => {
    assert.throws(
      () =>
        new GitSync({
          repo: "ext::sh -c touch% /tmp/pwned",
          branch: "main",
          dataDir: "/nonexistent",
          auth: NO_AUTH,
          load: loadCatalog,
          logger: recordingLogger([]),
        }),
      (error: unknown) => isGitfaasError(error) && error.code === "INVALID_SETTING",
    );
  });
});

describe("GitSync over smart HTTP with basic auth", () => {
  const USER = "alice";
  const TOKEN = "tok-8f3a91c2-very-secret";
  let server: GitHttpServer;
  let repo: TestRepo;
  let head: string;

  before(async () => {
    const root = await temps.make("gitfaas-http-");
    repo = await TestRepo.create(root, "repo");
    head = await repo.commit({ "config.json": config("hello"), "hello.yaml": "kind: Job\n" });
    server = await startGitHttpServer({ projectRoot: root, username: USER, token: TOKEN });
  });
  after(() => server.close());

  test("clones with username and token and serves the branch head", async () => {
    const { sync } = await newSync(server.urlFor("repo.git"), {
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined);
    assert.equal(outcome.served?.id, head);
    assert.equal(sync.current()?.id, head);
    assert.deepEqual(sync.current()?.content.topics, { hello: ["hello.yaml"] });
    assert.equal(await readFile(join(sync.current()!.dir, "hello.yaml"), "utf8"), "kind: Job\n");
    const status = sync.status();
    assert.equal(status.revision, head);
    assert.equal(status.lastError, null);
    assert.ok(status.lastSyncAt instanceof Date);
    assert.ok(
      server.requests.some((request) => request.headers.authorization !== undefined),
      "the server saw credentials",
    );
  });

  test("a URL carrying the --git-username works, and its user-info is never logged", async () => {
    const url = server.urlFor("repo.git").replace("://", `://${USER}@`);
    const { sync, logs } = await newSync(url, {
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
    });
    assert.equal((await sync.sync()).served?.id, head);
    // A failing sync logs too: its warning must not name the user-info either.
    const failing = await newSync(url.replace("repo.git", "missing.git"), {
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
      logger: recordingLogger(logs),
    });
    assert.ok((await failing.sync.sync()).refused);
    assert.ok(
      logs.some((line) => line.includes(server.baseUrl.replace("://", "://***@"))),
      logs.join("\n"),
    );
    for (const line of logs) assert.ok(!line.includes(`${USER}@`), line);
  });

  test("a wrong token is GIT_AUTH_FAILED and neither token shows in the error", async () => {
    const wrong = "tok-wrong-0000-also-secret";
    const { sync, logs } = await newSync(server.urlFor("repo.git"), {
      auth: { username: USER, token: wrong, strictHostKeyChecking: true },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.served, undefined);
    assert.equal(outcome.refused?.code, "GIT_AUTH_FAILED");
    assert.equal(sync.status().lastError?.code, "GIT_AUTH_FAILED");
    assert.equal(sync.current(), undefined);
    for (const text of [outcome.refused!.message, sync.status().lastError!.message, logs.join("\n")]) {
      assert.ok(!text.includes(wrong), text);
      assert.ok(!text.includes(TOKEN), text);
    }
  });

  test("no token at all is GIT_AUTH_FAILED (git never prompts)", async () => {
    const { sync } = await newSync(server.urlFor("repo.git"));
    const outcome = await sync.sync();
    assert.equal(outcome.refused?.code, "GIT_AUTH_FAILED");
  });

  test("the token appears in no request URL, git argv, file under dataDir, log line or error", async () => {
    const tools = await temps.make("gitfaas-argv-");
    const wrapper = await argvLoggingGit(tools);
    const requestsBefore = server.requests.length;
    const { sync, dataDir, logs } = await newSync(server.urlFor("repo.git"), {
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
      gitBinary: wrapper.binary,
    });
    const first = await sync.sync();
    assert.equal(first.served?.id, head);

    // A failing sync with the same credentials: its error must be clean too.
    const missing = new GitSync<Catalog>({
      repo: server.urlFor("repo.git"),
      branch: "no-such-branch",
      dataDir,
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
      load: loadCatalog,
      logger: recordingLogger(logs),
      gitBinary: wrapper.binary,
    });
    const failed = await missing.sync();
    assert.equal(failed.refused?.code, "GIT_FAILED");
    assert.ok(!failed.refused!.message.includes(TOKEN));

    const seen = server.requests.slice(requestsBefore);
    assert.ok(seen.length > 0);
    for (const request of seen) assert.ok(!request.url.includes(TOKEN), request.url);

    const argv = await readFile(wrapper.logFile, "utf8");
    assert.match(argv, /fetch/, "the wrapper saw the fetch");
    assert.ok(!argv.includes(TOKEN), argv);

    const mirrorConfig = await readFile(join(dataDir, "git", "mirror.git", "config"), "utf8");
    assert.ok(!mirrorConfig.includes(TOKEN));
    for (const content of await everythingOnDisk(dataDir)) {
      assert.ok(!content.includes(TOKEN), "a file under dataDir holds the token");
    }

    assert.ok(logs.length > 0, "the logger was used");
    assert.ok(!logs.join("\n").includes(TOKEN));
  });

  test("git stderr that echoes the token is scrubbed before it reaches errors and logs", async () => {
    const tools = await temps.make("gitfaas-leaky-");
    const leaky = join(tools, "leaky-git.sh");
    // A misbehaving git that prints the secret it was given (only the fetch is given it).
    await writeFile(
      leaky,
      `#!/bin/sh\ncase " $* " in *" fetch "*) echo "fatal: cannot use $GITFAAS_GIT_TOKEN here" >&2; exit 128 ;; esac\nexec git "$@"\n`,
      { mode: 0o755 },
    );
    const { sync, logs } = await newSync(server.urlFor("repo.git"), {
      auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
      gitBinary: leaky,
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused?.code, "GIT_FAILED");
    assert.match(outcome.refused!.message, /cannot use \*\*\* here/);
    assert.ok(!sync.status().lastError!.message.includes(TOKEN));
    assert.ok(!logs.join("\n").includes(TOKEN));
  });

  test("a server echoing the credentials it got: none of their forms reach errors, lastError or logs", async () => {
    const root = await temps.make("gitfaas-echo-");
    const echoRepo = await TestRepo.create(root, "repo");
    await echoRepo.commit({ "config.json": config("hello") });
    const token = "tok/8f+3a=91c2~echoed&secret!";
    const leaky = await startGitHttpServer({
      projectRoot: root,
      username: USER,
      token,
      echoAuthorization: true,
    });
    try {
      const { sync, logs } = await newSync(leaky.urlFor("repo.git"), {
        auth: { username: USER, token, strictHostKeyChecking: true },
      });
      const outcome = await sync.sync();
      const header = `Basic ${Buffer.from(`${USER}:${token}`).toString("base64")}`;
      assert.equal(leaky.requests.at(-1)?.headers.authorization, header, "git sent the credentials");
      const message = outcome.refused?.message ?? "";
      // The echo reached the message, scrubbed.
      assert.match(message, /remote: you sent Authorization: Basic \*\*\*/);
      const credentials = `${USER}:${token}`;
      const encoded = encodeURIComponent(credentials);
      const forms = [
        token,
        credentials,
        header.slice("Basic ".length),
        encoded,
        encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
        Buffer.from(`[${credentials}]`).toString("base64"),
        ...credentialEchoes(header),
      ];
      // Of the longer base64 text, only the groups holding "[alice" alone are left.
      assert.match(
        message,
        new RegExp(`re-encoded ${Buffer.from(`[${USER}`).toString("base64")}\\*\\*\\*\n`),
      );
      for (const text of [message, sync.status().lastError?.message ?? "", ...logs]) {
        for (const form of forms) assert.ok(!text.includes(form), `${form} in ${text}`);
        assert.ok(!text.includes(token.slice(0, 8)), text);
      }
      assert.ok(
        logs.some((line) => line.includes("you sent Authorization: Basic ***")),
        "the log has the echo",
      );
    } finally {
      await leaky.close();
    }
  });

  describe("a server redirecting to another host", () => {
    // Both are loopback on Linux, yet distinct hosts to git: what a redirect to a stranger looks like.
    let other: GitHttpServer;
    let redirector: GitHttpServer;
    before(async () => {
      other = await startGitHttpServer({
        projectRoot: join(repo.bareDir, ".."),
        username: USER,
        token: TOKEN,
        host: "127.0.0.2",
      });
      redirector = await startRedirectServer(other.baseUrl);
    });
    after(async () => {
      await redirector.close();
      await other.close();
    });

    test("is not followed, so the other host sees no request and no credentials", async () => {
      const { sync } = await newSync(redirector.urlFor("repo.git"), {
        auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
      });
      const seenBefore = other.requests.length;
      const outcome = await sync.sync();
      assert.equal(outcome.served, undefined);
      assert.ok(outcome.refused !== undefined);
      assert.ok(redirector.requests.length > 0, "git asked the configured host");
      const seen = other.requests.slice(seenBefore);
      assert.ok(
        seen.every((request) => request.headers.authorization === undefined),
        "the other host got credentials",
      );
      assert.deepEqual(seen, [], "the redirect was not followed");
    });

    test("even a git that follows it anyway gets no credentials for the other host from askpass", async () => {
      // Turns the product's http.followRedirects=false into true: an older or differently built git.
      const tools = await temps.make("gitfaas-follow-");
      const following = join(tools, "following-git.sh");
      await writeFile(
        following,
        [
          "#!/bin/sh",
          'for arg do shift; [ "$arg" = http.followRedirects=false ] && arg=http.followRedirects=true; set -- "$@" "$arg"; done',
          'exec git "$@"',
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      const { sync } = await newSync(redirector.urlFor("repo.git"), {
        auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
        gitBinary: following,
      });
      const seenBefore = other.requests.length;
      const outcome = await sync.sync();
      const seen = other.requests.slice(seenBefore);
      assert.ok(seen.length > 0, "the redirect was followed to the other host");
      assert.ok(
        seen.every((request) => request.headers.authorization === undefined),
        "the other host got credentials",
      );
      assert.equal(outcome.served, undefined);
      assert.equal(outcome.refused?.code, "GIT_AUTH_FAILED", outcome.refused?.message);

      // The same askpass still answers for its own host, also when the user name is in the URL.
      const direct = await newSync(other.urlFor("repo.git").replace("://", `://${USER}@`), {
        auth: { username: USER, token: TOKEN, strictHostKeyChecking: true },
        gitBinary: following,
      });
      const served = await direct.sync.sync();
      assert.equal(served.refused, undefined, served.refused?.message);
      assert.equal(served.served?.id, head);
    });
  });
});

describe("GitSync over SSH", () => {
  let sshd: TestSshd;
  let repo: TestRepo;
  let head: string;
  let wrongKnownHosts: string;

  before(async () => {
    const root = await temps.make("gitfaas-ssh-");
    sshd = await startSshd(join(root, "sshd"));
    repo = await TestRepo.create(root, "repo");
    head = await repo.commit({ "config.json": config("ssh"), "ssh.yaml": "kind: Job\n" });
    // A known_hosts entry for the right address but another host's key: what a man in the middle looks like.
    const impostor = await newKeyPair(join(root, "impostor_host_key"));
    wrongKnownHosts = join(root, "wrong_known_hosts");
    await writeFile(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${impostor}\n`);
  });
  after(() => sshd.close());

  test("clones with a private key and known_hosts under strict host key checking", async () => {
    const { sync } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: {
        sshKeyFile: sshd.clientKeyFile,
        knownHostsFile: sshd.knownHostsFile,
        strictHostKeyChecking: true,
      },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined, outcome.refused?.message);
    assert.equal(outcome.served?.id, head);
    assert.deepEqual(outcome.served?.content.topics, { ssh: ["ssh.yaml"] });
  });

  test("a host key not in known_hosts fails with GIT_AUTH_FAILED under strict checking", async () => {
    const { sync } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: { sshKeyFile: sshd.clientKeyFile, knownHostsFile: wrongKnownHosts, strictHostKeyChecking: true },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.served, undefined);
    assert.equal(outcome.refused?.code, "GIT_AUTH_FAILED", outcome.refused?.message);
    assert.match(outcome.refused!.message, /host key/i);
  });

  test("the same wrong known_hosts is ignored when strict checking is off", async () => {
    const { sync } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: { sshKeyFile: sshd.clientKeyFile, knownHostsFile: wrongKnownHosts, strictHostKeyChecking: false },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined, outcome.refused?.message);
    assert.equal(outcome.served?.id, head);
  });

  test("a key the server does not authorise fails with GIT_AUTH_FAILED", async () => {
    const dir = await temps.make("gitfaas-stranger-");
    const stranger = join(dir, "stranger");
    await newKeyPair(stranger);
    const { sync } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: { sshKeyFile: stranger, knownHostsFile: sshd.knownHostsFile, strictHostKeyChecking: true },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused?.code, "GIT_AUTH_FAILED", outcome.refused?.message);
  });

  test("key and known_hosts paths with spaces, quotes, backslashes and % reach ssh intact", async () => {
    const dir = join(await temps.make("gitfaas-odd-"), `odd 'dir' "x" \\ 100%h`);
    await mkdir(dir);
    const key = join(dir, "my key");
    await writeFile(key, await readFile(sshd.clientKeyFile), { mode: 0o600 });
    const knownHosts = join(dir, "known hosts %d");
    await writeFile(knownHosts, `${sshd.knownHostsLine}\n`);
    const { sync } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: { sshKeyFile: key, knownHostsFile: knownHosts, strictHostKeyChecking: true },
    });
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined, outcome.refused?.message);
    assert.equal(outcome.served?.id, head);
  });

  test("a key readable by others is used through a 0600 copy in a private temp folder, removed right after", async () => {
    const dir = await temps.make("gitfaas-openkey-");
    const openKey = join(dir, "key");
    const keyContent = await readFile(sshd.clientKeyFile);
    await writeFile(openKey, keyContent);
    await chmod(openKey, 0o644);
    // The system temp dir for this test alone, so that whatever lands in it can be listed.
    const tempRoot = await temps.make("gitfaas-tmpdir-");
    const tools = await temps.make("gitfaas-sshlog-");
    const logFile = join(tools, "during-fetch.log");
    const wrapper = join(tools, "git-wrapper.sh");
    await writeFile(
      wrapper,
      [
        "#!/bin/sh",
        `case " $* " in *" fetch "*) printf 'ssh: %s\\n' "$GIT_SSH_COMMAND" >> '${logFile}'; find '${tempRoot}' -mindepth 1 -printf '%m %p\\n' >> '${logFile}' ;; esac`,
        'exec git "$@"',
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const { sync, dataDir } = await newSync(sshd.urlFor(repo.bareDir), {
      auth: { sshKeyFile: openKey, knownHostsFile: sshd.knownHostsFile, strictHostKeyChecking: true },
      gitBinary: wrapper,
    });
    // Where an earlier version left its copy: it must not survive either.
    await mkdir(join(dataDir, "git", "ssh"), { recursive: true });
    await writeFile(join(dataDir, "git", "ssh", "id_key"), keyContent, { mode: 0o600 });

    const savedTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = tempRoot;
    let outcome;
    try {
      assert.equal(tmpdir(), tempRoot);
      outcome = await sync.sync();
    } finally {
      if (savedTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmpdir;
    }
    assert.equal(outcome.refused, undefined, outcome.refused?.message);
    assert.equal(outcome.served?.id, head);

    // During the fetch, ssh was pointed at a 0600 copy in a 0700 folder of the temp dir.
    const log = await readFile(logFile, "utf8");
    const identity = /IdentityFile="([^"]+)"/.exec(log)?.[1];
    assert.ok(identity !== undefined, log);
    assert.ok(identity.startsWith(`${tempRoot}/`), log);
    const privateDir = identity.slice(0, identity.lastIndexOf("/"));
    assert.ok(log.includes(`\n700 ${privateDir}\n`), log);
    assert.ok(log.includes(`\n600 ${identity}\n`), log);

    // After it, no copy is left anywhere: not in the temp dir, not under the data dir.
    assert.deepEqual(await readdir(tempRoot), []);
    for (const content of await everythingOnDisk(dataDir)) {
      assert.ok(!content.includes(keyContent), "a file under dataDir holds the key");
    }
    assert.equal(await pathExists(join(dataDir, "git", "ssh")), false);
    assert.equal((await stat(openKey)).mode & 0o777, 0o644, "the original is left alone");
    await sync.stop();
  });
});

/** A fresh ed25519 key pair at `file`; returns the public key as `type base64`. */
async function newKeyPair(file: string): Promise<string> {
  await new Promise<void>((resolve, reject) =>
    execFile("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file], (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return (await readFile(`${file}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
}

describe("GitSync following a repository", () => {
  let root: string;
  before(async () => {
    root = await temps.make("gitfaas-follow-");
  });

  async function freshRepo(name: string): Promise<{ repo: TestRepo; first: string }> {
    const repo = await TestRepo.create(root, name);
    const first = await repo.commit({ "config.json": config("one"), "one.yaml": "kind: Job\n" });
    return { repo, first };
  }

  test("follows a branch other than main", async () => {
    const { repo, first } = await freshRepo("branches");
    const release = await repo.commit({ "config.json": config("release") }, { branch: "release" });
    const { sync } = await newSync(repo.bareDir, { branch: "release" });
    const outcome = await sync.sync();
    assert.equal(outcome.served?.id, release);
    assert.notEqual(release, first);
    assert.deepEqual(outcome.served?.content.topics, { release: ["release.yaml"] });
  });

  test("after a restart, the recorded last good revision serves while the head fails, only for the same repository and branch", async () => {
    const { repo, first } = await freshRepo("restart");
    const { sync, dataDir } = await newSync(repo.bareDir);
    assert.equal((await sync.sync()).served?.id, first);
    await sync.stop();

    // The remote gone at start-up: a refusal with no revision at all.
    const away = `${repo.bareDir}.away`;
    await rename(repo.bareDir, away);
    try {
      const restarted = (await newSync(repo.bareDir, { dataDir })).sync;
      const outcome = await restarted.sync();
      assert.equal(outcome.served?.id, first);
      assert.deepEqual(outcome.served?.content.topics, { one: ["one.yaml"] });
      assert.equal(outcome.refused?.code, "GIT_FAILED");
      const status = restarted.status();
      assert.equal(status.revision, first);
      assert.equal(status.lastError?.code, "GIT_FAILED");
      assert.equal(status.lastSyncAt, null, "the served revision is not the source's head");

      const otherBranch = (await newSync(repo.bareDir, { dataDir, branch: "other" })).sync;
      assert.equal((await otherBranch.sync()).served, undefined);
      const otherRepo = (await newSync(`${repo.bareDir}-other`, { dataDir })).sync;
      assert.equal((await otherRepo.sync()).served, undefined);
    } finally {
      await rename(away, repo.bareDir);
    }
  });

  test("a branch that does not exist is GIT_FAILED", async () => {
    const { repo } = await freshRepo("nobranch");
    const { sync } = await newSync(repo.bareDir, { branch: "nope" });
    const outcome = await sync.sync();
    assert.equal(outcome.served, undefined);
    assert.equal(outcome.refused?.code, "GIT_FAILED");
    assert.equal(sync.status().lastError?.code, "GIT_FAILED");
  });

  test("a file:// URL is fetched with git", async () => {
    const { repo, first } = await freshRepo("fileurl");
    const { sync } = await newSync(`file://${repo.bareDir}`);
    assert.equal((await sync.sync()).served?.id, first);
  });

  test("a new commit is picked up by sync(), onChange fires, and earlier snapshots stay for runs still using them", async () => {
    const { repo, first } = await freshRepo("newcommit");
    const { sync, dataDir } = await newSync(repo.bareDir);
    const changes: Revision<Catalog>[] = [];
    sync.onChange((revision) => changes.push(revision));
    assert.equal((await sync.sync()).served?.id, first);
    const firstDir = sync.current()!.dir;

    const second = await repo.commit({ "config.json": config("two") });
    const outcome = await sync.sync();
    assert.equal(outcome.served?.id, second);
    assert.equal(sync.current()?.id, second);
    assert.deepEqual(sync.current()?.content, { revision: second, topics: { two: ["two.yaml"] } });
    assert.equal(sync.current()?.dir, join(dataDir, "git", "snapshots", second));
    // The previous snapshot is untouched: a reader still using it sees the old files.
    assert.equal(await readFile(join(firstDir, "config.json"), "utf8"), config("one"));

    const third = await repo.commit({ "config.json": config("three") });
    await sync.sync();
    assert.deepEqual(
      changes.map((revision) => revision.id),
      [first, second, third],
    );
    // A run queued while `first` was served still finds its folder, two commits later.
    const snapshots = (await readdir(join(dataDir, "git", "snapshots"))).sort();
    assert.deepEqual(snapshots, [first, second, third].sort());
    assert.equal(await readFile(join(firstDir, "config.json"), "utf8"), config("one"));
  });

  test("a previous snapshot is deleted once older than the grace period, the two latest never", async () => {
    const { repo, first } = await freshRepo("grace");
    let clock = Date.now();
    const { sync, dataDir } = await newSync(repo.bareDir, {
      snapshotGraceMs: 3_600_000,
      now: () => new Date(clock),
    });
    const snapshots = async (): Promise<string[]> =>
      (await readdir(join(dataDir, "git", "snapshots"))).sort();
    await sync.sync();
    const served = [first];
    for (const topic of ["two", "three", "four"]) {
      served.push(await repo.commit({ "config.json": config(topic) }));
      assert.equal((await sync.sync()).served?.id, served.at(-1));
    }
    assert.deepEqual(await snapshots(), [...served].sort(), "all younger than the grace period");

    clock += 3_600_001;
    const fifth = await repo.commit({ "config.json": config("five") });
    assert.equal((await sync.sync()).served?.id, fifth);
    // first and second are past the grace; third and fourth are the two latest previous ones.
    assert.deepEqual(await snapshots(), [served[2], served[3], fifth].sort());
  });

  test("an unchanged repository keeps the revision, fires nothing, and refreshes lastSyncAt", async () => {
    const { repo, first } = await freshRepo("unchanged");
    let loads = 0;
    let clock = Date.now();
    const { sync } = await newSync(repo.bareDir, {
      now: () => new Date(clock),
      load: (dir, revision) => {
        loads += 1;
        return loadCatalog(dir, revision);
      },
    });
    await sync.sync();
    const firstRevision = sync.current();
    const firstSyncAt = sync.status().lastSyncAt!;
    let fired = 0;
    sync.onChange(() => (fired += 1));
    clock += 1000;
    const outcome = await sync.sync();
    assert.equal(outcome.served, firstRevision, "the very same revision object");
    assert.equal(outcome.served?.id, first);
    assert.equal(fired, 0);
    assert.equal(loads, 1);
    assert.equal(sync.status().lastSyncAt!.getTime(), firstSyncAt.getTime() + 1000);
  });

  test("an invalid commit is refused, the last good one keeps serving, a later good commit clears the error", async () => {
    const { repo, first } = await freshRepo("refuse");
    let loads = 0;
    const { sync, dataDir } = await newSync(repo.bareDir, {
      load: (dir, revision) => {
        loads += 1;
        return loadCatalog(dir, revision);
      },
    });
    const changes: string[] = [];
    sync.onChange((revision) => changes.push(revision.id));
    await sync.sync();
    const good = sync.current()!;

    const broken = await repo.commit({ "config.json": "{ not json" });
    const refused = await sync.sync();
    assert.equal(refused.served, good);
    assert.equal(refused.refused?.code, "CATALOG_INVALID");
    assert.equal(refused.refused?.revision, broken);
    assert.equal(sync.current(), good);
    const status = sync.status();
    assert.equal(status.revision, first);
    assert.equal(status.lastError?.code, "CATALOG_INVALID");
    assert.equal(status.lastError?.revision, broken);
    assert.match(status.lastError!.message, /config\.json is not valid/);
    assert.ok(status.lastError?.at instanceof Date);
    assert.deepEqual(changes, [first]);
    assert.equal(await readFile(join(good.dir, "config.json"), "utf8"), config("one"));
    assert.ok(
      !(await readdir(join(dataDir, "git", "snapshots"))).includes(broken),
      "refused snapshot removed",
    );

    // The same refused commit again: still refused, not loaded again.
    const again = await sync.sync();
    assert.equal(again.refused?.code, "CATALOG_INVALID");
    assert.equal(loads, 2);

    const fixed = await repo.commit({ "config.json": config("fixed") });
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined);
    assert.equal(outcome.served?.id, fixed);
    assert.equal(sync.status().lastError, null);
    assert.deepEqual(changes, [first, fixed]);
  });

  test("a plain Error from load is reported as GIT_FAILED", async () => {
    const { repo } = await freshRepo("plainerror");
    const { sync } = await newSync(repo.bareDir, {
      load: () => Promise.reject(new Error("manifest escapes the repository")),
    });
    const outcome = await sync.sync();
    assert.equal(outcome.served, undefined);
    assert.equal(outcome.refused?.code, "GIT_FAILED");
    assert.equal(outcome.refused?.message, "manifest escapes the repository");
  });

  test("symlinks in a commit reach load as symlinks, so the catalog can refuse them", async () => {
    const repo = await TestRepo.create(root, "symlinks");
    await repo.commit({ "config.json": config("one"), "one.yaml": { symlink: "/etc/passwd" } });
    let seen: string | undefined;
    const { sync } = await newSync(repo.bareDir, {
      load: async (dir, revision) => {
        const info = await lstat(join(dir, "one.yaml"));
        if (info.isSymbolicLink()) {
          seen = await readlink(join(dir, "one.yaml"));
          throw new GitfaasError("PATH_ESCAPE", "one.yaml is a symlink");
        }
        return loadCatalog(dir, revision);
      },
    });
    const outcome = await sync.sync();
    assert.equal(seen, "/etc/passwd");
    assert.equal(outcome.refused?.code, "PATH_ESCAPE");
  });

  test("concurrent sync() calls never overlap; a call made during a sync gets a fresh one after it", async () => {
    const { repo, first } = await freshRepo("concurrent");
    const tools = await temps.make("gitfaas-argv-");
    const wrapper = await argvLoggingGit(tools);
    let active = 0;
    let maxActive = 0;
    const entered: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { sync } = await newSync(repo.bareDir, {
      gitBinary: wrapper.binary,
      load: async (dir, revision) => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        entered.push(revision);
        if (revision === first) await gate;
        active -= 1;
        return loadCatalog(dir, revision);
      },
    });

    const firstCall = sync.sync();
    await waitFor("the first load", () => (entered.length > 0 ? true : undefined));
    const second = await repo.commit({ "config.json": config("two") });
    const secondCall = sync.sync();
    const thirdCall = sync.sync();
    release();
    const [a, b, c] = await Promise.all([firstCall, secondCall, thirdCall]);
    assert.equal(a.served?.id, first, "the first call saw the state when it started");
    assert.equal(b.served?.id, second, "a call made during a sync sees commits pushed before it was made");
    assert.equal(c.served?.id, second);
    assert.equal(maxActive, 1);
    assert.deepEqual(entered, [first, second]);
    const fetches = (await readFile(wrapper.logFile, "utf8"))
      .split("\n")
      .filter((line) => / fetch /.test(line));
    assert.equal(fetches.length, 2, "calls waiting together share one fresh sync");
  });

  test("polling keeps picking up new commits, and stop() ends it", async () => {
    const { repo, first } = await freshRepo("polling");
    const { sync } = await newSync(repo.bareDir);
    await sync.sync();
    assert.equal(sync.current()?.id, first);
    const changes: string[] = [];
    sync.onChange((revision) => changes.push(revision.id));
    sync.startPolling(200);
    let second = "";
    let third = "";
    try {
      second = await repo.commit({ "config.json": config("two") });
      await waitFor("the first polled change", () => (changes.includes(second) ? true : undefined));
      // A second change needs a second tick: polling goes on after the first sync.
      third = await repo.commit({ "config.json": config("three") });
      await waitFor("the second polled change", () => (changes.includes(third) ? true : undefined));
    } finally {
      await sync.stop();
    }
    assert.deepEqual(changes, [second, third]);
    // A witness polls the same repository at the same interval, from after stop(): by the time two of
    // its ticks have each picked up a new commit, a tick of the stopped sync would have picked one up.
    const { sync: witness } = await newSync(repo.bareDir);
    await witness.sync();
    const seen: string[] = [];
    witness.onChange((revision) => seen.push(revision.id));
    witness.startPolling(200);
    try {
      for (const topic of ["four", "five"]) {
        const commit = await repo.commit({ "config.json": config(topic) });
        await waitFor(`the witness to poll ${topic}`, () => (seen.includes(commit) ? true : undefined));
      }
    } finally {
      await witness.stop();
    }
    assert.equal(sync.current()?.id, third, "no sync after stop()");
    assert.deepEqual(changes, [second, third]);
  });

  test("a local path that is a git repository is fetched with git, at its branch head", async () => {
    const { repo, first } = await freshRepo("localgit");
    const { sync } = await newSync(repo.bareDir);
    assert.equal((await sync.sync()).served?.id, first);
  });

  test("a local non-bare git repository is fetched with git, not copied (uncommitted files are not served)", async () => {
    const work = join(root, "worktree");
    await git(["init", "--quiet", "--initial-branch=main", work]);
    await writeFile(join(work, "config.json"), config("committed"));
    await git(["add", "config.json"], work);
    await git(["commit", "--quiet", "-m", "c"], work);
    const sha = (await git(["rev-parse", "HEAD"], work)).trim();
    await writeFile(join(work, "config.json"), config("uncommitted"));
    const { sync } = await newSync(work);
    const outcome = await sync.sync();
    assert.equal(outcome.served?.id, sha);
    assert.deepEqual(outcome.served?.content.topics, { committed: ["committed.yaml"] });
  });
});

describe("GitSync serving a plain directory", () => {
  test("copies the files (not .git), keeps symlinks as symlinks, ids by content", async () => {
    const source = await temps.make("gitfaas-plain-");
    await writeFile(join(source, "config.json"), config("plain"));
    await mkdir(join(source, "manifests"));
    await writeFile(join(source, "manifests", "job.yaml"), "kind: Job\n");
    await symlink("../config.json", join(source, "manifests", "link.yaml"));
    // A nested checkout's metadata is not content.
    await mkdir(join(source, "manifests", "vendored", ".git"), { recursive: true });
    await writeFile(join(source, "manifests", "vendored", ".git", "HEAD"), "ref: refs/heads/main\n");
    await writeFile(join(source, "manifests", "vendored", "keep.yaml"), "kind: Pod\n");
    const { sync, dataDir } = await newSync(source);

    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined, outcome.refused?.message);
    const revision = outcome.served!;
    assert.match(revision.id, /^dir-[0-9a-f]{64}$/);
    assert.equal(revision.dir, join(dataDir, "git", "snapshots", revision.id));
    assert.equal(await readFile(join(revision.dir, "manifests", "job.yaml"), "utf8"), "kind: Job\n");
    const link = await lstat(join(revision.dir, "manifests", "link.yaml"));
    assert.ok(link.isSymbolicLink());
    assert.equal(await readlink(join(revision.dir, "manifests", "link.yaml")), "../config.json");
    assert.equal(
      await readFile(join(revision.dir, "manifests", "vendored", "keep.yaml"), "utf8"),
      "kind: Pod\n",
    );
    assert.equal(await pathExists(join(revision.dir, "manifests", "vendored", ".git")), false);

    // Changes inside a skipped .git do not make a new revision.
    await writeFile(join(source, "manifests", "vendored", ".git", "HEAD"), "ref: refs/heads/other\n");
    assert.equal((await sync.sync()).served, revision);

    await writeFile(join(source, "manifests", "job.yaml"), "kind: Job\nmetadata: {}\n");
    const changed = (await sync.sync()).served!;
    assert.notEqual(changed.id, revision.id);
    assert.match(changed.id, /^dir-[0-9a-f]{64}$/);

    // Changing only a symlink's target changes the id too.
    await unlink(join(source, "manifests", "link.yaml"));
    await symlink("/etc/passwd", join(source, "manifests", "link.yaml"));
    const relinked = (await sync.sync()).served!;
    assert.notEqual(relinked.id, changed.id);
  });

  test("the same content copied twice has the same id, in any data dir", async () => {
    const source = await temps.make("gitfaas-plain-");
    await writeFile(join(source, "config.json"), config("plain"));
    const one = (await (await newSync(source)).sync.sync()).served!;
    const two = (await (await newSync(source)).sync.sync()).served!;
    assert.equal(one.id, two.id);
    await writeFile(join(source, ".gitignore"), "x\n");
    const three = (await (await newSync(source)).sync.sync()).served!;
    assert.notEqual(three.id, one.id, ".gitignore is content; only .git is skipped");
  });

  test("at most 20 snapshots are kept, the newest ones, however young the others", async () => {
    const source = await temps.make("gitfaas-plain-");
    const { sync, dataDir } = await newSync(source);
    const ids: string[] = [];
    for (let i = 0; i < 23; i += 1) {
      await writeFile(join(source, "config.json"), config(`t${i}`));
      const outcome = await sync.sync();
      assert.equal(outcome.refused, undefined, outcome.refused?.message);
      ids.push(outcome.served!.id);
    }
    assert.equal(new Set(ids).size, 23);
    const kept = (await readdir(join(dataDir, "git", "snapshots"))).sort();
    assert.deepEqual(kept, ids.slice(-20).sort());
  });

  test("a missing path is refused with GIT_FAILED", async () => {
    const { sync } = await newSync("/nonexistent/gitfaas/source");
    const outcome = await sync.sync();
    assert.equal(outcome.refused?.code, "GIT_FAILED");
    assert.equal(outcome.served, undefined);
  });

  test("an invalid plain directory is refused and a fixed one served", async () => {
    const source = await temps.make("gitfaas-plain-");
    await writeFile(join(source, "config.json"), "nope");
    const { sync } = await newSync(source);
    assert.equal((await sync.sync()).refused?.code, "CATALOG_INVALID");
    await writeFile(join(source, "config.json"), config("ok"));
    const outcome = await sync.sync();
    assert.equal(outcome.refused, undefined);
    assert.deepEqual(outcome.served?.content.topics, { ok: ["ok.yaml"] });
    assert.equal(sync.status().lastError, null);
  });
});
