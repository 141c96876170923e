import { GitfaasError } from "../errors/index.js";
import {
  FINISHED_STATUSES,
  type FunctionRecord,
  type RequestRecord,
  type Store,
  type StoredResponse,
} from "../store/index.js";

/** A function is settled once it answered or its run finished: nothing more will come without a retry. */
export function isSettled(fn: FunctionRecord): boolean {
  return fn.response !== null || FINISHED_STATUSES.has(fn.status);
}

/**
 * Reads a request, holding the answer up to `waitMs` until every function has settled. Listens
 * before reading, so a change between the read and the wait is never missed.
 */
export async function readRequest(
  store: Store,
  requestUid: string,
  waitMs = 0,
  /** Ends the wait early (shutdown): the answer is then what is known so far. */
  signal?: AbortSignal,
): Promise<RequestRecord> {
  let wake: () => void = () => undefined;
  let changed = false;
  const unsubscribe = store.watchRequest(requestUid, () => {
    changed = true;
    wake();
  });
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      changed = false;
      const request = await store.getRequest(requestUid);
      if (!request)
        throw new GitfaasError("REQUEST_NOT_FOUND", `no request '${requestUid}' (unknown or expired)`);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted || request.functions.every(isSettled)) return request;
      if (!changed) {
        await new Promise<void>((resolve) => {
          const stop = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", stop);
            resolve();
          };
          const timer = setTimeout(stop, remaining);
          wake = stop;
          signal?.addEventListener("abort", stop);
        });
      }
    }
  } finally {
    unsubscribe();
  }
}

/**
 * Stores a lambda's answer. While its function runs, a later answer replaces an earlier one (a retried
 * attempt answers again); once the function has finished, its answer is final (ANSWER_FINAL), so that
 * no one who learns a function UID afterwards can change what callers collect.
 */
export async function storeAnswer(
  store: Store,
  functionUid: string,
  response: StoredResponse,
): Promise<void> {
  const fn = await store.getFunction(functionUid);
  if (!fn)
    throw new GitfaasError("FUNCTION_NOT_FOUND", `no function '${functionUid}' is waiting for a response`);
  if (FINISHED_STATUSES.has(fn.status)) {
    throw new GitfaasError(
      "ANSWER_FINAL",
      `function '${functionUid}' has ${fn.status}: its answer can no longer be replaced`,
    );
  }
  await store.putResponse(functionUid, response);
}
