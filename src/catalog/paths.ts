import { constants } from "node:fs";
import { lstat, open } from "node:fs/promises";
import path from "node:path";
import { describeError } from "../errors/index.js";

/** Why a repository path cannot be used: it leaves the repository, or it is simply not there. */
export type PathRefusal = { readonly code: "PATH_ESCAPE" | "CATALOG_INVALID"; readonly reason: string };

/**
 * The normalised form of a path written in the repository, or why it is refused. Paths are relative to
 * the repository root (as in the original), so absolute paths and `..` that climb above it are refused.
 */
export function normaliseRepoPath(written: string): { path: string } | PathRefusal {
  if (written === "" || written.includes("\0"))
    return { code: "CATALOG_INVALID", reason: "empty or malformed path" };
  if (path.posix.isAbsolute(written) || path.win32.isAbsolute(written)) {
    return {
      code: "PATH_ESCAPE",
      reason: `${JSON.stringify(written)} is absolute; paths are relative to the repository root`,
    };
  }
  const normalised = path.posix.normalize(written);
  if (normalised === ".." || normalised.startsWith("../") || normalised === "." || normalised.endsWith("/")) {
    return { code: "PATH_ESCAPE", reason: `${JSON.stringify(written)} is outside the repository` };
  }
  return { path: normalised };
}

/**
 * Reads a file inside `root`, refusing any symbolic link on the way (the file or a folder): a link could
 * point anywhere on the host, and the repository's author controls them.
 */
export async function readRepoFile(root: string, relative: string): Promise<{ text: string } | PathRefusal> {
  const components = relative.split("/");
  let current = root;
  for (const [index, component] of components.entries()) {
    current = path.join(current, component);
    const shown = components.slice(0, index + 1).join("/");
    let stats;
    try {
      stats = await lstat(current);
    } catch (error) {
      if (isCode(error, "ENOENT") || isCode(error, "ENOTDIR")) {
        return { code: "CATALOG_INVALID", reason: `${JSON.stringify(relative)} does not exist` };
      }
      return {
        code: "CATALOG_INVALID",
        reason: `cannot read ${JSON.stringify(shown)}: ${describeError(error)}`,
      };
    }
    if (stats.isSymbolicLink()) {
      return {
        code: "PATH_ESCAPE",
        reason: `${JSON.stringify(shown)} is a symbolic link; links are not followed`,
      };
    }
    const last = index === components.length - 1;
    if (!last && !stats.isDirectory()) {
      return { code: "CATALOG_INVALID", reason: `${JSON.stringify(shown)} is not a folder` };
    }
    if (last && !stats.isFile()) {
      return { code: "CATALOG_INVALID", reason: `${JSON.stringify(relative)} is not a regular file` };
    }
  }
  // O_NOFOLLOW closes the gap between the lstat above and the read, for the file itself at least.
  let handle;
  try {
    handle = await open(current, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (isCode(error, "ELOOP")) {
      return {
        code: "PATH_ESCAPE",
        reason: `${JSON.stringify(relative)} is a symbolic link; links are not followed`,
      };
    }
    return {
      code: "CATALOG_INVALID",
      reason: `cannot read ${JSON.stringify(relative)}: ${describeError(error)}`,
    };
  }
  try {
    return { text: await handle.readFile("utf8") };
  } finally {
    await handle.close();
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === code;
}
