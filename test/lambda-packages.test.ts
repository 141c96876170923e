// The lambda helpers as users get them: packages/lambda-node packed by `npm pack` and installed from the
// .tgz into a clean folder, packages/lambda-python built into a wheel and installed from it into a fresh
// virtual environment; then lambdas using them run on a real gitfaas (local runtime), through a proxy that
// refuses each function's first answer with 503 STORE_UNAVAILABLE, as a store outage would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { http, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const run = promisify(execFile);
const ROOT = new URL("..", import.meta.url).pathname;
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const work = await tempDir("lambda-packages");
after(() => rm(work, { recursive: true, force: true }));

/** The Node package: `npm pack` (prepack compiles it), then `npm install <tgz>` into an empty folder. */
async function installNodePackage(): Promise<string> {
  const packed = join(work, "npm-pack");
  await mkdir(packed);
  await run("npm", ["pack", "--silent", "--pack-destination", packed], {
    cwd: join(ROOT, "packages/lambda-node"),
  });
  const [tgz] = (await readdir(packed)).filter((name) => name.endsWith(".tgz"));
  assert.ok(tgz, "npm pack made no .tgz");
  const app = join(work, "node-app");
  await writeTree(app, { "package.json": JSON.stringify({ name: "app", private: true, type: "module" }) });
  await run("npm", ["install", "--no-audit", "--no-fund", "--offline", join(packed, tgz)], { cwd: app });
  return app;
}

/** The Python package: a wheel by `python -m build`, installed into a fresh venv. Returns its python. */
async function installPythonPackage(): Promise<string> {
  const { stdout } = await run("bash", [join(ROOT, "scripts/python-build-env.sh")]);
  const buildPython = stdout.trim();
  const wheels = join(work, "wheels");
  await run(buildPython, ["-m", "build", "--wheel", "--no-isolation", "--outdir", wheels, "."], {
    cwd: join(ROOT, "packages/lambda-python"),
  });
  const [wheel] = (await readdir(wheels)).filter((name) => name.endsWith(".whl"));
  assert.ok(wheel, "python -m build made no wheel");
  const venv = join(work, "venv");
  await run("python3", ["-m", "venv", venv]);
  await run(join(venv, "bin/python"), [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "--no-index",
    join(wheels, wheel),
  ]);
  return join(venv, "bin/python");
}

const PYTHON_LAMBDA = `
import hashlib, os, sys
import gitfaas_lambda as g

mode = sys.argv[1]
if mode == "big":
    data = g.payload()
    g.respond({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "requestUid": g.request_uid(),
               "viaUrl": "PAYLOAD" not in os.environ})
elif mode == "parent":
    g.respond({"child": g.publish(os.environ["CHILD_TOPIC"], {"from": g.function_uid()}, {"n": 7})})
elif mode == "child":
    g.respond("n=" + os.environ["N"] + " " + g.payload_text())
`;

const NODE_LAMBDA = `
import { createHash } from "node:crypto";
import * as g from "@gitfaas/lambda";

const mode = process.argv[2];
if (mode === "big") {
  const data = await g.payload();
  await g.respond({ bytes: data.length, sha256: createHash("sha256").update(data).digest("hex"),
    requestUid: g.requestUid(), viaUrl: !("PAYLOAD" in process.env) });
} else if (mode === "parent") {
  await g.respond({ child: await g.publish(process.env.CHILD_TOPIC, { from: g.functionUid() }, { n: 7 }) });
} else if (mode === "child") {
  await g.respond("n=" + process.env.N + " " + (await g.payloadText()));
}
`;

