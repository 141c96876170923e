import type { Logger } from "./logging/index.js";

/**
 * What a start took, to give back in reverse order: the last part built (the HTTP server) stops
 * first, the store last. Every step runs even when one fails; running twice gives the same promise.
 */
export class Teardown {
  private readonly steps: { readonly name: string; readonly run: () => unknown }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  add(name: string, run: () => unknown): void {
    this.steps.push({ name, run });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (error) {
          this.logger.error({ err: error, part: step.name }, "could not stop a part cleanly");
        }
      }
    })();
    return this.running;
  }
}
