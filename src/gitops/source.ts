import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { GitfaasError } from "../errors/index.js";
import { httpOrigin, isLoopbackHost } from "./auth.js";

export type Transport = "http" | "ssh" | "file";

/** Where revisions come from: a repository git fetches, or a plain folder copied as it is. */
export type RepoSource =
  | { readonly kind: "git"; readonly url: string; readonly transport: Transport }
  | { readonly kind: "dir"; readonly path: string };

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
// git's own rule: a colon before any slash makes "host:path" an scp-like SSH address.
const SCP_LIKE = /^[^/]*:/;

/**
 * Rejects repository settings that could never work or would put a secret where it must not be.
 * `gitUsername` is the configured HTTP user name: the only user name an http(s) URL may carry.
 */
export function checkRepoSetting(repo: string, gitUsername: string | undefined): void {
  if (repo.trim() === "") throw invalidRepo("the repository must not be empty");
  if (repo.startsWith("-")) throw invalidRepo("the repository must not start with '-'");
  if (/[\0\n\r]/.test(repo)) throw invalidRepo("the repository must not contain control characters");
  // git's "<transport>::<address>" form reaches remote helpers such as ext::, which runs a command.
  if (/^[a-z][a-z0-9+.-]*::/i.test(repo)) throw invalidRepo("'<transport>::' addresses are not supported");
  const scheme = URL_SCHEME.exec(repo)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    checkScpUser(repo);
    return;
  }
  if (!["http", "https", "ssh", "file"].includes(scheme)) {
    throw invalidRepo(
      `unsupported scheme '${scheme}': use http(s)://, ssh://, git@host:path, file:// or a path`,
    );
  }
  if ((scheme === "http" || scheme === "https") && !URL.canParse(repo)) {
    throw invalidRepo("the repository URL cannot be parsed");
  }
  checkUrlUser(scheme, urlUserInfo(repo), gitUsername);
}

// RFC 3986 unreserved characters, with no %-escape: what a user name looks like, and nothing a
// password separator (':') or an encoded secret could hide in.
const PLAIN_USERNAME = /^[A-Za-z0-9._~-]+$/;

/**
 * The user-info of a URL is a secret's favourite hiding place (`https://<token>@host/…`,
 * `https://user:<token>@host/…`): from there it reaches git's argv, the mirror's config and git's
 * messages. Only a plain user name passes; over http(s) it must also be the configured
 * `--git-username`, since any other "name" there is most likely a token. ssh:// keeps its login
 * name (`ssh://git@host/…`): SSH authenticates with the key, never with what the URL holds.
 * Messages never repeat the user-info.
 */
function checkUrlUser(scheme: string, userInfo: string | undefined, gitUsername: string | undefined): void {
  if (userInfo === undefined) return;
  if (scheme === "file") throw invalidRepo("a file:// URL must not carry a user name, password or token");
  if (!PLAIN_USERNAME.test(userInfo)) {
    throw invalidRepo(
      "the repository URL must not carry a password or token: put the user name in --git-username " +
        "and the token in GITFAAS_GIT_TOKEN or --git-token-file",
    );
  }
  if (scheme === "ssh" || userInfo === gitUsername) return;
  throw invalidRepo(
    "the user name in the repository URL is not --git-username: a token there would be sent and logged; " +
      "put the user name in --git-username and the token in GITFAAS_GIT_TOKEN or --git-token-file",
  );
}

/**
 * `user@host:path`: the login name must be plain, so that no password hides before the host. Whatever
 * precedes the last '@' before the first '/' counts as the user, so `git:<token>@host:path` is refused
 * however git would split it.
 */
function checkScpUser(repo: string): void {
  if (!SCP_LIKE.test(repo)) return;
  const slash = repo.indexOf("/");
  const head = slash === -1 ? repo : repo.slice(0, slash);
  const at = head.lastIndexOf("@");
  if (at !== -1 && !PLAIN_USERNAME.test(head.slice(0, at))) {
    throw invalidRepo("the repository address must not carry a password or token before the host");
  }
}

/** Everything before the last '@' of the authority, whichever '@' git or curl would split at. */
function urlUserInfo(url: string): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1] ?? "";
  const at = authority.lastIndexOf("@");
  return at === -1 ? undefined : authority.slice(0, at);
}

/** The repository as it may be logged or shown: a URL's user-info replaced by `***`. */
export function displayRepo(repo: string): string {
  const userInfo = urlUserInfo(repo);
  if (userInfo === undefined) return repo;
  const schemeEnd = repo.indexOf("://") + 3;
  return `${repo.slice(0, schemeEnd)}***${repo.slice(schemeEnd + userInfo.length)}`;
}

/**
 * A token sent over plain http:// crosses the network readable by anyone on the path: refused, unless
 * the host is loopback (a local proxy or test server), where the traffic never leaves the machine.
 */
export function checkTokenTransport(repo: string, hasToken: boolean): void {
  if (!hasToken) return;
  const scheme = URL_SCHEME.exec(repo)?.[1]?.toLowerCase();
  if (scheme !== "http") return;
  const origin = httpOrigin(repo);
  if (origin !== undefined && isLoopbackHost(origin.hostname)) return;
  throw new GitfaasError(
    "INVALID_SETTING",
    "invalid repository setting: a git token is only sent over https:// (or plain http:// to a loopback host); " +
      "over plain http:// it would cross the network unencrypted",
    { setting: "repo" },
  );
}

/** Decides, at each sync, what kind of source the setting names (a local folder may change kind). */
export async function resolveSource(repo: string): Promise<RepoSource> {
  const scheme = URL_SCHEME.exec(repo)?.[1]?.toLowerCase();
  if (scheme === "http" || scheme === "https") return { kind: "git", url: repo, transport: "http" };
  if (scheme === "ssh") return { kind: "git", url: repo, transport: "ssh" };
  if (scheme === "file") return { kind: "git", url: repo, transport: "file" };
  if (SCP_LIKE.test(repo)) return { kind: "git", url: repo, transport: "ssh" };

  const path = resolve(repo);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined)
    throw new GitfaasError("GIT_FAILED", `repository path ${path} does not exist`, { path });
  if (!info.isDirectory())
    throw new GitfaasError("GIT_FAILED", `repository path ${path} is not a directory`, { path });
  if (await isGitRepositoryRoot(path)) return { kind: "git", url: path, transport: "file" };
  return { kind: "dir", path };
}

async function isGitRepositoryRoot(path: string): Promise<boolean> {
  if (await exists(join(path, ".git"))) return true;
  // A bare repository: what `git init --bare` creates at the top level.
  const [head, objects, refs] = await Promise.all(
    ["HEAD", "objects", "refs"].map((name) => exists(join(path, name))),
  );
  return head === true && objects === true && refs === true;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

function invalidRepo(why: string): GitfaasError {
  return new GitfaasError("INVALID_SETTING", `invalid repository setting: ${why}`, { setting: "repo" });
}

// Refspecs and ref names: anything outside this set is either invalid for git or would change the refspec's meaning.
const BRANCH_NAME = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/+-]+$/;

export function checkBranchSetting(branch: string): void {
  if (
    !BRANCH_NAME.test(branch) ||
    branch.endsWith("/") ||
    branch.endsWith(".lock") ||
    branch.startsWith("/")
  ) {
    throw new GitfaasError("INVALID_SETTING", `invalid branch name ${JSON.stringify(branch)}`, {
      setting: "branch",
    });
  }
}
