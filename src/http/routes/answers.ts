import type { FastifyInstance, FastifyReply } from "fastify";
import { readRequest, storeAnswer } from "../../dispatch/index.js";
import { GitfaasError } from "../../errors/index.js";
import { isFunctionUid, isRequestUid } from "../../ids/index.js";
import type { FunctionRecord, Store } from "../../store/index.js";
import { parseTail, parseWait, readBody, requestUidParam, showsFunctionUids } from "../input.js";
import type { LogSource, LogStream } from "../ports.js";

export interface AnswerRoutesOptions {
  readonly store: Store;
  readonly logs: LogSource;
  /** The longest `?wait=` honoured, in seconds. */
  readonly maxWaitSeconds: number;
  /** Aborted at shutdown: waiting readers get what is known so far instead of holding the close. */
  readonly shutdown: AbortSignal | undefined;
}

/**
 * A function as callers see it. Its UID is the capability to answer for it (`POST /response` takes no
 * token, as lambdas of the original send none), so it is shown only to callers who may publish.
 */
export function functionView(fn: FunctionRecord, showUid: boolean) {
  return {
    functionUid: showUid ? fn.functionUid : null,
    index: fn.index,
    topic: fn.topic,
    path: fn.path,
    status: fn.status,
    attempts: fn.attempts,
    response: fn.response === null ? null : fn.response.body.toString("utf8"),
    respondedAt: fn.response?.at.toISOString() ?? null,
    startedAt: fn.startedAt?.toISOString() ?? null,
    finishedAt: fn.finishedAt?.toISOString() ?? null,
    reason: fn.reason,
    apply: fn.apply,
  };
}

/** Streamed, never read whole: a log may be far larger than the memory gitfaas runs in. */
function sendLog(reply: FastifyReply, output: LogStream): FastifyReply {
  reply.type("text/plain; charset=utf-8");
  if (output.size !== undefined) reply.header("content-length", output.size);
  return reply.send(output.stream);
}

/** Lambdas answer, callers collect: `/response`, `/payload`, `/logs`. */
export async function answerRoutes(app: FastifyInstance, options: AnswerRoutesOptions): Promise<void> {
  app.post<{ Params: { functionUid: string } }>(
    "/response/:functionUid",
    { config: { access: "public" } },
    async (request, reply) => {
      const { functionUid } = request.params;
      if (!isFunctionUid(functionUid)) {
        throw new GitfaasError("FUNCTION_NOT_FOUND", `'${functionUid.slice(0, 100)}' is not a function UID`);
      }
      const { body, contentType } = readBody(request);
      if (body.length === 0) throw new GitfaasError("EMPTY_BODY", "a response needs a body");
      await storeAnswer(options.store, functionUid, { body, contentType, at: new Date() });
      // `message` is the original's answer, which lambdas written for it may check.
      return reply.code(201).send({ error: false, message: "Response stored correctly", functionUid });
    },
  );

  app.get<{ Params: { requestUid: string }; Querystring: { wait?: string } }>(
    "/response/:requestUid",
    { config: { access: "read" } },
    async (request) => {
      const requestUid = requestUidParam(request.params.requestUid);
      const waitMs = parseWait(request.query.wait, options.maxWaitSeconds) * 1000;
      const found = await readRequest(options.store, requestUid, waitMs, options.shutdown);
      const input = await options.store.getRequestInput(requestUid);
      const showUids = showsFunctionUids(request);
      return {
        error: false,
        requestUid: found.requestUid,
        topic: found.topic,
        revision: found.revision,
        replayOf: input?.replayOf ?? null,
        responses: found.functions.map((fn) =>
          fn.response === null ? null : fn.response.body.toString("base64"),
        ),
        functions: found.functions.map((fn) => functionView(fn, showUids)),
      };
    },
  );

  app.get<{ Params: { functionUid: string }; Querystring: { tail?: string } }>(
    "/logs/:functionUid",
    { config: { access: "read" } },
    async (request, reply) => {
      const tail = parseTail(request.query.tail);
      const output = await options.logs.logs(request.params.functionUid, { tail });
      if (output === undefined) {
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no output kept for '${request.params.functionUid.slice(0, 100)}'`,
        );
      }
      return sendLog(reply, output);
    },
  );

  // Readers see no function UIDs: they reach a function's output by its request and place.
  app.get<{ Params: { requestUid: string; index: string }; Querystring: { tail?: string } }>(
    "/logs/:requestUid/:index",
    { config: { access: "read" } },
    async (request, reply) => {
      const { requestUid, index } = request.params;
      const tail = parseTail(request.query.tail);
      const found = isRequestUid(requestUid) ? await options.store.getRequest(requestUid) : undefined;
      const fn = found?.functions.find((each) => String(each.index) === index);
      const output = fn ? await options.logs.logs(fn.functionUid, { tail }) : undefined;
      if (output === undefined) {
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no output kept for function ${index.slice(0, 16)} of '${requestUid.slice(0, 100)}'`,
        );
      }
      return sendLog(reply, output);
    },
  );

  app.get<{ Params: { functionUid: string } }>(
    "/payload/:functionUid",
    { config: { access: "public" } },
    async (request, reply) => {
      const { functionUid } = request.params;
      const payload = isFunctionUid(functionUid) ? await options.store.getPayload(functionUid) : undefined;
      if (!payload) {
        throw new GitfaasError(
          "FUNCTION_NOT_FOUND",
          `no payload for '${functionUid.slice(0, 100)}' (unknown or expired)`,
        );
      }
      return reply.type(payload.contentType).send(payload.body);
    },
  );
}
