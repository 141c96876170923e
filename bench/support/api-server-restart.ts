import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { connect } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";

/** The local control plane's state folder (cluster/up.sh), whose kube-apiserver is restarted. */
const CLUSTER_DIR = process.env.GITFAAS_CLUSTER_DIR ?? "/tmp/gitfaas-cluster";

/**
 * Whether the API server's port still takes connections. Not its pid's state: a killed Go process's
 * main thread shows as a zombie while its other threads still hold the listening socket.
 */
function listening(server: string): Promise<boolean> {
  const url = new URL(server);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** `GET path` on the API server as the admin (client certificate): the HTTP status, 0 if unreachable. */
function adminGet(admin: KubeConfig, path: string): Promise<number> {
  const cluster = admin.getCurrentCluster()!;
  const user = admin.getCurrentUser()!;
  const decode = (data: string | undefined) => (data ? Buffer.from(data, "base64") : undefined);
  const url = new URL(path, cluster.server);
  return new Promise((resolve) => {
    const request = https.get(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        ca: decode(cluster.caData),
        cert: decode(user.certData),
        key: decode(user.keyData),
        agent: false,
        timeout: 2000,
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on("error", () => resolve(0));
    request.on("timeout", () => request.destroy());
  });
}

/**
 * Kills the local control plane's kube-apiserver (SIGKILL, a crash: SIGTERM makes it wait 60 s for
 * the watches it serves to end) and starts it again with the very same command line, its log appended
 * to, its pid file updated (cluster/down.sh stops it). Resolves with the moments (performance.now())
 * it was started again and its /readyz first answered 200.
 */
export async function restartApiServer(
  admin: KubeConfig,
): Promise<{ downSeconds: number; startedAt: number; readyAt: number }> {
  const pidFile = join(CLUSTER_DIR, "run", "kube-apiserver.pid");
  const pid = Number(await readFile(pidFile, "utf8"));
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter(Boolean);
  const stopped = performance.now();
  process.kill(pid, "SIGKILL");
  while (await listening(admin.getCurrentCluster()!.server))
    await new Promise((resolve) => setTimeout(resolve, 50));
  const log = openSync(join(CLUSTER_DIR, "logs", "kube-apiserver.log"), "a");
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
  closeSync(log);
  child.unref();
  const startedAt = performance.now();
  await writeFile(pidFile, String(child.pid));
  const deadline = performance.now() + 120_000;
  while ((await adminGet(admin, "/readyz")) !== 200) {
    if (performance.now() > deadline) throw new Error("kube-apiserver not ready 120 s after its restart");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const readyAt = performance.now();
  return { downSeconds: (readyAt - stopped) / 1000, startedAt, readyAt };
}
