import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.js";

const execFileAsync = promisify(execFile);

export const SSHD_BINARY = "/usr/sbin/sshd";

export interface TestSshd {
  readonly port: number;
  /** Private key authorised to log in as root. */
  readonly clientKeyFile: string;
  /** A known_hosts file holding this server's real host key. */
  readonly knownHostsFile: string;
  /** `[127.0.0.1]:<port> <host public key>` */
  readonly knownHostsLine: string;
  /** ssh://root@127.0.0.1:<port><absolute path> */
  urlFor(absolutePath: string): string;
  /** Everything sshd logged so far (it runs with -e). */
  log(): string;
  close(): Promise<void>;
}

async function keygen(file: string, comment: string): Promise<string> {
  await execFileAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * A real OpenSSH server on 127.0.0.1 with a fresh host key and one fresh client key allowed to log in
 * as root (the tests run as root). Fails loudly when sshd is not installed: these tests are never skipped.
 */
export async function startSshd(workDir: string): Promise<TestSshd> {
  if (!existsSync(SSHD_BINARY)) {
    throw new Error(`${SSHD_BINARY} is missing: install openssh-server (apt-get install openssh-server)`);
  }
  // sshd's privilege separation needs this folder even when it never drops privileges here.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await mkdir(workDir, { recursive: true });
  const hostKey = join(workDir, "host_ed25519");
  const clientKey = join(workDir, "client_ed25519");
  const hostPub = await keygen(hostKey, "gitfaas-test-host");
  const clientPub = await keygen(clientKey, "gitfaas-test-client");
  const authorizedKeys = join(workDir, "authorized_keys");
  await writeFile(authorizedKeys, `${clientPub}\n`, { mode: 0o600 });
  const hostPubFields = hostPub.split(/\s+/).slice(0, 2).join(" ");

  // The port is found free and then handed to sshd, so another process may take it in between: retry.
  let lastFailure = "";
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freePort();
    const config = join(workDir, "sshd_config");
    await writeFile(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        `PidFile ${join(workDir, "sshd.pid")}`,
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    const child = spawn(SSHD_BINARY, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    let output = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline && !(await accepts(port))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!exited && (await accepts(port))) {
      const knownHostsLine = `[127.0.0.1]:${port} ${hostPubFields}`;
      const knownHostsFile = join(workDir, "known_hosts");
      await writeFile(knownHostsFile, `${knownHostsLine}\n`);
      return {
        port,
        clientKeyFile: clientKey,
        knownHostsFile,
        knownHostsLine,
        urlFor: (absolutePath) => `ssh://root@127.0.0.1:${port}${absolutePath}`,
        log: () => output,
        close: () => stopProcess(child),
      };
    }
    await stopProcess(child);
    lastFailure = output;
  }
  throw new Error(`sshd did not start listening:\n${lastFailure}`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
