import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";
import { GitfaasError } from "../../errors/index.js";

export interface UiRoutesOptions {
  /** The built dashboard (`npm run build` writes dist/ui); unset: found beside this module. */
  readonly dir?: string | undefined;
  /** Whether tokens are required: the page asks for one up front instead of meeting a 401 first. */
  readonly authEnabled: boolean;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  svg: "image/svg+xml",
};

/** Flat names only: nothing outside the build folder can be named, whatever the path holds. */
const FILE_NAME = /^[a-z0-9][a-z0-9.-]{0,63}\.(html|js|css|map|svg)$/;

/**
 * The page may load only its own files and call only this server: no inline script or style, no
 * other origin, no framing. Its data comes from the API with the caller's token, never from here.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** dist/http/routes → dist/ui when built; src/http/routes → dist/ui when run from sources (tsx). */
function defaultDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, "..", "..", "ui");
  const fromSources = join(here, "..", "..", "..", "dist", "ui");
  return existsSync(join(built, "index.html")) ? built : fromSources;
}

function send(reply: FastifyReply, name: string, body: Buffer | string): FastifyReply {
  const extension = name.slice(name.lastIndexOf(".") + 1);
  return reply
    .type(CONTENT_TYPES[extension] ?? "application/octet-stream")
    .header("content-security-policy", CSP)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cache-control", "no-cache")
    .send(body);
}

/** The operators' dashboard: static files, public; every call it makes goes to the API with a token. */
export async function uiRoutes(app: FastifyInstance, options: UiRoutesOptions): Promise<void> {
  const dir = options.dir ?? defaultDir();
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch {
      throw new GitfaasError(
        "NOT_FOUND",
        name === "index.html" ? "the dashboard is not built (npm run build)" : `no file '${name}'`,
      );
    }
  };

  app.get("/ui", { config: { access: "public" } }, async (_request, reply) => {
    const page = (await read("index.html")).toString("utf8");
    return send(reply, "index.html", page.replace("__GITFAAS_AUTH__", options.authEnabled ? "on" : "off"));
  });

  app.get<{ Params: { file: string } }>(
    "/ui/:file",
    { config: { access: "public" } },
    async (request, reply) => {
      const { file } = request.params;
      if (!FILE_NAME.test(file) || file === "index.html") {
        throw new GitfaasError("NOT_FOUND", `no file '${file.slice(0, 100)}'`);
      }
      return send(reply, file, await read(file));
    },
  );
}
