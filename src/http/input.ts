import type { FastifyRequest } from "fastify";
import { GitfaasError } from "../errors/index.js";
import { isRequestUid } from "../ids/index.js";

/** Limits on what a request may carry; their defaults live with the settings. */
export interface RequestLimits {
  readonly maxQueryParameters: number;
  readonly maxParameterLength: number;
  /** Longest time a request may take, `?wait` included. */
  readonly requestTimeoutMs: number;
}

type BodyKind = "text" | "json" | "none";

/**
 * `curl -d` sends application/x-www-form-urlencoded: the original's own README example does, so it
 * is taken as text, bytes unchanged (never decoded as a form).
 */
const TEXT_TYPES: ReadonlySet<string> = new Set(["text/plain", "application/x-www-form-urlencoded"]);

function bodyKind(request: FastifyRequest): BodyKind | undefined {
  const header = request.headers["content-type"];
  if (header === undefined) return "none";
  const type = header.split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "") return "none";
  if (TEXT_TYPES.has(type)) return "text";
  if (type === "application/json" || (type.startsWith("application/") && type.endsWith("+json")))
    return "json";
  return undefined;
}

/** Reads a text or JSON body as bytes; JSON must parse, other media types are refused with 406. */
export function readBody(request: FastifyRequest): { body: Buffer; contentType: string } {
  const kind = bodyKind(request);
  if (kind === undefined) {
    throw new GitfaasError(
      "UNSUPPORTED_CONTENT_TYPE",
      `content type '${String(request.headers["content-type"]).slice(0, 100)}' is not accepted: send text/plain, application/json or no body`,
    );
  }
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (kind === "json") {
    try {
      JSON.parse(body.toString("utf8"));
    } catch (error) {
      throw new GitfaasError("INVALID_JSON", `the body is not valid JSON: ${(error as Error).message}`);
    }
    return { body, contentType: "application/json" };
  }
  return { body, contentType: "text/plain" };
}

/**
 * The query as template values: the first value of each name. A NUL byte can reach no command line
 * or environment value, so it is refused here, before anything runs.
 */
export function queryParams(request: FastifyRequest, limits: RequestLimits): Record<string, string> {
  const entries = Object.entries((request.query ?? {}) as Record<string, string | string[]>);
  if (entries.length > limits.maxQueryParameters) {
    throw new GitfaasError(
      "TOO_MANY_PARAMETERS",
      `${entries.length} query parameters; at most ${limits.maxQueryParameters} are accepted`,
    );
  }
  const params: Record<string, string> = {};
  for (const [name, value] of entries) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    if (name.length + first.length > limits.maxParameterLength) {
      throw new GitfaasError(
        "PARAMETER_TOO_LONG",
        `query parameter '${name.slice(0, 64)}' is longer than ${limits.maxParameterLength} characters; send large values in the body`,
      );
    }
    if (name.includes("\0") || first.includes("\0")) {
      throw new GitfaasError(
        "BAD_REQUEST",
        `query parameter '${name.replaceAll("\0", "\\0").slice(0, 64)}' holds a NUL byte`,
      );
    }
    params[name] = first;
  }
  return params;
}

/** `?wait=<seconds>`, capped at `max`. */
export function parseWait(text: string | undefined, max: number): number {
  if (text === undefined || text === "") return 0;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new GitfaasError("BAD_REQUEST", `wait must be a number of seconds, not '${text.slice(0, 32)}'`);
  }
  return Math.min(seconds, max);
}

/** `?tail=<bytes>`: a non-negative whole number. */
export function parseTail(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new GitfaasError(
      "BAD_REQUEST",
      `tail must be a non-negative whole number of bytes, not '${text.slice(0, 32)}'`,
    );
  }
  return bytes;
}

/** A request UID from the path; anything else is no request (404, as an unknown one). */
export function requestUidParam(text: string): string {
  if (!isRequestUid(text)) {
    throw new GitfaasError("REQUEST_NOT_FOUND", `'${text.slice(0, 100)}' is not a request UID`);
  }
  return text;
}

/**
 * Whether the caller may see function UIDs: each is the capability to answer for its function
 * (`POST /response` takes no token), so only callers who may publish (or administer) see them.
 */
export function showsFunctionUids(request: FastifyRequest): boolean {
  return request.grants.has("publish") || request.grants.has("admin");
}
