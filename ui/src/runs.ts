import { ApiError, getJson } from "./api.js";
import type { Status, TreeAnswer } from "./types.js";

/** Requests this browser published or opened, newest first (localStorage: they outlive the tab). */
const RECENT_KEY = "gitfaas.requests";
const RECENT_LIMIT = 20;

export interface RecentRequest {
  readonly requestUid: string;
  readonly topic: string;
  readonly at: string;
}

export function recentRequests(): RecentRequest[] {
  try {
    const kept: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(kept) ? (kept as RecentRequest[]) : [];
  } catch {
    return [];
  }
}

export function remember(entry: RecentRequest): void {
  const others = recentRequests().filter((each) => each.requestUid !== entry.requestUid);
  localStorage.setItem(RECENT_KEY, JSON.stringify([entry, ...others].slice(0, RECENT_LIMIT)));
}

/** One word for a whole run: what an operator scanning the list needs first. */
export function runStatus(tree: TreeAnswer): Status {
  const counts = tree.totals.functions;
  if (!tree.finished) return counts.running > 0 ? "running" : "pending";
  return counts.failed > 0 ? "failed" : "succeeded";
}

/** Long-polls that may be open at once: browsers allow 6 connections per origin over HTTP/1.1. */
const MAX_OPEN_POLLS = 3;
/** Each long-poll is held this long at most; the server answers earlier on any change. */
const POLL_SECONDS = 25;

export type TreeState = { tree: TreeAnswer } | { error: ApiError };

/**
 * Live trees: one long-poll per unfinished run, `GET /requests/<uid>/tree?wait&since=<version>`, which
 * the server answers as soon as anything the reader can see changes (no timer decides freshness).
 */
export class RunWatcher {
  private readonly states = new Map<string, TreeState>();
  private readonly started = new Set<string>();
  private readonly queue: (() => void)[] = [];
  private open = 0;

  constructor(private readonly onChange: (requestUid: string, state: TreeState) => void) {}

  state(requestUid: string): TreeState | undefined {
    return this.states.get(requestUid);
  }

  watch(requestUid: string): void {
    if (this.started.has(requestUid)) return;
    this.started.add(requestUid);
    void this.follow(requestUid);
  }

  private async follow(requestUid: string): Promise<void> {
    let version: string | undefined;
    for (;;) {
      const path = `/requests/${encodeURIComponent(requestUid)}/tree`;
      const query = version === undefined ? "" : `?wait=${POLL_SECONDS}&since=${version}`;
      try {
        const tree = await this.withSlot(() => getJson<TreeAnswer>(path + query));
        version = tree.version;
        this.set(requestUid, { tree });
        if (tree.finished) return;
      } catch (error) {
        const failure = error instanceof ApiError ? error : new ApiError(0, "UNREACHABLE", String(error));
        this.set(requestUid, { error: failure });
        // Gone, or not allowed: asking again will not change that. Otherwise retry after a pause.
        if (failure.status >= 400 && failure.status < 500) return;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  private set(requestUid: string, state: TreeState): void {
    this.states.set(requestUid, state);
    this.onChange(requestUid, state);
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    // A freed slot is handed to the next waiter as it is, so the count never overshoots.
    if (this.open >= MAX_OPEN_POLLS) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.open++;
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.open--;
    }
  }
}
