import { FINISHED_STATUSES, STATUS_RANK, tellsNothingNew, type KnownStatus } from "../../store/port.js";
import type { StatusReport } from "../port.js";

/**
 * Most watch events of a Job or Pod change nothing its function's status is told from (a count of
 * ready pods that falls back to zero as the Job ends, the Job counting a pod that ended, the Job counting
 * its ready pod after the pod said it runs): each report, though, is a store transaction and is handed to
 * every listener. What the store would take as it already is, by the store's own rules, is not told: a
 * report after a finish, one ranked below what was told (a status only moves forward), one that tells
 * nothing new (`tellsNothingNew`). Kept per function from what was told, so that a Job's "pending" after
 * its pod said "running" is dropped here as the store would drop it.
 */
export class ReportFilter {
  /** Per function: what the reports told so far have given the store. */
  private readonly told = new Map<string, KnownStatus>();

  /** Whether `report` could change what the store holds. */
  changes(report: StatusReport | undefined): report is StatusReport {
    if (report === undefined) return false;
    const known = this.told.get(report.functionUid);
    if (known !== undefined) {
      if (FINISHED_STATUSES.has(known.status)) return false;
      if (STATUS_RANK[report.status] < STATUS_RANK[known.status]) return false;
      if (tellsNothingNew(known, report)) return false;
    }
    this.told.set(report.functionUid, {
      status: report.status,
      attempts: report.attempts ?? known?.attempts,
      started: (known?.started ?? false) || report.startedAt != null,
    });
    return true;
  }

  /** The object that tells how the function ends is gone: nothing more will be told of it. */
  forget(functionUid: string): void {
    this.told.delete(functionUid);
  }
}
