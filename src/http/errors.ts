import type { FastifyReply } from "fastify";
import { statusOf, type ErrorCode } from "../errors/index.js";

/** The one shape of every error answer. */
export interface ErrorBody {
  readonly error: true;
  readonly code: ErrorCode;
  readonly message: string;
  readonly [extra: string]: unknown;
}

export function errorBody(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { error: true, code, message, ...extra };
}

export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(statusOf(code)).send(errorBody(code, message, extra));
}
