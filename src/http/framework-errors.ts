import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { FastifyReply, FastifyRequest } from "fastify";
import { statusOf, type ErrorCode } from "../errors/index.js";
import { errorBody } from "./errors.js";

/**
 * What the HTTP framework and node's own parser would answer in their own shapes (or with an empty
 * body), answered in ours: every error answer is `{error: true, code, message}` with a registered code.
 */

/** Fastify's own error codes, by what they mean to a caller. */
const FRAMEWORK_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "BODY_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_CONTENT_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "BAD_REQUEST",
  FST_ERR_CTP_EMPTY_TYPE: "UNSUPPORTED_CONTENT_TYPE",
  FST_ERR_CTP_INVALID_TYPE: "UNSUPPORTED_CONTENT_TYPE",
  FST_ERR_BAD_URL: "BAD_REQUEST",
  FST_ERR_MAX_PARAM_LENGTH: "PARAMETER_TOO_LONG",
};

/** The same, by status, for framework errors without a known code. */
const CODES_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  408: "REQUEST_TIMEOUT",
  413: "BODY_TOO_LARGE",
  414: "PARAMETER_TOO_LONG",
  415: "UNSUPPORTED_CONTENT_TYPE",
  431: "HEADERS_TOO_LARGE",
};

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  UNSUPPORTED_CONTENT_TYPE:
    "the content type is missing or malformed: send text/plain, application/json or no body",
  BAD_REQUEST: "the request is malformed",
  PARAMETER_TOO_LONG: "a path segment is too long",
  REQUEST_TIMEOUT: "the request was not received in time",
  HEADERS_TOO_LARGE: "the request's headers are too large",
};

/**
 * A code for a framework error that is a caller's fault (4xx), or undefined for anything else, which
 * is then an internal error.
 */
export function frameworkCode(error: { code?: string; statusCode?: number }): ErrorCode | undefined {
  const known = error.code === undefined ? undefined : FRAMEWORK_CODES[error.code];
  if (known) return known;
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  return CODES_BY_STATUS[status] ?? "BAD_REQUEST";
}

/** A message for a framework error: fastify's own text can echo the whole URL, so ours is used. */
export function frameworkMessage(code: ErrorCode, fallback: string): string {
  return MESSAGES[code] ?? fallback;
}

/** Fastify's `frameworkErrors` option: a URL that does not decode, or a too-long path parameter. */
export function answerRoutingError(
  error: { code?: string; statusCode?: number; message: string },
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const code = frameworkCode(error) ?? "INTERNAL";
  void reply.code(statusOf(code)).send(errorBody(code, frameworkMessage(code, error.message)));
}

/** Node's parser refused the request before any route saw it: the answer is written on the socket. */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  let code: ErrorCode = "BAD_REQUEST";
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") code = "REQUEST_TIMEOUT";
  else if (error.code === "HPE_HEADER_OVERFLOW") code = "HEADERS_TOO_LARGE";
  const status = statusOf(code);
  const body = JSON.stringify(errorBody(code, frameworkMessage(code, "the request is malformed")));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Node answers an unknown Expect with an empty 417 unless someone listens: we do, with a body. */
export function answerExpectations(server: Server): void {
  server.on("checkExpectation", (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify(
      errorBody(
        "EXPECTATION_FAILED",
        `Expect: '${String(request.headers.expect).slice(0, 64)}' is not supported; only 100-continue is`,
      ),
    );
    response.writeHead(statusOf("EXPECTATION_FAILED"), {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    response.end(body);
    request.resume();
  });
}