function job(name: string, command: readonly string[], env: Readonly<Record<string, string>>): string {
  const envLines = Object.entries(env)
    .map(([key, value]) => `            - name: ${key}\n              value: ${JSON.stringify(value)}`)
    .join("\n");
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 60
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: unused
          command: ${JSON.stringify(command)}
          env:
${envLines}
`;
}

interface Seen {
  method: string;
  path: string;
  status: number;
  headers: IncomingHttpHeaders;
}

/** Forwards to gitfaas, except each function's first POST /response: 503 STORE_UNAVAILABLE, Retry-After: 0. */
async function startProxy(target: () => string): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const refused = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const path = req.url ?? "/";
        const note = (status: number) =>
          seen.push({ method: req.method ?? "", path, status, headers: req.headers });
        if (req.method === "POST" && path.startsWith("/response/") && !refused.has(path)) {
          refused.add(path);
          note(503);
          res.writeHead(503, { "content-type": "application/json", "retry-after": "0" });
          res.end(
            JSON.stringify({ error: true, code: "STORE_UNAVAILABLE", message: "the store refused (proxy)" }),
          );
          return;
        }
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            ([key]) => !["host", "connection", "content-length", "transfer-encoding"].includes(key),
          ),
        ) as Record<string, string>;
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        const answer = await fetch(`${target()}${path}`, { method: req.method ?? "GET", headers, body });
        const data = Buffer.from(await answer.arrayBuffer());
        note(answer.status);
        const out: Record<string, string> = {};
        answer.headers.forEach((value, key) => {
          if (!["content-length", "transfer-encoding", "connection", "content-encoding"].includes(key))
            out[key] = value;
        });
        res.writeHead(answer.status, out);
        res.end(data);
      })().catch((error: unknown) => {
        res.writeHead(599);
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

let server: Awaited<ReturnType<typeof startServer>>;
let proxy: Awaited<ReturnType<typeof startProxy>>;
let nodeApp: string;
let python: string;

before(async () => {
  [nodeApp, python] = await Promise.all([installNodePackage(), installPythonPackage()]);
  await writeFile(join(nodeApp, "lambda.mjs"), NODE_LAMBDA);
  proxy = await startProxy(() => server.url);
  const repo = join(work, "repo");
  const languages = {
    py: [python, "lambdas/lambda.py"],
    node: [process.execPath, join(nodeApp, "lambda.mjs")],
  } as const;
  const files: Record<string, string> = { "lambdas/lambda.py": PYTHON_LAMBDA };
  const topics: { name: string; configs: string[] }[] = [];
  for (const [lang, command] of Object.entries(languages)) {
    const common = { FUNCTION_UID: "{{FUNCTION_UID}}", GITFAAS_URL: proxy.url };
    const manifests: Record<string, string> = {
      // Only PAYLOAD_URL: a body over 128 KiB cannot be an environment value (413 ENV_VALUE_TOO_LARGE).
      big: job(`${lang}-big`, [...command, "big"], { PAYLOAD_URL: "{{PAYLOAD_URL}}", ...common }),
      parent: job(`${lang}-parent`, [...command, "parent"], {
        PAYLOAD: "{{PAYLOAD}}",
        CHILD_TOPIC: `${lang}-child`,
        TRACEPARENT,
        ...common,
      }),
      child: job(`${lang}-child`, [...command, "child"], { PAYLOAD: "{{PAYLOAD}}", N: "{{n}}", ...common }),
    };
    for (const [step, manifest] of Object.entries(manifests)) {
      files[`lambdas/${lang}-${step}.yaml`] = manifest;
      topics.push({ name: `${lang}-${step}`, configs: [`lambdas/${lang}-${step}.yaml`] });
    }
  }
  files["config.json"] = JSON.stringify({ topics });
  await writeTree(repo, files);
  server = await startServer({ repo });
});

after(async () => {
  await server?.cleanup();
  await new Promise((resolve) => proxy?.server.close(resolve));
});

interface TreeNode {
  requestUid: string;
  topic: string;
  functions: { functionUid: string; status: string; answer: unknown; children: TreeNode[] }[];
}

async function treeOf(requestUid: string): Promise<TreeNode> {
  const read = await http(server.url, "GET", `/requests/${requestUid}/tree?wait=60`);
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json.finished, true, read.text);
  const root = read.json.root as unknown as TreeNode;
  for (const fn of [root, ...root.functions.flatMap((f) => f.children)].flatMap((node) => node.functions)) {
    if (fn.status !== "succeeded") {
      const logs = await http(server.url, "GET", `/logs/${fn.functionUid}`);
      assert.fail(`${fn.functionUid} ${fn.status}:\n${logs.text}`);
    }
  }
  return root;
}

/** What the proxy saw of a function's answers: the 503 it made up, then gitfaas's 201. */
function answersOf(functionUid: string): number[] {
  return proxy.seen
    .filter((s) => s.method === "POST" && s.path === `/response/${functionUid}`)
    .map((s) => s.status);
}

for (const lang of ["py", "node"] as const) {
  test(`${lang}: a 200 KiB body reaches the lambda through PAYLOAD_URL; its answer, refused once with 503, is retried`, async () => {
    const body = randomBytes(150 * 1024).toString("base64url"); // 200 KiB of text
    const published = await http(server.url, "POST", `/publish/${lang}-big`, body, "text/plain");
    assert.equal(published.status, 202, published.text);
    const requestUid = published.json.requestUid as string;
    const root = await treeOf(requestUid);
    const [fn] = root.functions;
    assert.deepEqual(fn!.answer, {
      bytes: Buffer.byteLength(body),
      sha256: createHash("sha256").update(body).digest("hex"),
      requestUid,
      viaUrl: true,
    });
    assert.deepEqual(answersOf(fn!.functionUid), [503, 201]);
  });

  test(`${lang}: publish links the child to its parent function (Gitfaas-Parent) and sends traceparent`, async () => {
    const published = await http(server.url, "POST", `/publish/${lang}-parent`, "{}", "application/json");
    assert.equal(published.status, 202, published.text);
    const root = await treeOf(published.json.requestUid as string);
    const [parent] = root.functions;
    const childUid = (parent!.answer as { child: string }).child;
    assert.match(childUid, /^r-[0-9a-f-]{36}$/);
    assert.equal(parent!.children.length, 1, JSON.stringify(root));
    const [child] = parent!.children;
    assert.equal(child!.requestUid, childUid);
    assert.equal(child!.topic, `${lang}-child`);
    const answer = String(child!.functions[0]!.answer);
    assert.ok(answer.startsWith("n=7 "), answer);
    assert.deepEqual(JSON.parse(answer.slice("n=7 ".length)), { from: parent!.functionUid });
    const publishes = proxy.seen.filter(
      (s) => s.method === "POST" && s.path.startsWith(`/publish/${lang}-child`),
    );
    assert.equal(publishes.length, 1);
    assert.equal(publishes[0]!.headers["gitfaas-parent"], parent!.functionUid);
    assert.equal(publishes[0]!.headers.traceparent, TRACEPARENT);
    assert.match(String(publishes[0]!.headers["idempotency-key"]), /^[0-9a-f-]{36}$/);
    assert.deepEqual(answersOf(parent!.functionUid), [503, 201]);
  });
}

/** Runs `respond("x")` with the installed package of `lang` in `env` only; what it printed. */
async function respondOnce(lang: "py" | "node", env: Record<string, string>): Promise<string> {
  const script =
    lang === "py"
      ? `import gitfaas_lambda as g
try:
    g.respond("x", timeout=20)
    print("done")
except g.GitfaasError as error:
    print(" ".join([type(error).__name__] + [str(s) for s in [getattr(error, "status", None)] if s]))`
      : `import * as g from "@gitfaas/lambda";
try {
  await g.respond("x", { timeoutMs: 20000 });
  console.log("done");
} catch (error) {
  if (!(error instanceof g.GitfaasError)) throw error;
  console.log([error.name, error.status].filter((s) => s !== undefined).join(" "));
}`;
  const [command, args] =
    lang === "py" ? [python, ["-c", script]] : [process.execPath, ["--input-type=module", "-e", script]];
  const { stdout } = await run(command, args, {
    cwd: nodeApp,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  return stdout.trim();
}

for (const lang of ["py", "node"] as const) {
  test(`${lang}: respond outside gitfaas (no FUNCTION_UID) raises NotInGitfaasError`, async () => {
    assert.equal(await respondOnce(lang, { GITFAAS_URL: "http://127.0.0.1:9" }), "NotInGitfaasError");
  });

  test(`${lang}: 409 ANSWER_FINAL after an attempt that may have landed is done; on a first attempt it is an error`, async () => {
    // A stand-in for gitfaas: "lost" drops the connection of the first answer (as if its 201 was lost)
    // and then answers 409 ANSWER_FINAL; "final" answers 409 ANSWER_FINAL at once.
    const posts = new Map<string, number>();
    const fake = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const uid = (req.url ?? "").replace("/response/", "");
        const count = (posts.get(uid) ?? 0) + 1;
        posts.set(uid, count);
        if (uid === "lost" && count === 1) {
          req.socket.destroy();
          return;
        }
        res.writeHead(409, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: true, code: "ANSWER_FINAL", message: "finished" }));
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      assert.equal(await respondOnce(lang, { GITFAAS_URL: url, FUNCTION_UID: "lost" }), "done");
      assert.equal(posts.get("lost"), 2);
      assert.equal(
        await respondOnce(lang, { GITFAAS_URL: url, FUNCTION_UID: "final" }),
        "AnswerFinalError 409",
      );
      assert.equal(posts.get("final"), 1);
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });
}

test("the example pipeline vendors the Python package unchanged (examples/pipeline/lambdas/gitfaas_lambda/)", async () => {
  const source = join(ROOT, "packages/lambda-python/src/gitfaas_lambda");
  const vendored = join(ROOT, "examples/pipeline/lambdas/gitfaas_lambda");
  const files = (await readdir(source)).filter((name) => name.endsWith(".py") || name === "py.typed").sort();
  assert.deepEqual((await readdir(vendored)).filter((name) => !name.startsWith("__pycache__")).sort(), files);
  for (const name of files) {
    assert.equal(
      await readFile(join(vendored, name), "utf8"),
      await readFile(join(source, name), "utf8"),
      `examples/pipeline/lambdas/gitfaas_lambda/${name} differs from the package: copy packages/lambda-python/src/gitfaas_lambda/ over it`,
    );
  }
});
