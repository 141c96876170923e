import type { TopicSchedule } from "../catalog/index.js";
import type { PublishInput, PublishReport, ServedCatalog } from "../dispatch/index.js";
import type { Logger } from "../logging/index.js";
import { newRequestUid } from "../ids/index.js";
import { FINISHED_STATUSES, type Store, type TickClaim } from "../store/index.js";
import { isTransientRefusal } from "./transient.js";

/** Where schedules read the time and are woken: the system's, or a test's that it drives itself. */
export interface Clock {
  now(): Date;
  /** Calls `wake` every `ms` until the returned function is called. */
  every(ms: number, wake: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  every: (ms, wake) => {
    const timer = setInterval(wake, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** How often due ticks are looked for: cron's finest unit is the second. */
const CHECK_EVERY_MS = 1_000;

export interface SchedulerOptions {
  readonly store: Store;
  readonly currentCatalog: () => ServedCatalog | undefined;
  readonly publish: (input: PublishInput) => Promise<PublishReport>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A tick claimed this long ago and not settled is taken over by the sweep; default 30 s. */
  readonly leaseMs?: number;
}

export const DEFAULT_TICK_LEASE_MS = 30_000;

/** What one replica did about one due tick. */
export interface TickOutcome {
  readonly topic: string;
  readonly at: Date;
  /** `taken`: another replica (or an earlier wake) claimed the tick; `skipped`: forbid, still running. */
  readonly outcome: "published" | "skipped" | "taken" | "failed";
  readonly requestUid?: string;
}

/**
 * Publishes each scheduled topic at its ticks, once across replicas: every replica looks, and the one
 * that claims (topic, tick) in the store publishes. Ticks missed while no replica ran are skipped, or
 * the latest is run (`catchUp: "last"`). Schedules follow the served revision.
 */
export class Scheduler {
  /** Per topic: ticks up to this time are dealt with. */
  private readonly cursors = new Map<string, Date>();
  private turn: Promise<unknown> = Promise.resolve();
  private stopTimer: (() => void) | undefined;

  constructor(private readonly options: SchedulerOptions) {}

  start(): void {
    this.stopTimer = this.options.clock.every(CHECK_EVERY_MS, () => void this.tick());
  }

  async close(): Promise<void> {
    this.stopTimer?.();
    await this.turn.catch(() => undefined);
  }

  /** Publishes what is due now; wakes never overlap, so a slow publish cannot fire a tick twice here. */
  tick(): Promise<TickOutcome[]> {
    const run = this.turn.then(() => this.dueNow());
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async dueNow(): Promise<TickOutcome[]> {
    const now = this.options.clock.now();
    const topics = this.options.currentCatalog()?.content.topics ?? new Map();
    for (const name of this.cursors.keys()) if (!topics.get(name)?.schedule) this.cursors.delete(name);
    const outcomes: TickOutcome[] = [];
    for (const topic of topics.values()) {
      if (!topic.schedule) continue;
      try {
        const outcome = await this.fireDue(topic.name, topic.schedule, now);
        if (outcome) outcomes.push(outcome);
      } catch (error) {
        this.options.logger.error({ err: error, topic: topic.name }, "a scheduled publish failed");
      }
    }
    return outcomes;
  }

  private async fireDue(topic: string, schedule: TopicSchedule, now: Date): Promise<TickOutcome | undefined> {
    const cursor = this.cursors.get(topic) ?? (await this.firstCursor(topic, schedule, now));
    this.cursors.set(topic, now);
    const at = schedule.latest(now);
    // Only the latest due tick: those before it were missed (downtime, a stalled wake) and are skipped.
    if (!at || at <= cursor) return undefined;
    const claim: TickClaim = { topic, at, requestUid: newRequestUid(), claimedAt: now };
    if (!(await this.options.store.claimScheduleTick(claim))) return { topic, at, outcome: "taken" };
    return this.fireClaimed(claim, schedule);
  }

  /**
   * Publishes a claimed tick under the request UID of its claim, unless `forbid` skips it, and settles
   * it. A refusal that passes leaves it unsettled, for the sweep to publish once the lease has run out.
   */
  private async fireClaimed(claim: TickClaim, schedule: TopicSchedule): Promise<TickOutcome> {
    const { topic, at } = claim;
    const { store } = this.options;
    const previous = await store.lastScheduleFire(topic);
    if (schedule.concurrency !== "allow" && previous && (await this.unfinished(previous.requestUid))) {
      if (schedule.concurrency === "forbid") {
        this.options.logger.info(
          { topic, at, running: previous.requestUid },
          "scheduled tick skipped (forbid)",
        );
        await store.skipScheduleTick(topic, at);
        return { topic, at, outcome: "skipped" };
      }
      // No runtime can end a run yet: `replace` runs the new one beside it (see the README).
      this.options.logger.warn(
        { topic, running: previous.requestUid },
        "replace: the earlier run cannot be ended",
      );
    }
    let report: PublishReport;
    try {
      report = await this.options.publish({
        topic,
        body: schedule.body,
        contentType: schedule.contentType,
        params: schedule.params,
        requestUid: claim.requestUid,
      });
    } catch (error) {
      if (!isTransientRefusal(error)) await store.skipScheduleTick(topic, at);
      throw error;
    }
    await store.recordScheduleFire(topic, { at, requestUid: report.requestUid });
    return { topic, at, outcome: report.error ? "failed" : "published", requestUid: report.requestUid };
  }

  /**
   * Publishes the ticks claimed before the lease ran out and never settled (their claimer died or
   * stalled between claim and record), or every one when `all` (at the start of the only process
   * using the store), each by one replica, under the request UID of its claim: once.
   */
  sweep(all = false): Promise<TickOutcome[]> {
    const run = this.turn.then(() => this.staleTicks(all));
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async staleTicks(all: boolean): Promise<TickOutcome[]> {
    const { store } = this.options;
    const now = this.options.clock.now();
    const staleBefore = all ? now : new Date(now.getTime() - (this.options.leaseMs ?? DEFAULT_TICK_LEASE_MS));
    const outcomes: TickOutcome[] = [];
    for (const claim of await store.listStaleTicks(staleBefore)) {
      if (!(await store.retakeScheduleTick(claim.topic, claim.at, staleBefore, now))) continue;
      this.options.logger.info({ topic: claim.topic, at: claim.at }, "scheduled tick retaken");
      const schedule = this.options.currentCatalog()?.content.topics.get(claim.topic)?.schedule;
      // Its claimer got as far as publishing: published once is enough.
      const published = await store.getRequest(claim.requestUid);
      if (published || !schedule) {
        if (published) await store.recordScheduleFire(claim.topic, claim);
        else await store.skipScheduleTick(claim.topic, claim.at);
        continue;
      }
      try {
        outcomes.push(await this.fireClaimed(claim, schedule));
      } catch (error) {
        this.options.logger.error({ err: error, topic: claim.topic }, "a scheduled publish failed");
      }
    }
    return outcomes;
  }

  /** Where a topic first seen starts: now, or after its last fire to run the latest tick missed. */
  private async firstCursor(topic: string, schedule: TopicSchedule, now: Date): Promise<Date> {
    if (schedule.catchUp === "none") return now;
    const last = await this.options.store.lastScheduleFire(topic);
    return last?.at ?? now;
  }

  private async unfinished(requestUid: string): Promise<boolean> {
    const request = await this.options.store.getRequest(requestUid);
    return request?.functions.some((fn) => !FINISHED_STATUSES.has(fn.status)) ?? false;
  }

  /** For /status: each schedule's next tick and last fire. */
  async view(): Promise<ScheduleView[]> {
    const now = this.options.clock.now();
    const topics = [...(this.options.currentCatalog()?.content.topics.values() ?? [])];
    const views: ScheduleView[] = [];
    for (const { name, schedule } of topics) {
      if (!schedule) continue;
      const last = await this.options.store.lastScheduleFire(name);
      views.push({
        topic: name,
        cron: schedule.cron,
        timezone: schedule.timezone,
        concurrency: schedule.concurrency,
        catchUp: schedule.catchUp,
        next: schedule.next(now)?.toISOString() ?? null,
        lastFire: last ? { at: last.at.toISOString(), requestUid: last.requestUid } : null,
      });
    }
    return views;
  }
}

export interface ScheduleView {
  readonly topic: string;
  readonly cron: string;
  readonly timezone: string;
  readonly concurrency: string;
  readonly catchUp: string;
  readonly next: string | null;
  readonly lastFire: { readonly at: string; readonly requestUid: string } | null;
}
