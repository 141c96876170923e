import { chmod, copyFile, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Transport } from "./source.js";

export interface GitAuth {
  username?: string;
  token?: string;
  sshKeyFile?: string;
  knownHostsFile?: string;
  strictHostKeyChecking: boolean;
}

// Hosts such as GitHub accept any non-empty user name alongside a token; git needs one to ask for the password.
const DEFAULT_TOKEN_USERNAME = "git";

// Reads both answers from its own environment, so neither the script nor any argv holds a secret.
const ASKPASS_SCRIPT = `#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "$GITFAAS_GIT_USERNAME" ;;
  *) printf '%s\\n' "$GITFAAS_GIT_TOKEN" ;;
esac
`;

/** The environment entries git needs to authenticate over `transport`; secrets appear only as env values. */
export async function authEnvironment(
  auth: GitAuth,
  transport: Transport,
  gitDir: string,
): Promise<Record<string, string>> {
  if (transport === "http") return httpEnvironment(auth, gitDir);
  if (transport === "ssh") return { GIT_SSH_COMMAND: await sshCommand(auth, gitDir) };
  return {};
}

async function httpEnvironment(auth: GitAuth, gitDir: string): Promise<Record<string, string>> {
  if (auth.token === undefined || auth.token === "") return {};
  const askpass = join(gitDir, "askpass.sh");
  await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700 });
  await chmod(askpass, 0o700);
  return {
    GIT_ASKPASS: askpass,
    GITFAAS_GIT_USERNAME: auth.username || DEFAULT_TOKEN_USERNAME,
    GITFAAS_GIT_TOKEN: auth.token,
  };
}

async function sshCommand(auth: GitAuth, gitDir: string): Promise<string> {
  const parts = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"];
  if (auth.sshKeyFile !== undefined && auth.sshKeyFile !== "") {
    const keyFile = await usableKeyFile(auth.sshKeyFile, gitDir);
    // As an -o option rather than -i: ssh expands %-tokens of either, but `-i` is checked for existence
    // before expansion, so a path holding % could be passed through neither escaped nor unescaped.
    parts.push("-o", shellQuote(`IdentityFile=${sshOptionPath(keyFile)}`), "-o", "IdentitiesOnly=yes");
  }
  if (auth.strictHostKeyChecking) {
    const knownHosts =
      auth.knownHostsFile !== undefined && auth.knownHostsFile !== "" ? auth.knownHostsFile : "/dev/null";
    // Only the configured list is trusted: a host key found in the system-wide file must not count.
    parts.push(
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      shellQuote(`UserKnownHostsFile=${sshOptionPath(knownHosts)}`),
      "-o",
      "GlobalKnownHostsFile=/dev/null",
    );
  } else {
    parts.push(
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
    );
  }
  return parts.join(" ");
}

/**
 * ssh refuses a private key that its group or others may read, or that another user owns. Keys mounted
 * from a Kubernetes Secret often are (defaultMode 0644, owned by root), so such a key is copied into a
 * private folder of our own with mode 0600 and that copy is used instead.
 */
async function usableKeyFile(keyFile: string, gitDir: string): Promise<string> {
  const info = await stat(keyFile);
  const ownUid = process.getuid?.();
  const tooOpen = (info.mode & 0o077) !== 0;
  const foreign = ownUid !== undefined && info.uid !== ownUid;
  if (!tooOpen && !foreign) return keyFile;
  const privateDir = join(gitDir, "ssh");
  await mkdir(privateDir, { recursive: true, mode: 0o700 });
  await chmod(privateDir, 0o700);
  const copy = join(privateDir, "id_key");
  await copyFile(keyFile, copy);
  await chmod(copy, 0o600);
  return copy;
}

/**
 * ssh splits an option's value on spaces (UserKnownHostsFile takes a list) unless it is double-quoted,
 * and expands %-tokens in file names: both are neutralised so that any path means itself.
 */
function sshOptionPath(path: string): string {
  return `"${path.replaceAll("%", "%%").replace(/[\\"]/g, "\\$&")}"`;
}

/** Single-quotes a word for the POSIX shell git runs GIT_SSH_COMMAND with. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
