import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type AddressInfo } from "node:net";
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ERROR_CODES, ERROR_REGISTRY, isErrorCode } from "../src/errors/index.js";
import { answerClientError } from "../src/http/framework-errors.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

type Running = Awaited<ReturnType<typeof startServer>>;
let repo: string;
let server: Running;
const LONG_TOPIC = `t${"x".repeat(252)}`;

before(async () => {
  repo = await tempDir("contract");
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "echo", configs: ["echo.yaml"] },
        { name: LONG_TOPIC, configs: ["echo.yaml"] },
      ],
    }),
    "echo.yaml": nodeJob("echo", respondWith("payload"), { VALUE: '"{{value}}"' }),
  });
  server = await startServer({ repo });
});

after(async () => {
  await server.cleanup();
  await rm(repo, { recursive: true, force: true });
});

/** Sends bytes as they are (no client would send them malformed) and reads the whole answer. */
async function raw(
  port: number,
  request: string,
): Promise<{ status: number; headers: string; body: string }> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  socket.write(request);
  await new Promise<void>((resolve) => socket.on("close", () => resolve()));
  const text = Buffer.concat(chunks).toString("utf8");
  const [head = "", body = ""] = text.split("\r\n\r\n");
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), headers: head, body };
}

function assertOurShape(answer: { status: number; body: string }, code: string): void {
  const json = JSON.parse(answer.body) as { error: unknown; code: unknown; message: unknown };
  assert.equal(json.error, true, answer.body);
  assert.equal(json.code, code, answer.body);
  assert.equal(typeof json.message, "string");
  assert.equal(answer.status, ERROR_REGISTRY[code as keyof typeof ERROR_REGISTRY].status, answer.body);
}

const port = (): number => Number(new URL(server.url).port);

test("what node's parser refuses is answered in our shape: malformed 400, oversized headers 431, unknown Expect 417", async () => {
  assertOurShape(await raw(port(), "NOT HTTP AT ALL\r\n\r\n"), "BAD_REQUEST");
  const big = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
  assertOurShape(await raw(port(), big), "HEADERS_TOO_LARGE");
  const expect = await raw(
    port(),
    "POST /publish/echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
  );
  assertOurShape(expect, "EXPECTATION_FAILED");
});

test("a request that times out gets a 408 in our shape on its socket", async () => {
  // Node checks request timeouts every 30 s at the earliest: the handler is driven on a real socket.
  const listener = createServer((socket) => {
    socket.on("error", () => undefined); // the handler ends the socket with the client error, as node does
    answerClientError(Object.assign(new Error("timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  try {
    assertOurShape(
      await raw((listener.address() as AddressInfo).port, "GET / HTTP/1.1\r\n"),
      "REQUEST_TIMEOUT",
    );
  } finally {
    listener.close();
  }
});

test("what the framework refuses is answered in our shape: bad percent-encoding, long segments, garbled content types", async () => {
  const badUrl = await http(server.url, "GET", "/response/%zz");
  assertOurShape({ status: badUrl.status, body: badUrl.text }, "BAD_REQUEST");
  const tooLong = await http(server.url, "GET", `/response/r-${"0".repeat(2000)}`);
  assertOurShape({ status: tooLong.status, body: tooLong.text }, "PARAMETER_TOO_LONG");
  for (const contentType of [";", "text/", "a b c", "\u0001"]) {
    const answer = await raw(
      port(),
      `POST /publish/echo HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
    );
    assert.ok(
      answer.status >= 400 && answer.status < 500,
      `${JSON.stringify(contentType)}: ${answer.status}`,
    );
    const json = JSON.parse(answer.body) as { error: boolean; code: string };
    assert.equal(json.error, true);
    assert.ok(isErrorCode(json.code), answer.body);
  }
});

test("a known route with another method is 405 with Allow; an unknown one 404; both in our shape", async () => {
  const wrong = await http(server.url, "DELETE", "/publish/echo");
  assertOurShape({ status: wrong.status, body: wrong.text }, "METHOD_NOT_ALLOWED");
  assert.equal(wrong.headers.get("allow"), "POST");
  const read = await http(server.url, "PUT", "/response/r-00000000-0000-4000-8000-000000000000");
  assert.equal(read.status, 405);
  assert.deepEqual(read.headers.get("allow")?.split(", ").sort(), ["GET", "HEAD", "POST"]);
  const unknown = await http(server.url, "GET", "/nope/nope");
  assertOurShape({ status: unknown.status, body: unknown.text }, "NOT_FOUND");
});

test("a topic name of 253 characters is publishable; a NUL in a query value is refused before anything runs", async () => {
  const long = await http(server.url, "POST", `/publish/${LONG_TOPIC}?value=v`, "x", "text/plain");
  assert.equal(long.status, 202, long.text);
  const runsBefore = await readdir(join(server.dataDir, "runs")).catch(() => []);
  const nul = await http(server.url, "POST", "/publish/echo?value=a%00b", "x", "text/plain");
  assertOurShape({ status: nul.status, body: nul.text }, "BAD_REQUEST");
  // Run folders are written by the local runner after the answer: the long topic's may come now.
  const longRun = (entry: string): boolean => entry.endsWith(long.json.requestUid as string);
  const runsAfter = await readdir(join(server.dataDir, "runs")).catch(() => []);
  assert.deepEqual(
    runsAfter.filter((entry) => !longRun(entry)),
    runsBefore.filter((entry) => !longRun(entry)),
  );
});

test("a curl -d body (form-urlencoded) is taken as text, bytes unchanged", async () => {
  const body = "a=1&b=%20x+y";
  const published = await http(
    server.url,
    "POST",
    "/publish/echo?value=v",
    body,
    "application/x-www-form-urlencoded",
  );
  assert.equal(published.status, 202, published.text);
  const functionUid = (published.json.applies as { functionUid: string }[])[0]!.functionUid;
  const payload = await http(server.url, "GET", `/payload/${functionUid}`);
  assert.equal(payload.text, body);
});

test("the error registry: every code has a status and a meaning, and the README's table lists each", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  for (const code of ERROR_CODES) {
    const { status, meaning } = ERROR_REGISTRY[code];
    assert.ok(status >= 400 && status < 600, code);
    assert.ok(meaning.length > 0, code);
    assert.match(
      readme,
      new RegExp(`^\\| \`${code}\` +\\| ${status} `, "m"),
      `README's error table lacks ${code} (${status})`,
    );
  }
  const listed = [...readme.matchAll(/^\| `([A-Z_]+)` +\| \d{3} /gm)].map((match) => match[1]!);
  assert.deepEqual(
    listed.filter((code) => !isErrorCode(code)),
    [],
    "README lists codes the registry does not have",
  );
});
