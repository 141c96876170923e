import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface GitHttpServer {
  /** http://<host>:<port>, host 127.0.0.1 unless told otherwise */
  readonly baseUrl: string;
  /** Every request seen, authenticated or not, in arrival order. */
  readonly requests: RecordedRequest[];
  /** URL of a repository below the project root, e.g. urlFor("repo.git"). */
  urlFor(relativePath: string): string;
  close(): Promise<void>;
}

function httpBackendPath(): string {
  const usual = "/usr/lib/git-core/git-http-backend";
  if (existsSync(usual)) return usual;
  const execPath = execFileSync("git", ["--exec-path"], { encoding: "utf8" }).trim();
  const found = join(execPath, "git-http-backend");
  if (!existsSync(found)) throw new Error(`git-http-backend not found in ${usual} or ${found}`);
  return found;
}

/**
 * Smart-HTTP git server on loopback: basic auth checked against one user and token, then
 * `git http-backend` run as a CGI for every repository under `projectRoot`.
 */
export async function startGitHttpServer(options: {
  projectRoot: string;
  username: string;
  token: string;
  /** A loopback address to listen on; default 127.0.0.1 (any 127.x.y.z works on Linux). */
  host?: string;
  /**
   * A leaky server: every request carrying credentials is refused with a text/plain answer (which git
   * prints as "remote: …" lines) repeating them in every form `credentialEchoes` lists.
   */
  echoAuthorization?: boolean;
}): Promise<GitHttpServer> {
  const backend = httpBackendPath();
  const expected = `Basic ${Buffer.from(`${options.username}:${options.token}`).toString("base64")}`;
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers } });
    const authorization = req.headers.authorization;
    if (options.echoAuthorization === true && authorization !== undefined) {
      req.resume();
      res.writeHead(403, { "Content-Type": "text/plain" });
      res.end(credentialEchoes(authorization).join("\n") + "\n");
      return;
    }
    if (authorization !== expected) {
      req.resume();
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    runCgi(backend, options.projectRoot, options.username, req, res);
  });
  return listen(server, options.host ?? "127.0.0.1", requests);
}

/**
 * The lines a leaky server answers for an Authorization header: the header as received, the
 * credentials it carries decoded, URL-encoded (upper and lower case hex), and inside a longer base64
 * text at another alignment than the header's.
 */
export function credentialEchoes(authorization: string): string[] {
  const credentials = Buffer.from(authorization.replace(/^Basic /, ""), "base64").toString("utf8");
  const encoded = encodeURIComponent(credentials);
  return [
    `you sent Authorization: ${authorization}`,
    `which holds ${credentials}`,
    `url-encoded ${encoded}`,
    `lower-case ${encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())}`,
    `re-encoded ${Buffer.from(`[${credentials}]`).toString("base64")}`,
  ];
}

/**
 * A server that answers every request with a 302 to the same path and query on `targetBaseUrl`: what
 * git's smart HTTP follows on its first request unless told not to.
 */
export async function startRedirectServer(targetBaseUrl: string): Promise<GitHttpServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers } });
    req.resume();
    res.writeHead(302, { Location: `${targetBaseUrl}${req.url ?? "/"}`, "Content-Type": "text/plain" });
    res.end("moved\n");
  });
  return listen(server, "127.0.0.1", requests);
}

async function listen(server: Server, host: string, requests: RecordedRequest[]): Promise<GitHttpServer> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${host}:${port}`;
  return {
    baseUrl,
    requests,
    urlFor: (relativePath) => `${baseUrl}/${relativePath.replace(/^\/+/, "")}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function runCgi(
  backend: string,
  projectRoot: string,
  user: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const url = new URL(req.url ?? "/", "http://localhost");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ""),
    REQUEST_METHOD: req.method ?? "GET",
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    SERVER_PROTOCOL: "HTTP/1.1",
  };
  const length = req.headers["content-length"];
  if (length !== undefined) env.CONTENT_LENGTH = length;
  const encoding = req.headers["content-encoding"];
  if (encoding !== undefined) env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = req.headers["git-protocol"];
  if (typeof protocol === "string") env.GIT_PROTOCOL = protocol;

  const child = spawn(backend, [], { env, stdio: ["pipe", "pipe", "pipe"] });
  req.pipe(child.stdin);
  child.stdin.on("error", () => undefined);
  const stderr: Buffer[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));

  let head = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf("\r\n\r\n");
    const lf = head.indexOf("\n\n");
    const end =
      crlf !== -1 && (lf === -1 || crlf < lf)
        ? { at: crlf, size: 4 }
        : lf !== -1
          ? { at: lf, size: 2 }
          : undefined;
    if (end === undefined) return;
    let status = 200;
    let statusText = "OK";
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end.at).toString("latin1").split(/\r?\n/)) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") {
        const match = /^(\d{3})\s*(.*)$/.exec(value);
        status = Number(match?.[1] ?? 500);
        statusText = match?.[2] ?? "";
      } else {
        headers[name] = value;
      }
    }
    res.writeHead(status, statusText, headers);
    headersSent = true;
    const rest = head.subarray(end.at + end.size);
    if (rest.length > 0) res.write(rest);
  });
  child.on("close", (code) => {
    if (!headersSent) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`git http-backend failed (${code}): ${Buffer.concat(stderr).toString("utf8")}`);
      return;
    }
    res.end();
  });
}
