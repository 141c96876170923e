/**
 * What the dispatcher tells tracing (src/observability/tracing), and the one thing it asks back: the
 * `traceparent` each function's lambda gets. The dispatcher knows nothing of spans or exporters.
 * Hooks must not throw.
 */
export interface DispatchTracing {
  /** A publish begins, under the caller's `traceparent` when it is valid (else a new trace starts). */
  publish(traceparent: string | undefined): PublishTrace;
  /** Runs `work`, the start of one function (runtime apply, or a refusal), as a step of its run. */
  apply<T extends StartOutcome>(functionUid: string, work: () => Promise<T>): Promise<T>;
}

export interface StartOutcome {
  readonly error: boolean;
  readonly code: string | null;
}

export interface PublishTrace {
  /** Runs `work`, rendering every manifest of `topic` (a topic of the served catalog). */
  render<T>(topic: string, work: () => T): T;
  /** One function of the publish: its run is followed from now; answers the traceparent its lambda gets. */
  function(fn: { functionUid: string; requestUid: string; topic: string; path: string }): string | undefined;
  /** The publish ended: accepted, or refused with `error`. */
  end(error?: unknown): void;
}

/** No tracing at all (a dispatcher built without it, as in tests): no TRACEPARENT is added. */
export const NO_TRACING: DispatchTracing = {
  publish: () => ({ render: (_topic, work) => work(), function: () => undefined, end: () => undefined }),
  apply: (_functionUid, work) => work(),
};
