import { GitfaasError } from "../errors/index.js";

export interface AdmissionLimits {
  /** Functions of one topic running at once; 0 means no limit. */
  readonly maxRunningPerTopic: number;
  /** Functions of one topic waiting for a slot; beyond it a publish is refused with 429. */
  readonly maxQueuedPerTopic: number;
}

interface Waiting {
  readonly functionUid: string;
  readonly start: () => void;
}

interface TopicLoad {
  readonly running: Set<string>;
  readonly queue: Waiting[];
}

/**
 * Per-topic admission: at most N functions of a topic run at once, a bounded queue holds the next
 * ones, and a publish that would overflow the queue is refused whole before anything is accepted.
 * Counts are this replica's own.
 */
export class TopicAdmission {
  private readonly topics = new Map<string, TopicLoad>();
  private readonly topicOf = new Map<string, string>();

  constructor(private readonly limits: AdmissionLimits) {}

  private load(topic: string): TopicLoad {
    let load = this.topics.get(topic);
    if (!load) {
      load = { running: new Set(), queue: [] };
      this.topics.set(topic, load);
    }
    return load;
  }

  /** Throws TOO_MANY_REQUESTS when `count` more functions would not fit in the slots and the queue. */
  reserve(topic: string, count: number): void {
    if (this.limits.maxRunningPerTopic <= 0) return;
    const load = this.load(topic);
    const free = Math.max(0, this.limits.maxRunningPerTopic - load.running.size);
    // Those already waiting go first, so a new publish only runs at once if nobody waits.
    const toQueue = load.queue.length > 0 ? count : Math.max(0, count - free);
    if (load.queue.length + toQueue > this.limits.maxQueuedPerTopic) {
      throw new GitfaasError(
        "TOO_MANY_REQUESTS",
        `topic '${topic}' has ${load.running.size} functions running and ${load.queue.length} waiting (limits ${this.limits.maxRunningPerTopic} and ${this.limits.maxQueuedPerTopic}); retry later`,
        { topic, retryAfterSeconds: 5 },
      );
    }
  }

  /** Runs `start` now if the topic has a free slot and nobody waits before it; otherwise queues it. */
  admit(topic: string, functionUid: string, start: () => void): "started" | "queued" {
    if (this.limits.maxRunningPerTopic <= 0) {
      start();
      return "started";
    }
    const load = this.load(topic);
    this.topicOf.set(functionUid, topic);
    if (load.queue.length === 0 && load.running.size < this.limits.maxRunningPerTopic) {
      load.running.add(functionUid);
      start();
      return "started";
    }
    load.queue.push({ functionUid, start });
    return "queued";
  }

  /** A function finished (or never started): its slot goes to the next one waiting. */
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
      next.start();
    }
    if (load.running.size === 0 && load.queue.length === 0) this.topics.delete(topic);
  }
}
