import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./ports.js";

export const REDIS_SERVER = "/usr/bin/redis-server";

export interface RedisServer {
  readonly url: string;
  /** Set with requirepass: every client must authenticate. */
  readonly password: string;
  readonly pid: number;
  stop(): Promise<void>;
}

async function answersPing(url: string, password: string): Promise<boolean> {
  const client = new Redis(url, { password, lazyConnect: true, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * A throwaway redis-server (Debian's package) on a free loopback port: no persistence, its own
 * temporary folder, a random password. The password is in a config file, not argv.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "gitfaas-redis-"));
  const password = randomBytes(18).toString("base64url");
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "redis.conf");
    await writeFile(
      config,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        'save ""',
        "appendonly no",
        `requirepass ${password}`,
        "daemonize no",
        "loglevel warning",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const child: ChildProcess = spawn(REDIS_SERVER, [config], { stdio: ["ignore", "ignore", "inherit"] });
    const exited = once(child, "exit");
    const url = `redis://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (await answersPing(url, password)) {
        ready = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (ready && child.pid !== undefined) {
      return {
        url,
        password,
        pid: child.pid,
        stop: async () => {
          if (child.exitCode === null) {
            child.kill("SIGTERM");
            await exited;
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    // Another process took the port between the probe and the start: try another one.
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    if (attempt >= 3) {
      await rm(dir, { recursive: true, force: true });
      throw new Error("redis-server did not start");
    }
  }
}
