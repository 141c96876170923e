import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** git for test fixtures, isolated from the machine's own configuration like the product's git. */
export async function git(args: readonly string[], cwd?: string): Promise<string> {
  const { stdout } = await execFileAsync("git", [...args], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Test",
      GIT_AUTHOR_EMAIL: "test@example.invalid",
      GIT_COMMITTER_NAME: "Test",
      GIT_COMMITTER_EMAIL: "test@example.invalid",
    },
  });
  return stdout;
}

/** Temp folders removed together by `cleanup()`, typically from an `after()` hook. */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = "gitfaas-git-"): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

/** A file's new content, a symlink to create, or null to delete it. */
export type FileChange = string | { readonly symlink: string } | null;

/**
 * A bare repository (what the servers expose) plus a working clone that commits and pushes to it.
 */
export class TestRepo {
  private readonly branches = new Set<string>();

  private constructor(
    /** Absolute path of the bare repository, ending in `.git`. */
    readonly bareDir: string,
    private readonly workDir: string,
  ) {}

  static async create(parent: string, name = "repo"): Promise<TestRepo> {
    const bareDir = join(parent, `${name}.git`);
    const workDir = join(parent, `${name}-work`);
    await git(["init", "--quiet", "--bare", "--initial-branch=main", bareDir]);
    await git(["init", "--quiet", "--initial-branch=main", workDir]);
    return new TestRepo(bareDir, workDir);
  }

  /** Applies `files` on `branch` (created from the current state if new), commits, pushes; returns the sha. */
  async commit(
    files: Readonly<Record<string, FileChange>>,
    options: { branch?: string; message?: string } = {},
  ): Promise<string> {
    const branch = options.branch ?? "main";
    if (this.branches.size === 0) {
      await git(["checkout", "--quiet", "-B", branch], this.workDir);
    } else if (this.branches.has(branch)) {
      await git(["checkout", "--quiet", branch], this.workDir);
    } else {
      await git(["checkout", "--quiet", "-b", branch], this.workDir);
    }
    this.branches.add(branch);
    for (const [path, change] of Object.entries(files)) {
      const target = join(this.workDir, path);
      await rm(target, { force: true, recursive: true });
      if (change === null) continue;
      await mkdir(dirname(target), { recursive: true });
      if (typeof change === "string") await writeFile(target, change);
      else await symlink(change.symlink, target);
    }
    await git(["add", "--all"], this.workDir);
    await git(["commit", "--quiet", "--allow-empty", "-m", options.message ?? "test commit"], this.workDir);
    await git(["push", "--quiet", "--force", this.bareDir, `HEAD:refs/heads/${branch}`], this.workDir);
    return (await git(["rev-parse", "HEAD"], this.workDir)).trim();
  }
}
