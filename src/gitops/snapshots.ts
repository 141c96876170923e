import { createHash, randomBytes } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";

/** The folders a GitSync keeps under `<dataDir>/git`. */
export interface Layout {
  readonly root: string;
  readonly mirror: string;
  readonly snapshots: string;
  readonly tmp: string;
  readonly home: string;
}

export function layoutFor(dataDir: string): Layout {
  const root = join(dataDir, "git");
  return {
    root,
    mirror: join(root, "mirror.git"),
    snapshots: join(root, "snapshots"),
    tmp: join(root, "tmp"),
    home: join(root, "home"),
  };
}

export async function freshTempDir(layout: Layout): Promise<string> {
  const dir = join(layout.tmp, `${Date.now()}-${randomBytes(6).toString("hex")}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

export async function pathExists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * Moves a finished temp folder to its final, content-named place. The rename is the commit point:
 * a snapshot folder either does not exist or is complete. If it already exists (same content seen
 * before), that one is kept and the temp copy dropped.
 */
export async function publishSnapshot(tempDir: string, finalDir: string): Promise<void> {
  if (await pathExists(finalDir)) {
    await rm(tempDir, { recursive: true, force: true });
    return;
  }
  try {
    await rename(tempDir, finalDir);
  } catch (error) {
    await rm(tempDir, { recursive: true, force: true });
    if (!(await pathExists(finalDir))) throw error;
  }
}

/** Deletes every snapshot folder whose name is not in `keep`. */
export async function pruneSnapshots(snapshotsDir: string, keep: ReadonlySet<string>): Promise<void> {
  const names = await readdir(snapshotsDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => !keep.has(name))
      .map((name) => rm(join(snapshotsDir, name), { recursive: true, force: true })),
  );
}

/**
 * Copies a plain folder (skipping every `.git`) into `targetDir` and returns the hash of what was copied:
 * paths, file contents and executable bits, symlink targets. Symlinks are recreated as symlinks, never
 * followed, so the catalog can see and refuse them. Hashing the copy rather than the source means the
 * id always describes exactly the files served, even if the source changes during the copy.
 */
export async function copyPlainDir(sourceDir: string, targetDir: string): Promise<string> {
  const hash = createHash("sha256");
  const field = (text: string | Buffer): void => {
    const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
    // Length-prefixed so that no two different trees can produce the same byte stream.
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  };

  const walk = async (relative: string): Promise<void> => {
    const entries = (await readdir(join(sourceDir, relative), { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      // Nested checkouts (vendored repositories, submodules copied by hand) carry their own .git: not content.
      if (entry.name === ".git") continue;
      const rel = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const from = join(sourceDir, rel);
      const to = join(targetDir, rel);
      if (entry.isSymbolicLink()) {
        const target = await readlink(from);
        await symlink(target, to);
        field("l");
        field(rel);
        field(target);
      } else if (entry.isDirectory()) {
        await mkdir(to);
        field("d");
        field(rel);
        await walk(rel);
      } else if (entry.isFile()) {
        const [content, info] = await Promise.all([readFile(from), stat(from)]);
        const executable = (info.mode & 0o111) !== 0;
        await writeFile(to, content);
        await chmod(to, executable ? 0o755 : 0o644);
        field(executable ? "x" : "f");
        field(rel);
        field(content);
      }
      // Sockets, fifos and devices have no place in a manifest repository: they are left out.
    }
  };

  await walk("");
  return `dir-${hash.digest("hex")}`;
}
