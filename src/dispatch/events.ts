/**
 * What the dispatcher tells whoever counts (src/observability): it emits, and knows nothing of metrics.
 * Every hook is optional and must not throw.
 */
export interface DispatchEvents {
  /**
   * A publish ended: accepted (`code` null) or refused with an error code. `topic` is null when the
   * served catalog has no such topic, so that a made-up name never reaches a counter.
   */
  published?(topic: string | null, code: string | null, seconds: number): void;
  /** A function waits for a slot of its topic (at a publish, or again after a restart). */
  functionQueued?(functionUid: string, topic: string): void;
  /** A function is handed to the runtime (before it answers), or was taken over after a restart. */
  functionStarted?(functionUid: string, topic: string): void;
  /** A function failed without running: refused by policy, or the runtime refused to start it. */
  functionRefused?(functionUid: string, topic: string): void;
  /** A queued function was taken by another replica: it is not this one's any more. */
  functionLeft?(functionUid: string): void;
}
