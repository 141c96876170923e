import type { StatusReport } from "../port.js";

const RANK: Record<StatusReport["status"], number> = { pending: 0, running: 1, succeeded: 2, failed: 2 };

/**
 * Most watch events of a Job or Pod change nothing its function's status is told from (a finalizer
 * removed, a count of ready pods that falls back to zero as the Job ends, the scheduler's node): each
 * report, though, is written to the store and handed to every listener. What the store would take as
 * it already is, is not told again: a report equal to the last one told from the same object, or one
 * ranked below it (a status only moves forward; the store keeps the higher one).
 */
export class ReportFilter {
  /** Per object (its uid): the rank and the fields of the last report told from it. */
  private readonly last = new Map<string, { rank: number; signature: string }>();

  /** Whether `report`, told from the object `objectKey`, could change what the store holds. */
  changes(objectKey: string | undefined, report: StatusReport | undefined): report is StatusReport {
    if (report === undefined) return false;
    if (objectKey === undefined) return true;
    const rank = RANK[report.status];
    const signature = JSON.stringify(report);
    const before = this.last.get(objectKey);
    if (before !== undefined && (rank < before.rank || signature === before.signature)) return false;
    this.last.set(objectKey, { rank, signature });
    return true;
  }

  /** The object is gone: nothing more will be told from it. */
  forget(objectKey: string | undefined): void {
    if (objectKey !== undefined) this.last.delete(objectKey);
  }
}
