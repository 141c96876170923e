import { EventEmitter, once } from "node:events";
import { describeError } from "../errors/index.js";
import type { Logger } from "../logging/index.js";
import { isStoreUnavailable } from "./errors.js";
import { FINISHED_STATUSES, STATUS_RANK, type StatusChange, type Store } from "./port.js";

export interface StatusOutboxOptions {
  readonly store: Pick<Store, "updateStatus">;
  readonly logger: Logger;
  /** Pause after a first failed write; doubled after each further one, up to `maxDelayMs`. */
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A report was written: what follows a finished function (next steps) reads the store from here on. */
  readonly onWritten?: (functionUid: string, change: StatusChange) => void;
}

/**
 * Adds `change` after the reports already waiting for a function, folding it in where the store's
 * merge rules make writing both in turn and writing the fold end the same, whatever is stored:
 * - after a finish nothing applies (a finished status never changes): the later report is dropped;
 * - a lower status never applies after a higher one (status only moves forward): dropped;
 * - two reports of one status fold (later fields win, the first start is kept);
 * - a higher status is kept apart: were the stored status between the two, the earlier report would
 *   be ignored and its fields (attempts, start) with it, which a fold would write.
 * So at most three reports wait per function: pending, running, finished.
 */
export function appendReport(queue: StatusChange[], change: StatusChange): void {
  const last = queue.at(-1);
  if (last === undefined || STATUS_RANK[change.status] > STATUS_RANK[last.status]) {
    queue.push(change);
    return;
  }
  if (FINISHED_STATUSES.has(last.status) || STATUS_RANK[change.status] < STATUS_RANK[last.status]) return;
  queue[queue.length - 1] = {
    status: change.status,
    attempts: change.attempts ?? last.attempts,
    startedAt: last.startedAt ?? change.startedAt,
    finishedAt: change.finishedAt ?? last.finishedAt,
    reason: change.reason ?? last.reason,
  };
}

/**
 * Status reports on their way to the store. A report the store cannot take now (STORE_UNAVAILABLE: a
 * full disk, Redis down) is kept and written again, with backoff, until it is taken: one lost write
 * must not leave a function `running` for ever and its waiting callers waiting their full time.
 * Reports of one function are written one at a time, in order; functions do not wait for each other.
 * Nothing is kept across a restart: there, the runtime's reconcile settles what the store believes
 * unfinished.
 */
export class StatusOutbox {
  private readonly queues = new Map<string, StatusChange[]>();
  private readonly events = new EventEmitter();
  private readonly stopping = new AbortController();
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: StatusOutboxOptions) {
    this.firstDelayMs = options.firstDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
  }

  /** How many functions have reports not written yet. */
  get waiting(): number {
    return this.queues.size;
  }

  report(functionUid: string, change: StatusChange): void {
    if (this.stopping.signal.aborted) return;
    const queue = this.queues.get(functionUid);
    if (queue) {
      appendReport(queue, change);
      return;
    }
    this.queues.set(functionUid, [change]);
    void this.drain(functionUid);
  }

  /** Resolves once every report has been written (or dropped). */
  async drained(): Promise<void> {
    while (this.queues.size > 0) await once(this.events, "drained");
  }

  /** Stops retrying; what was not written is logged, and the next start's reconcile settles it. */
  close(): void {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    if (this.queues.size > 0)
      this.options.logger.warn(
        { functions: [...this.queues.keys()] },
        "closing with status reports the store did not take",
      );
  }

  private async drain(functionUid: string): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      const queue = this.queues.get(functionUid) ?? [];
      const head = queue.shift();
      if (head === undefined) break;
      if (await this.written(functionUid, head, failures)) {
        failures = 0;
        continue;
      }
      // Back in front of what came meanwhile, folded again as the order requires.
      const kept: StatusChange[] = [];
      for (const change of [head, ...queue]) appendReport(kept, change);
      this.queues.set(functionUid, kept);
      failures++;
      await this.pause(Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** (failures - 1)));
    }
    this.queues.delete(functionUid);
    if (this.queues.size === 0) this.events.emit("drained");
  }

  /** Writes one report: true once it is done with (taken, or refused for good), false to try again. */
  private async written(functionUid: string, change: StatusChange, failures: number): Promise<boolean> {
    try {
      await this.options.store.updateStatus(functionUid, change);
      this.options.onWritten?.(functionUid, change);
      if (failures > 0)
        this.options.logger.info({ functionUid, status: change.status, failures }, "status recorded at last");
      return true;
    } catch (error) {
      if (!isStoreUnavailable(error)) {
        this.options.logger.error({ err: error, functionUid }, "could not record a status");
        return true;
      }
      if (failures === 0)
        this.options.logger.warn(
          { functionUid, status: change.status, reason: describeError(error) },
          "status kept until the store takes it",
        );
      return false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopping.signal.addEventListener("abort", done);
    });
  }
}
