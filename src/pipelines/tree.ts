import { GitfaasError } from "../errors/index.js";
import {
  FINISHED_STATUSES,
  type FiringRecord,
  type FunctionStatus,
  type RequestRecord,
  type Store,
} from "../store/index.js";
import { rootOf } from "./lineage.js";

/** A run as a whole: every request descending from one root, with the next steps fired from each. */
export interface RunTree {
  readonly rootRequestUid: string;
  /** Oldest first; the root among them unless it expired. */
  readonly requests: readonly RequestRecord[];
  readonly firings: ReadonlyMap<string, readonly FiringRecord[]>;
  /** Every function has finished and every next step they owe is published or refused. */
  readonly finished: boolean;
}

export interface TreeTotals {
  readonly requests: number;
  readonly functions: Record<FunctionStatus, number>;
  readonly firstStart: Date | null;
  readonly lastFinish: Date | null;
}

export function totalsOf(tree: RunTree): TreeTotals {
  const functions: Record<FunctionStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0 };
  let firstStart: Date | null = null;
  let lastFinish: Date | null = null;
  for (const fn of tree.requests.flatMap((request) => request.functions)) {
    functions[fn.status]++;
    if (fn.startedAt && (!firstStart || fn.startedAt < firstStart)) firstStart = fn.startedAt;
    if (fn.finishedAt && (!lastFinish || fn.finishedAt > lastFinish)) lastFinish = fn.finishedAt;
  }
  return { requests: tree.requests.length, functions, firstStart, lastFinish };
}

export interface ReadTreeOptions {
  /** Hold the answer up to this long until the run has finished. */
  readonly waitMs: number;
  /** Ends the wait early (shutdown): the answer is then what is known so far. */
  readonly signal?: AbortSignal | undefined;
  /** The next steps a request's finished functions owe and that are not settled yet. */
  readonly pendingSteps: (request: RequestRecord, firings: readonly FiringRecord[]) => readonly string[];
  /** Also answer as soon as this holds (long-polling readers: the tree differs from what they have). */
  readonly until?: ((tree: RunTree) => boolean) | undefined;
}

async function snapshot(
  store: Store,
  root: string,
  pendingSteps: ReadTreeOptions["pendingSteps"],
): Promise<RunTree> {
  const requests = await store.listTree(root);
  // Asked at once: on Redis the round trips overlap instead of adding up, one per request.
  const fired = await Promise.all(requests.map((request) => store.listFirings(request.requestUid)));
  const firings = new Map<string, FiringRecord[]>();
  let finished = true;
  for (const [i, request] of requests.entries()) {
    const firedHere = fired[i] ?? [];
    firings.set(request.requestUid, firedHere);
    const running = request.functions.some((fn) => !FINISHED_STATUSES.has(fn.status));
    if (running || pendingSteps(request, firedHere).length > 0) finished = false;
  }
  return { rootRequestUid: root, requests, firings, finished };
}

/**
 * Reads the run `requestUid` belongs to, from its root, holding the answer up to `waitMs` until it has
 * finished. Every request of the tree is watched (a child's creation wakes its parent's watchers, so a
 * tree that grows is seen), each before it is read, so no change between a read and the wait is missed.
 */
export async function readTree(store: Store, requestUid: string, options: ReadTreeOptions): Promise<RunTree> {
  const watched = new Map<string, () => void>();
  let changed = false;
  let wake: () => void = () => undefined;
  const watch = (uid: string): boolean => {
    if (watched.has(uid)) return false;
    watched.set(
      uid,
      store.watchRequest(uid, () => ((changed = true), wake())),
    );
    return true;
  };
  const deadline = Date.now() + options.waitMs;
  try {
    watch(requestUid);
    const asked = await store.getRequest(requestUid);
    if (!asked)
      throw new GitfaasError("REQUEST_NOT_FOUND", `no request '${requestUid}' (unknown or expired)`);
    watch(rootOf(asked));
    for (;;) {
      changed = false;
      const tree = await snapshot(store, rootOf(asked), options.pendingSteps);
      // Requests seen for the first time are watched, then read again: a change before the watch counts.
      if (tree.requests.map((request) => watch(request.requestUid)).some(Boolean)) continue;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || options.signal?.aborted || tree.finished || options.until?.(tree)) return tree;
      if (!changed) await pause(remaining, options.signal, (stop) => (wake = stop));
    }
  } finally {
    for (const unsubscribe of watched.values()) unsubscribe();
  }
}

function pause(
  ms: number,
  signal: AbortSignal | undefined,
  onStop: (stop: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
      resolve();
    };
    const timer = setTimeout(stop, ms);
    onStop(stop);
    signal?.addEventListener("abort", stop);
  });
}
