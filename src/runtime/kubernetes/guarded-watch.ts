import { STATUS_CODES } from "node:http";
import { HttpMethod, RequestContext, Watch } from "@kubernetes/client-node";
import { request } from "undici";
import type { Logger } from "../../logging/index.js";
import { decodeWatchEvent } from "./lean-event.js";

type WatchCallback = (phase: string, object: unknown, event?: unknown) => void;

/** The API server sends a bookmark about once a minute when asked: three minutes of silence is a dead watch. */
export const DEFAULT_WATCH_IDLE_MS = 180_000;
/** The client's own inactivity timeout, kept as its `Watch` has it. */
const CLIENT_TIMEOUT_MS = 30_000;

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
 *
 * The stream itself is read here rather than by the client's `Watch`, for what each event costs (a
 * watch event per change of every tracked Job and Pod was most of gitfaas's CPU per function): undici's
 * `request` on the config's connection pool instead of `fetch` with a web stream adapted to a Node stream
 * and split by readline; and each line decoded without the spec and managed fields (decodeWatchEvent).
 */
export interface WatchReading {
  /** A watch silent for longer is ended and watched again. */
  readonly idleMs?: number;
  /** What is kept of each object an event brings. */
  readonly keep?: (object: object) => object;
}

export class GuardedWatch extends Watch {
  private readonly idleMs: number;
  private readonly keep: (object: object) => object;

  constructor(
    config: ConstructorParameters<typeof Watch>[0],
    private readonly logger: Logger,
    private readonly what: string,
    private readonly reading: WatchReading = {},
  ) {
    super(config);
    this.idleMs = reading.idleMs ?? DEFAULT_WATCH_IDLE_MS;
    this.keep = reading.keep ?? ((object) => object);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // Lines only arrive once `super.watch` has returned its controller; aborting ends in `done`.
    const end = (): void => void stream.then((controller) => controller.abort());
    const idle = silenceTimer(this.idleMs, () => {
      this.logger.warn({ watch: this.what, idleMs: this.idleMs }, "a watch went silent; watching again");
      end();
    });
    const guarded: WatchCallback = (phase, object, event) => {
      idle.heard();
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
      idle.stop();
      done(error);
    };
    const stream = this.stream(path, { ...queryParams, allowWatchBookmarks: true }, guarded, ended);
    stream.catch(() => idle.stop());
    return stream;
  }

  /**
   * What the client's `Watch.watch` does (same URL, authentication, 30 s inactivity timeout ending in a
   * TimeoutError that ListWatch answers by watching again; `done` told once), on a leaner path.
   */
  private async stream(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error("No currently active cluster");
    const url = new URL(cluster.server + path);
    url.searchParams.set("watch", "true");
    for (const [key, value] of Object.entries(queryParams))
      if (value !== undefined) url.searchParams.set(key, String(value));
    const context = new RequestContext(url.toString(), HttpMethod.GET);
    await this.config.applySecurityAuthentication(context);
    const controller = new AbortController();
    const lifetime = watchLifetime(controller, CLIENT_TIMEOUT_MS, done);
    try {
      const dispatcher = context.getDispatcher();
      const response = await request(url, {
        method: "GET",
        headers: context.getHeaders(),
        signal: controller.signal,
        ...(dispatcher === undefined ? {} : { dispatcher }),
      });
      if (response.statusCode !== 200) {
        response.body.resume();
        throw Object.assign(new Error(STATUS_CODES[response.statusCode] ?? "watch refused"), {
          statusCode: response.statusCode,
        });
      }
      lifetime.heard();
      readLines(response.body, lifetime, callback);
    } catch (error) {
      lifetime.end(error);
    }
    return controller;
  }

  private failed(error: unknown): void {
    this.logger.error({ err: error, watch: this.what }, "handling a watch event failed");
  }
}

interface WatchLifetime {
  /** Something came: the inactivity timer starts again. */
  heard(): void;
  /** The watch is over (null: the server closed it): the request is aborted and `done` told, once. */
  end(error: unknown): void;
}

function watchLifetime(
  controller: AbortController,
  timeoutMs: number,
  done: (err: unknown) => void,
): WatchLifetime {
  let over = false;
  const end = (error: unknown): void => {
    if (over) return;
    over = true;
    silence.stop();
    controller.abort();
    done(error ?? null);
  };
  const silence = silenceTimer(timeoutMs, () =>
    end(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
  );
  return { heard: silence.heard, end };
}

/**
 * Calls `onSilence` once nothing was heard for `ms`. Hearing something only notes the time: a timer set
 * again for each event (two of them, each chunk of each watch) cost more than the event's own handling.
 */
export function silenceTimer(
  ms: number,
  onSilence: () => void,
  now: () => number = () => performance.now(),
): { heard(): void; stop(): void } {
  let lastHeard = now();
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const silentFor = now() - lastHeard;
    if (silentFor >= ms) onSilence();
    else timer = setTimeout(check, ms - silentFor).unref();
  };
  timer = setTimeout(check, ms).unref();
  return {
    heard: () => {
      lastHeard = now();
    },
    stop: () => clearTimeout(timer),
  };
}

/** Hands each line of the stream, decoded, to `callback`; a line that is not JSON is skipped, as the client does. */
function readLines(body: NodeJS.ReadableStream, lifetime: WatchLifetime, callback: WatchCallback): void {
  let partial = "";
  body.setEncoding("utf8");
  body.on("data", (chunk: string) => {
    lifetime.heard();
    let text = partial + chunk;
    let newline = text.indexOf("\n");
    while (newline >= 0) {
      const line = text.slice(0, newline);
      text = text.slice(newline + 1);
      newline = text.indexOf("\n");
      if (line.trim() === "") continue;
      let event: unknown;
      try {
        event = decodeWatchEvent(line);
      } catch {
        continue;
      }
      if (typeof event !== "object" || event === null) continue;
      const { type, object } = event as { type?: unknown; object?: unknown };
      callback(type as string, object, event);
    }
    partial = text;
  });
  body.on("error", (error: unknown) => lifetime.end(error));
  body.on("end", () => lifetime.end(null));
  body.on("close", () => lifetime.end(null));
}
