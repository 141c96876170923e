import { Watch } from "@kubernetes/client-node";
import type { Logger } from "../../logging/index.js";

type WatchCallback = (phase: string, object: unknown, event?: unknown) => void;

/**
 * The client's list+watch handles each event in an async function: a line that is JSON but no watch
 * event (a bare Status from a proxy, say) makes it throw, and the rejection nobody awaits ends the
 * process. Such a line means the stream is not a watch any more: this ends it, so that the runtime lists
 * and watches again, rather than wait on it forever. Whatever still goes wrong in handling an event is
 * logged rather than allowed to take gitfaas down.
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
        this.logger.warn({ watch: this.what, line: event }, "a watch line is no event; watching again");
        // Lines only arrive once `super.watch` has returned its controller; aborting ends in `done`.
        void stream.then((controller) => controller.abort());
        return;
      }
      try {
        const handled: unknown = callback(phase, object, event);
        if (handled instanceof Promise) handled.catch((error: unknown) => this.failed(error));
      } catch (error) {
        this.failed(error);
      }
    };
    const stream = super.watch(path, queryParams, guarded, done);
    return stream;
  }

  private failed(error: unknown): void {
    this.logger.error({ err: error, watch: this.what }, "handling a watch event failed");
  }
}
