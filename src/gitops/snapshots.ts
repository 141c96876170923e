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
  /** Which revision was served last, so that a restart can serve it again while the head is refused. */
  readonly lastGood: string;
}

export function layoutFor(dataDir: string): Layout {
  const root = join(dataDir, "git");
  return {
    root,
    mirror: join(root, "mirror.git"),
    snapshots: join(root, "snapshots"),
    tmp: join(root, "tmp"),
    home: join(root, "home"),
    lastGood: join(root, "last-good"),
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

/** The revision served last, and which repository and branch it came from. */
export interface LastGood {
  readonly revision: string;
  /** As `displayRepo` shows it: never a URL's user-info. */
  readonly repo: string;
  readonly branch: string;
}

// A commit sha or a plain folder's content id: anything else in the file is not trusted as a folder name.
const REVISION_ID = /^(?:[0-9a-f]{40,64}|dir-[0-9a-f]{64})$/;

/** Written to a temp file then renamed over the record: a reader sees the old record or the new one. */
export async function writeLastGood(layout: Layout, record: LastGood): Promise<void> {
  const temp = join(layout.tmp, `last-good-${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(temp, `${JSON.stringify(record)}\n`);
    await rename(temp, layout.lastGood);
  } finally {
    await rm(temp, { force: true });
  }
}

/** The record, or undefined when there is none or it is not one this version wrote. */
export async function readLastGood(layout: Layout): Promise<LastGood | undefined> {
  const text = await readFile(layout.lastGood, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as Partial<LastGood>;
    const { revision, repo, branch } = record;
    if (typeof revision !== "string" || !REVISION_ID.test(revision)) return undefined;
    if (typeof repo !== "string" || typeof branch !== "string") return undefined;
    return { revision, repo, branch };
  } catch {
    return undefined;
  }
}
