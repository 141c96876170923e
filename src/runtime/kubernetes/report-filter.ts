import { STATUS_RANK } from "../../store/port.js";
import type { StatusReport } from "../port.js";

/**
 * Most watch events of a Job or Pod change nothing its function's status is told from (a count of
 * ready pods that falls back to zero as the Job ends, the Job counting a pod that ended): each report,
 * though, is a store transaction and is handed to every listener. What the store would take as it
 * already is, is not told again: a report equal to the last one told for the same function, or one
 * ranked below it (a status only moves forward; the store keeps the higher one). Kept per function,
 * not per object: a Job's "pending" after its pod said "running" is dropped here as the store would.
 */
export class ReportFilter {
  /** Per function: the rank and the fields of the last report told. */
  private readonly last = new Map<string, { rank: number; signature: string }>();

  /** Whether `report` could change what the store holds. */
  changes(report: StatusReport | undefined): report is StatusReport {
    if (report === undefined) return false;
    const rank = STATUS_RANK[report.status];
    const signature = signatureOf(report);
    const before = this.last.get(report.functionUid);
    if (before !== undefined && (rank < before.rank || signature === before.signature)) return false;
    this.last.set(report.functionUid, { rank, signature });
    return true;
  }

  /** The object that tells how the function ends is gone: nothing more will be told of it. */
  forget(functionUid: string): void {
    this.last.delete(functionUid);
  }
}

/** The report's fields in one string (JSON.stringify was a tenth of a watch event's cost). */
function signatureOf(report: StatusReport): string {
  return `${report.status}|${report.attempts}|${report.startedAt?.getTime()}|${report.finishedAt?.getTime()}|${report.reason}`;
}
