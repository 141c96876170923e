import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Transport } from "./source.js";

export interface GitAuth {
  username?: string;
  token?: string;
  sshKeyFile?: string;
  knownHostsFile?: string;
  strictHostKeyChecking: boolean;
}

/** Where credentials reach git: the repository URL and its transport. */
export interface AuthTarget {
  readonly url: string;
  readonly transport: Transport;
}

/**
 * Makes (once) and returns a folder only this process may enter, removed by the caller right after
 * the git invocation it serves: copies of secrets and helper scripts live there, never in the data dir.
 */
export type PrivateDir = () => Promise<string>;

// Hosts such as GitHub accept any non-empty user name alongside a token; git needs one to ask for the password.
const DEFAULT_TOKEN_USERNAME = "git";

// Reads both answers from its own environment, so neither the script nor any argv holds a secret.
// git names the URL it wants credentials for in its prompt ("Username for 'http://host:port': ",
// "Password for 'http://user@host:port': "): only the configured origin gets an answer, so a
// redirect (or anything else) that sends git to another host never receives the token.
const ASKPASS_SCRIPT = [
  "#!/bin/sh",
  'case "$1" in',
  `  "Username for '"*) answer=$GITFAAS_GIT_USERNAME; rest=\${1#"Username for '"} ;;`,
  `  "Password for '"*) answer=$GITFAAS_GIT_TOKEN; rest=\${1#"Password for '"} ;;`,
  "  *) exit 1 ;;",
  "esac",
  'case "$rest" in',
  `  *"': ") url=\${rest%"': "} ;;`,
  "  *) exit 1 ;;",
  "esac",
  'case "$url" in',
  "  *://*) ;;",
  "  *) exit 1 ;;",
  "esac",
  // The user name git shows before the host may hold '@' itself: the host is what follows the last one.
  "scheme=${url%%://*}",
  "authority=${url#*://}",
  "host=${authority##*@}",
  '[ -n "$GITFAAS_GIT_ORIGIN" ] && [ "$scheme://$host" = "$GITFAAS_GIT_ORIGIN" ] || exit 1',
  "printf '%s\\n' \"$answer\"",
  "",
].join("\n");

/** The environment entries git needs to authenticate to `target`; secrets appear only as env values. */
export async function authEnvironment(
  auth: GitAuth,
  target: AuthTarget,
  privateDir: PrivateDir,
): Promise<Record<string, string>> {
  if (target.transport === "http") return httpEnvironment(auth, target.url, privateDir);
  if (target.transport === "ssh") return { GIT_SSH_COMMAND: await sshCommand(auth, privateDir) };
  return {};
}

/** Whether `auth` holds a token, i.e. whether git over HTTP(S) will be handed one. */
export function hasToken(auth: GitAuth): boolean {
  return auth.token !== undefined && auth.token !== "";
}

/** The user name git sends with the token. */
export function httpUsername(auth: GitAuth): string {
  return auth.username || DEFAULT_TOKEN_USERNAME;
}

async function httpEnvironment(
  auth: GitAuth,
  url: string,
  privateDir: PrivateDir,
): Promise<Record<string, string>> {
  if (!hasToken(auth)) return {};
  const origin = httpOrigin(url);
  // Without an origin to compare with, the script answers nothing: better no credentials than a leak.
  const askpass = join(await privateDir(), "askpass.sh");
  await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700 });
  await chmod(askpass, 0o700);
  return {
    GIT_ASKPASS: askpass,
    GITFAAS_GIT_ORIGIN: origin?.origin ?? "",
    GITFAAS_GIT_USERNAME: httpUsername(auth),
    GITFAAS_GIT_TOKEN: auth.token ?? "",
  };
}

export interface HttpOrigin {
  /** `scheme://host[:port]` spelled as git spells it in its credential prompts. */
  readonly origin: string;
  /** The host alone: no port, no IPv6 brackets, lower case. */
  readonly hostname: string;
}

/**
 * Reads the origin out of an http(s) URL by git's own rules (credential.c): the scheme as written,
 * the user name ending at the first '@' of the authority, the host percent-decoded and kept with its
 * port as written. Both the askpass check and the loopback check use this, so they see the host git
 * (and curl) will talk to, whatever a URL parser with other rules would make of the same text.
 */
export function httpOrigin(url: string): HttpOrigin | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(url);
  const scheme = match?.[1];
  const authority = match?.[2];
  if (scheme === undefined || authority === undefined) return undefined;
  const at = authority.indexOf("@");
  const host = percentDecode(at === -1 ? authority : authority.slice(at + 1));
  if (host === "" || /[\s@\\]/.test(host)) return undefined;
  let hostname: string;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end === -1) return undefined;
    hostname = host.slice(1, end);
  } else {
    const colon = host.lastIndexOf(":");
    hostname = colon === -1 ? host : host.slice(0, colon);
  }
  return { origin: `${scheme}://${host}`, hostname: hostname.toLowerCase() };
}

/** 127.0.0.0/8, ::1 or localhost: hosts whose traffic never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  if (v4 !== null) return v4.slice(1).every((part) => Number(part) <= 255);
  if (!name.includes(":")) return false;
  try {
    return new URL(`http://[${name}]/`).hostname === "[::1]";
  } catch {
    return false;
  }
}

// git's url_decode_mem: valid %XX sequences become bytes, anything else stays as it is.
function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === "%" && /^[0-9a-f]{2}$/i.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i] ?? "", "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

async function sshCommand(auth: GitAuth, privateDir: PrivateDir): Promise<string> {
  const parts = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"];
  if (auth.sshKeyFile !== undefined && auth.sshKeyFile !== "") {
    const keyFile = await usableKeyFile(auth.sshKeyFile, privateDir);
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
 * from a Kubernetes Secret often are (defaultMode 0644, owned by root), so such a key is copied with
 * mode 0600 into the private folder of this one git invocation, which the caller removes right after:
 * the copy never lands in the data dir (where local runs work) and never outlives a key rotation.
 */
async function usableKeyFile(keyFile: string, privateDir: PrivateDir): Promise<string> {
  const info = await stat(keyFile);
  const ownUid = process.getuid?.();
  const tooOpen = (info.mode & 0o077) !== 0;
  const foreign = ownUid !== undefined && info.uid !== ownUid;
  if (!tooOpen && !foreign) return keyFile;
  const copy = join(await privateDir(), "id_key");
  // Created 0600 from the start ("wx": a new file in a fresh folder), never briefly with the source's mode.
  await writeFile(copy, await readFile(keyFile), { mode: 0o600, flag: "wx" });
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
