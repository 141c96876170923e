import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../logging/index.js";
import type { ApplyOutcome, FunctionLaunch, Runtime } from "../runtime/index.js";
import type { RunLeases, StatusChange } from "../store/index.js";

export interface ReplicaLeaseOptions {
  readonly leases: RunLeases;
  readonly replicaId: string;
  /** How long a lease lives unrenewed; it is renewed every third of that. */
  readonly leaseMs: number;
  /** Where the status of a run taken over from a dead replica goes (the status outbox). */
  readonly settle: (functionUid: string, change: StatusChange) => void;
  readonly logger: Logger;
}

/**
 * This replica's lease on the runs its local runtime holds, on a store other replicas share. While it
 * lives it renews its lease; every renewal also takes over the runs of any replica whose lease expired
 * (exactly one replica gets each, atomically in the store) and settles them as failed, so that no
 * function stays `pending` or `running` for ever after its replica died.
 */
export class ReplicaLease {
  private timer: NodeJS.Timeout | undefined;
  private beat: Promise<void> = Promise.resolve();

  constructor(private readonly options: ReplicaLeaseOptions) {}

  /** Renews at once (a restart under the same id keeps its runs), then every third of the lease. */
  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(
      () => {
        this.beat = this.beat.then(() => this.renew());
      },
      Math.max(1, Math.floor(this.options.leaseMs / 3)),
    );
    this.timer.unref();
  }

  /** The runtime as the dispatcher sees it: each apply is recorded as this replica's before it starts. */
  leased(runtime: Runtime): Runtime {
    const { leases, replicaId } = this.options;
    return {
      name: runtime.name,
      apply: async (launch: FunctionLaunch): Promise<ApplyOutcome> => {
        await leases.own(replicaId, launch.functionUid);
        try {
          return await runtime.apply(launch);
        } catch (error) {
          await leases.release(replicaId, launch.functionUid).catch(() => undefined);
          throw error;
        }
      },
      onStatus: (listener) => runtime.onStatus(listener),
      reconcile: (unfinished) => runtime.reconcile(unfinished),
      logs: (functionUid, range) => runtime.logs(functionUid, range),
      prune: (before) => runtime.prune(before),
      ping: () => runtime.ping(),
      close: () => runtime.close(),
    };
  }

  release(functionUid: string): void {
    this.options.leases.release(this.options.replicaId, functionUid).catch((error: unknown) => {
      this.options.logger.warn({ err: error, functionUid }, "could not release a run's lease");
    });
  }

  private async renew(): Promise<void> {
    const { leases, replicaId, leaseMs, logger } = this.options;
    try {
      await leases.renew(replicaId, leaseMs);
      const taken = await leases.takeOverExpired(replicaId);
      if (taken.length > 0)
        logger.warn({ functions: taken.length }, "took over the runs of a replica whose lease expired");
      for (const functionUid of taken) {
        this.options.settle(functionUid, {
          status: "failed",
          finishedAt: new Date(),
          reason:
            "interrupted: the replica running it on its local runtime stopped renewing its lease (it died or lost the store)",
        });
        await leases.release(replicaId, functionUid);
      }
    } catch (error) {
      logger.warn({ err: error }, "could not renew this replica's lease; trying again");
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.beat;
  }
}

/** This replica's id, kept in its data dir so that a restart renews the same lease and keeps its runs. */
export async function replicaIdOf(dataDir: string): Promise<string> {
  const file = join(dataDir, "replica-id");
  const kept = (await readFile(file, "utf8").catch(() => "")).trim();
  if (kept !== "") return kept;
  const id = randomUUID();
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}
