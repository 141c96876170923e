import { Watch } from "@kubernetes/client-node";
import type { Logger } from "../../logging/index.js";

type WatchCallback = (phase: string, object: unknown, event?: unknown) => void;

/** The API server sends a bookmark about once a minute when asked: three minutes of silence is a dead watch. */
export const DEFAULT_WATCH_IDLE_MS = 180_000;

/**
 * Makes the client's watch safe to lean on:
 * - it handles each event in an async function: a line that is JSON but no watch event (a bare Status
 *   from a proxy, say) makes it throw, and the rejection nobody awaits ends the process. Such a line
 *   means the stream is not a watch any more: the watch is ended, so that the runtime lists and watches
 *   again; whatever else goes wrong in handling an event is logged;
 * - a connection that died without closing (a NAT or load balancer forgetting it) must not leave the
 *   watch waiting forever: bookmarks are asked for, and a watch silent for longer than `idleMs` is ended
 *   and watched again. (Since 2.0 the client also ends a watch silent for 30 seconds, and its ListWatch
 *   watches again from the last resourceVersion without an error; this guard stays for a longer
 *   silence that the client's timer would miss, and for the bare-Status case above.)
 * `keep` picks what is kept of each object an event brings, before the client caches it.
 */
export class GuardedWatch extends Watch {
  constructor(
    config: ConstructorParameters<typeof Watch>[0],
    private readonly logger: Logger,
    private readonly what: string,
    private readonly idleMs: number = DEFAULT_WATCH_IDLE_MS,
    private readonly keep: (object: object) => object = (object) => object,
  ) {
    super(config);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // Lines only arrive once `super.watch` has returned its controller; aborting ends in `done`.
    const end = (): void => void stream.then((controller) => controller.abort());
    let idle: NodeJS.Timeout | undefined;
    const heard = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        this.logger.warn({ watch: this.what, idleMs: this.idleMs }, "a watch went silent; watching again");
        end();
      }, this.idleMs).unref();
    };
    const guarded: WatchCallback = (phase, object, event) => {
      heard();
      if (typeof phase !== "string" || typeof object !== "object" || object === null) {
        this.logger.warn({ watch: this.what, line: event }, "a watch line is no event; watching again");
        end();
        return;
      }
      // An ERROR event's object is a Status, read as it is; a bookmark carries only its resourceVersion.
      const kept =
        phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED" ? this.keep(object) : object;
      try {
        const handled: unknown = callback(phase, kept, event);
        if (handled instanceof Promise) handled.catch((error: unknown) => this.failed(error));
      } catch (error) {
        this.failed(error);
      }
    };
    const ended = (error: unknown): void => {
      clearTimeout(idle);
      done(error);
    };
    heard();
    const stream = super.watch(path, { ...queryParams, allowWatchBookmarks: true }, guarded, ended);
    stream.catch(() => clearTimeout(idle));
    return stream;
  }

  private failed(error: unknown): void {
    this.logger.error({ err: error, watch: this.what }, "handling a watch event failed");
  }
}
