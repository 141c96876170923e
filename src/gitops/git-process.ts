import { spawn, type ChildProcess } from "node:child_process";
import { GitfaasError, type ErrorCode } from "../errors/index.js";

/** How git is started: which binary, with which environment, and which values must never leak. */
export interface GitRunnerOptions {
  readonly gitBinary: string;
  /** The complete child environment; nothing is inherited from this process. */
  readonly env: Readonly<Record<string, string>>;
  /** Applied to anything git prints before it reaches an error or a log. */
  readonly scrub: (text: string) => string;
  readonly timeoutMs: number;
}

// Enough to hold any message git prints; a runaway stream is cut rather than buffered without end.
const MAX_CAPTURE_BYTES = 1024 * 1024;
// Errors carry the tail of stderr: git prints the decisive "fatal:" line last.
const MAX_ERROR_TEXT = 2000;

const AUTH_FAILURE_PATTERNS: readonly RegExp[] = [
  /authentication failed/i,
  /could not read (username|password)/i,
  /terminal prompts disabled/i,
  /returned error: 40[13]/i,
  /permission denied \(/i,
  /host key verification failed/i,
  /remote host identification has changed/i,
  /no \S+ host key is known/i,
  /invalid credentials/i,
  /access denied/i,
];

export function classifyGitFailure(stderr: string): ErrorCode {
  return AUTH_FAILURE_PATTERNS.some((pattern) => pattern.test(stderr)) ? "GIT_AUTH_FAILED" : "GIT_FAILED";
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError: Error | undefined;
}

export class GitRunner {
  constructor(private readonly options: GitRunnerOptions) {}

  /** Runs `git <args>` and resolves with its stdout; any failure becomes a GitfaasError with scrubbed stderr. */
  async run(args: readonly string[], what: string): Promise<string> {
    const child = this.spawnGit(args, ["ignore", "pipe", "pipe"]);
    const stdout = capture(child.stdout);
    const stderr = capture(child.stderr);
    const exit = await this.waitFor(child);
    if (exit.spawnError !== undefined || exit.code !== 0) {
      throw this.failure(what, exit, stderr.text());
    }
    return stdout.text();
  }

  /**
   * Writes the tree of `commit` into `targetDir` with `git archive | tar -x`, two processes joined by
   * a pipe in this process: no shell ever sees a path or a revision.
   */
  async extractCommit(gitDir: string, commit: string, targetDir: string): Promise<void> {
    const git = this.spawnGit(
      [`--git-dir=${gitDir}`, "archive", "--format=tar", commit],
      ["ignore", "pipe", "pipe"],
    );
    const tar = spawn("tar", ["-x", "-f", "-", "-C", targetDir, "--no-same-owner"], {
      env: { ...this.options.env },
      stdio: ["pipe", "ignore", "pipe"],
    });
    git.stdout?.pipe(tar.stdin as NodeJS.WritableStream);
    // tar exiting early closes the pipe; the broken-pipe error is reported through tar's exit instead.
    tar.stdin?.on("error", () => undefined);
    const gitErr = capture(git.stderr);
    const tarErr = capture(tar.stderr);
    const [gitExit, tarExit] = await Promise.all([this.waitFor(git), this.waitFor(tar)]);
    if (gitExit.spawnError !== undefined || gitExit.code !== 0) {
      throw this.failure("archive", gitExit, gitErr.text());
    }
    if (tarExit.spawnError !== undefined || tarExit.code !== 0) {
      const detail = tarExit.spawnError?.message ?? tarErr.text().trim();
      throw new GitfaasError("GIT_FAILED", `extracting commit ${commit} failed: ${this.clean(detail)}`);
    }
  }

  private spawnGit(args: readonly string[], stdio: ["ignore", "pipe", "pipe"]): ChildProcess {
    return spawn(this.options.gitBinary, [...args], { env: { ...this.options.env }, stdio });
  }

  private waitFor(child: ChildProcess): Promise<Exit> {
    return new Promise((resolve) => {
      let spawnError: Error | undefined;
      const timer = setTimeout(() => {
        spawnError = new Error(`timed out after ${this.options.timeoutMs} ms`);
        child.kill("SIGKILL");
      }, this.options.timeoutMs);
      child.on("error", (error) => {
        spawnError ??= error;
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, spawnError });
      });
    });
  }

  private failure(what: string, exit: Exit, stderr: string): GitfaasError {
    const text = this.clean(stderr.trim());
    if (exit.spawnError !== undefined) {
      const reason = this.clean(exit.spawnError.message);
      return new GitfaasError("GIT_FAILED", `git ${what} failed: ${reason}${text ? `: ${text}` : ""}`, {
        operation: what,
      });
    }
    const how = exit.code === null ? `signal ${exit.signal ?? "?"}` : `exit code ${exit.code}`;
    return new GitfaasError(
      classifyGitFailure(text),
      `git ${what} failed (${how})${text ? `: ${text}` : ""}`,
      {
        operation: what,
        exitCode: exit.code,
      },
    );
  }

  private clean(text: string): string {
    const scrubbed = this.options.scrub(text);
    return scrubbed.length > MAX_ERROR_TEXT ? `…${scrubbed.slice(-MAX_ERROR_TEXT)}` : scrubbed;
  }
}

function capture(stream: NodeJS.ReadableStream | null): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  stream?.on("data", (chunk: Buffer) => {
    if (size >= MAX_CAPTURE_BYTES) return;
    chunks.push(chunk);
    size += chunk.length;
  });
  return { text: () => Buffer.concat(chunks).toString("utf8") };
}
