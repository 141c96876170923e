import { execFile } from "node:child_process";
import { mkdtemp, open, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface SmallDisk {
  readonly dir: string;
  /** Fills what is left with a file, to the last byte the file system gives. */
  fill(): Promise<void>;
  /** Deletes the filling: the space is back. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

/**
 * A real file system of `size` (tmpfs, as mount(8) takes it: "2m"), so that a full disk is the
 * kernel's ENOSPC, not a fake. Needs root; undefined (with the reason) when it cannot be mounted.
 */
export async function mountSmallDisk(size: string): Promise<SmallDisk | string> {
  const dir = await mkdtemp(join(tmpdir(), "gitfaas-small-disk-"));
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  } catch (error) {
    await rmdir(dir);
    return `cannot mount a tmpfs (root is needed): ${(error as Error).message.split("\n")[0]}`;
  }
  const filler = join(dir, "filler");
  return {
    dir,
    fill: async () => {
      const file = await open(filler, "a");
      try {
        // Large writes first, then one page at a time until nothing more fits.
        for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
          const chunk = Buffer.alloc(size, 1);
          for (;;) {
            try {
              await file.write(chunk);
            } catch (error) {
              if ((error as { code?: string }).code !== "ENOSPC") throw error;
              break;
            }
          }
        }
      } finally {
        await file.close();
      }
    },
    free: () => rm(filler, { force: true }),
    unmount: async () => {
      await run("umount", [dir]);
      await rmdir(dir);
    },
  };
}
