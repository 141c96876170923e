import type { Redis } from "ioredis";
import type { RunLeases } from "../port.js";
import { TAKE_OVER_EXPIRED } from "./scripts.js";

/** The Redis form of run leases (see the key layout in scripts.ts). */
export class RedisRunLeases implements RunLeases {
  constructor(
    private readonly commands: Redis,
    private readonly prefix: string,
    private readonly guarded: <T>(work: () => Promise<T>) => Promise<T>,
  ) {}

  private key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  async renew(replicaId: string, ttlMs: number): Promise<void> {
    await this.guarded(() =>
      this.commands.set(this.key("lease", replicaId), String(Date.now()), "PX", ttlMs),
    );
  }

  async own(replicaId: string, functionUid: string): Promise<void> {
    await this.guarded(async () => {
      await this.commands
        .multi()
        .sadd(this.key("replicas"), replicaId)
        .sadd(this.key("owned", replicaId), functionUid)
        .exec();
    });
  }

  async release(replicaId: string, functionUid: string): Promise<void> {
    await this.guarded(() => this.commands.srem(this.key("owned", replicaId), functionUid));
  }

  async takeOverExpired(replicaId: string): Promise<string[]> {
    return this.guarded(async () => {
      const taken = (await TAKE_OVER_EXPIRED.run(
        this.commands,
        [this.key("replicas")],
        [this.prefix, replicaId],
      )) as Buffer[];
      return taken.map((uid) => uid.toString("utf8"));
    });
  }
}
