import { Watch } from "@kubernetes/client-node";
import type { Logger } from "../../logging/index.js";

type WatchCallback = (phase: string, object: unknown, event?: unknown) => void;

/**
 * The client's list+watch handles each event in an async function: a line that is JSON but no watch
 * event (a bare Status from a proxy, say) makes it throw, and the rejection nobody awaits ends the
 * process. This passes on only events that carry an object, and logs whatever still goes wrong in
 * handling one rather than letting it take gitfaas down.
 */
export class GuardedWatch extends Watch {
  constructor(
    config: ConstructorParameters<typeof Watch>[0],
    private readonly logger: Logger,
    private readonly what: string,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const guarded: WatchCallback = (phase, object, event) => {
      if (typeof phase !== "string" || typeof object !== "object" || object === null) {
        this.logger.warn({ watch: this.what, line: event }, "ignored a watch line that is no event");
        return;
      }
      try {
        const handled: unknown = callback(phase, object, event);
        if (handled instanceof Promise) handled.catch((error: unknown) => this.failed(error));
      } catch (error) {
        this.failed(error);
      }
    };
    return super.watch(path, queryParams, guarded, done);
  }

  private failed(error: unknown): void {
    this.logger.error({ err: error, watch: this.what }, "handling a watch event failed");
  }
}
