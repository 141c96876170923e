import type { Logger } from "../logging/index.js";
import type { StatusListener, StatusReport } from "./port.js";

/** Hands each status report to every listener; one listener failing never stops the others. */
export class StatusListeners {
  private readonly listeners: StatusListener[] = [];

  constructor(private readonly logger: Logger) {}

  add(listener: StatusListener): void {
    this.listeners.push(listener);
  }

  report(report: StatusReport | undefined): void {
    if (!report) return;
    for (const listener of this.listeners) {
      try {
        listener(report);
      } catch (error) {
        this.logger.error({ err: error, functionUid: report.functionUid }, "status listener failed");
      }
    }
  }
}
