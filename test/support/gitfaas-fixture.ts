import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { startGitfaas, type RunningGitfaas } from "../../src/app.js";
import { silentLogger, type Logger } from "../../src/logging/index.js";
import type { Clock } from "../../src/pipelines/index.js";
import { parseSettings } from "../../src/settings/index.js";

export async function writeTree(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `gitfaas-${prefix}-`));
}

/** Starts a real gitfaas (HTTP, store, local runtime) on a free loopback port. */
export async function startServer(
  flags: Record<string, string>,
  options: { dataDir?: string; env?: Record<string, string>; logger?: Logger; clock?: Clock } = {},
): Promise<RunningGitfaas & { dataDir: string; cleanup: () => Promise<void> }> {
  const dataDir = options.dataDir ?? (await tempDir("data"));
  const settings = parseSettings(
    { port: "0", "data-dir": dataDir, "poll-interval": "1h", ...flags },
    options.env ?? {},
  );
  const running = await startGitfaas(
    settings,
    { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" },
    options.logger ?? silentLogger(),
    options.clock,
  );
  return {
    ...running,
    dataDir,
    cleanup: async () => {
      await running.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A Job whose container is a node script; `script` runs as an ES module with top-level await. */
export function nodeJob(
  name: string,
  script: string,
  env: Readonly<Record<string, string>> = {},
  extra = "",
): string {
  const envLines = Object.entries({ PAYLOAD: '"{{PAYLOAD}}"', FUNCTION_UID: '"{{FUNCTION_UID}}"', ...env })
    .map(([key, value]) => `            - name: ${key}\n              value: ${value}`)
    .join("\n");
  const indented = script
    .trim()
    .split("\n")
    .map((line) => `              ${line}`)
    .join("\n");
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-{{RANDOM}}
spec:
  backoffLimit: 0
${extra}  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: node:24
          command:
            - node
            - --input-type=module
            - -e
            - |
${indented}
          env:
${envLines}
`;
}

/** Node lambda code that posts `expression` (a JS expression) as this function's JSON answer. */
export function respondWith(expression: string): string {
  return `
const payload = Buffer.from(process.env.PAYLOAD ?? "", "base64").toString("utf8");
const answer = ${expression};
const res = await fetch(process.env.GITFAAS_URL + "/response/" + process.env.FUNCTION_UID, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(answer),
});
if (res.status !== 201) { console.error("response refused", res.status, await res.text()); process.exit(1); }
`;
}

export interface HttpAnswer {
  status: number;
  json: Record<string, unknown> & { error?: boolean; code?: string; message?: string };
  text: string;
  headers: Headers;
}

export async function http(
  baseUrl: string,
  method: string,
  path: string,
  body?: string | Buffer,
  contentType?: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    body,
    headers: { ...(contentType ? { "content-type": contentType } : {}), ...headers },
  });
  const text = await response.text();
  let json = {};
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: logs and payloads
  }
  return { status: response.status, json, text, headers: response.headers };
}
