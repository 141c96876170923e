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
  /** Stops the server as an outage would, keeping its folder (and, if persistent, its data). */
  kill(): Promise<void>;
  /** Starts it again after `kill`, on the same port. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** Keeps data across `kill` and `restart` (an append-only file, flushed at shutdown). */
  readonly persistent?: boolean;
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

async function launch(config: string, url: string, password: string) {
  const child: ChildProcess = spawn(REDIS_SERVER, [config], { stdio: ["ignore", "ignore", "inherit"] });
  const exited = once(child, "exit");
  let ready = false;
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    if (await answersPing(url, password)) {
      ready = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, exited, ready };
}

/**
 * A throwaway redis-server (Debian's package) on a free loopback port: no persistence, its own
 * temporary folder, a random password. The password is in a config file, not argv.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
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
        `appendonly ${options.persistent ? "yes" : "no"}`,
        `requirepass ${password}`,
        "daemonize no",
        "loglevel warning",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const url = `redis://127.0.0.1:${port}`;
    let { child, exited, ready } = await launch(config, url, password);
    const kill = async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    };
    if (ready && child.pid !== undefined) {
      return {
        url,
        password,
        // The running process's, also after a restart.
        get pid() {
          return child.pid ?? 0;
        },
        stop: async () => {
          await kill();
          await rm(dir, { recursive: true, force: true });
        },
        kill,
        restart: async () => {
          await kill();
          ({ child, exited, ready } = await launch(config, url, password));
          if (!ready) throw new Error("redis-server did not start again");
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
