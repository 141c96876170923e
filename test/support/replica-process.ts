import { spawn } from "node:child_process";
import { once } from "node:events";
import { after } from "node:test";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "./ports.js";

const CLI = ["--import", "tsx", join(import.meta.dirname, "..", "..", "src", "cli", "main.ts")];

export interface ReplicaProcess {
  readonly url: string;
  /** Kills it with SIGKILL (nothing of its teardown runs) and resolves once it is gone. */
  kill9(): Promise<void>;
}

/**
 * A gitfaas replica as its own process, so that a test can kill it with SIGKILL as a node failure
 * would; killed at the end of the test if still alive. `flags` are the serve command's (without `--`).
 */
export async function replicaProcess(
  options: { repo: string; dataDir: string; flags: Readonly<Record<string, string>> },
  env: Readonly<Record<string, string>>,
): Promise<ReplicaProcess> {
  const port = await freePort();
  const args = ["serve", "--repo", options.repo, "--data-dir", options.dataDir, "--port", String(port)];
  for (const [flag, value] of Object.entries({ "poll-interval": "1h", ...options.flags }))
    args.push(`--${flag}`, value);
  const child = spawn(process.execPath, [...CLI, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const exited = once(child, "exit");
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.includes('"msg":"gitfaas is serving"')) resolve();
    });
    void exited.then(() => reject(new Error("the replica exited before serving")));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    kill9: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
