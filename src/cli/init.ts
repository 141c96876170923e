import { cp, mkdir, readdir, rename } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GitfaasError } from "../errors/index.js";

/** The starter repository `gitfaas init` writes: shipped with the package (package.json "files"). */
export const STARTER_REPO = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "examples",
  "starter",
);

/**
 * Writes a starter repository into `dir` (created if missing). An existing non-empty folder is
 * refused: init never overwrites someone's files. The ignore file is shipped as `gitignore`, since
 * npm leaves `.gitignore` files out of packages.
 */
export async function initRepository(dir: string): Promise<string[]> {
  const target = resolve(dir);
  const present = await readdir(target).catch(() => [] as string[]);
  if (present.length > 0) {
    throw new GitfaasError(
      "INVALID_SETTING",
      `${target} is not empty: init writes into a new or empty folder`,
    );
  }
  await mkdir(target, { recursive: true });
  await cp(STARTER_REPO, target, { recursive: true });
  await rename(join(target, "gitignore"), join(target, ".gitignore"));
  return (await readdir(target, { recursive: true })).sort();
}
