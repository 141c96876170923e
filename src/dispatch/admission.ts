import { GitfaasError } from "../errors/index.js";

export interface AdmissionLimits {
  /** Functions of one topic running at once; 0 means no limit. */
  readonly maxRunningPerTopic: number;
  /** Functions of one topic waiting for a slot; beyond it a publish is refused with 429. */
  readonly maxQueuedPerTopic: number;
}

interface Waiting {
  readonly functionUid: string;
  /** Set once the publish has recorded the function and can start it. */
  start: (() => void) | undefined;
}

interface TopicLoad {
  /** Functions holding a slot: running, or admitted and about to start. */
  readonly running: Set<string>;
  readonly queue: Waiting[];
}

/**
 * Per-topic admission: at most N functions of a topic run at once, a bounded queue holds the next
 * ones, and a publish that would overflow the queue is refused whole before anything is accepted.
 * Slots and queue places are taken at once when a publish is checked, so concurrent publishes
 * never see stale counts. Counts are this replica's own.
 */
export class TopicAdmission {
  private readonly topics = new Map<string, TopicLoad>();
  private readonly topicOf = new Map<string, string>();

  constructor(private readonly limits: AdmissionLimits) {}

  private get unlimited(): boolean {
    return this.limits.maxRunningPerTopic <= 0;
  }

  private load(topic: string): TopicLoad {
    let load = this.topics.get(topic);
    if (!load) {
      load = { running: new Set(), queue: [] };
      this.topics.set(topic, load);
    }
    return load;
  }

  /**
   * Takes a slot or a queue place for each function, or throws TOO_MANY_REQUESTS and takes
   * nothing. Those already waiting go first: a newcomer only runs at once if nobody waits.
   * Returns the functions that got a queue place. `evenIfFull` is for work accepted before a restart.
   */
  reserve(topic: string, functionUids: readonly string[], options: { evenIfFull?: boolean } = {}): string[] {
    if (this.unlimited || functionUids.length === 0) return [];
    const load = this.load(topic);
    const free = load.queue.length > 0 ? 0 : Math.max(0, this.limits.maxRunningPerTopic - load.running.size);
    const toQueue = Math.max(0, functionUids.length - free);
    if (!options.evenIfFull && load.queue.length + toQueue > this.limits.maxQueuedPerTopic) {
      throw new GitfaasError(
        "TOO_MANY_REQUESTS",
        `topic '${topic}' has ${load.running.size} functions running and ${load.queue.length} waiting (limits ${this.limits.maxRunningPerTopic} and ${this.limits.maxQueuedPerTopic}); retry later`,
        { topic, retryAfterSeconds: 5 },
      );
    }
    const queued: string[] = [];
    functionUids.forEach((functionUid, index) => {
      this.topicOf.set(functionUid, topic);
      if (index < free) load.running.add(functionUid);
      else {
        load.queue.push({ functionUid, start: undefined });
        queued.push(functionUid);
      }
    });
    return queued;
  }

  /**
   * Counts a function that already runs (taken over after a restart) as holding a slot of its topic,
   * even beyond the limit: newcomers wait until the count is back under it.
   */
  hold(topic: string, functionUid: string): void {
    if (this.unlimited) return;
    this.topicOf.set(functionUid, topic);
    this.load(topic).running.add(functionUid);
  }

  /** Starts a reserved function now if it holds a slot; otherwise it starts when one frees up. */
  launch(functionUid: string, start: () => void): "started" | "queued" {
    const topic = this.topicOf.get(functionUid);
    const load = topic === undefined ? undefined : this.topics.get(topic);
    const waiting = load?.queue.find((entry) => entry.functionUid === functionUid);
    if (waiting) {
      waiting.start = start;
      return "queued";
    }
    start();
    return "started";
  }

  /** Gives back what `reserve` took for functions that will never start (the publish failed). */
  cancel(functionUids: readonly string[]): void {
    for (const functionUid of functionUids) {
      const topic = this.topicOf.get(functionUid);
      if (topic === undefined) continue;
      const load = this.load(topic);
      const at = load.queue.findIndex((entry) => entry.functionUid === functionUid);
      if (at >= 0) {
        load.queue.splice(at, 1);
        this.topicOf.delete(functionUid);
      } else {
        this.release(functionUid);
      }
    }
  }

  /** A function finished (or could not start): its slot goes to the next one waiting. */
  release(functionUid: string): void {
    const topic = this.topicOf.get(functionUid);
    if (topic === undefined) return;
    this.topicOf.delete(functionUid);
    const load = this.load(topic);
    if (!load.running.delete(functionUid)) return;
    while (load.running.size < this.limits.maxRunningPerTopic) {
      const next = load.queue.shift();
      if (!next) break;
      load.running.add(next.functionUid);
      // Not launched yet: `launch` will find it holding a slot and start it at once.
      next.start?.();
    }
    if (load.running.size === 0 && load.queue.length === 0) this.topics.delete(topic);
  }

  /** Empties every queue (shutdown): returns the functions that were still waiting. */
  drain(): string[] {
    const waiting: string[] = [];
    for (const load of this.topics.values()) {
      for (const entry of load.queue.splice(0)) {
        waiting.push(entry.functionUid);
        this.topicOf.delete(entry.functionUid);
      }
    }
    return waiting;
  }
}
