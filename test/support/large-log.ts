import { createHash } from "node:crypto";
import { mkdir, open } from "node:fs/promises";
import { get } from "node:http";
import { join } from "node:path";
import { newFunctionUid, newRequestUid } from "../../src/ids/index.js";

export interface LargeLog {
  readonly functionUid: string;
  readonly size: number;
  readonly sha256: string;
}

const MIB = 1024 * 1024;

/**
 * Writes `<dataDir>/runs/<uid>/output.log` as the local runtime lays it out, `mebibytes` long, a chunk
 * at a time so that writing it does not itself raise the memory a test then measures.
 */
export async function writeLargeLog(dataDir: string, mebibytes: number): Promise<LargeLog> {
  const functionUid = newFunctionUid(newRequestUid());
  const runDir = join(dataDir, "runs", functionUid);
  await mkdir(runDir, { recursive: true });
  const file = await open(join(runDir, "output.log"), "w");
  const hash = createHash("sha256");
  try {
    for (let index = 0; index < mebibytes; index++) {
      // Every chunk differs, so that a byte served from the wrong offset changes the hash.
      const line = `chunk ${String(index).padStart(6, "0")} of a lambda's output, as plain text\n`;
      const chunk = Buffer.from(line.repeat(Math.ceil(MIB / line.length)).slice(0, MIB));
      hash.update(chunk);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
  return { functionUid, size: mebibytes * MIB, sha256: hash.digest("hex") };
}

export interface DrainedBody {
  readonly status: number;
  readonly contentType: string | null;
  readonly contentLength: string | null;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * GETs `url` and hashes the body as it arrives, never holding it whole. node:http rather than fetch:
 * the client shares the process whose memory is measured, and should add as little to it as it can.
 */
export function drainBody(url: string): Promise<DrainedBody> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      const hash = createHash("sha256");
      let bytes = 0;
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      response.on("error", reject);
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          contentType: response.headers["content-type"] ?? null,
          contentLength: response.headers["content-length"] ?? null,
          bytes,
          sha256: hash.digest("hex"),
        }),
      );
    }).on("error", reject);
  });
}

/**
 * Samples this process's resident memory while `work` runs; the growth over what it was at the start,
 * in bytes. The kernel's high-water mark is taken too, so a peak between two samples is not missed.
 */
export async function rssGrowthDuring(work: () => Promise<void>): Promise<number> {
  const start = process.memoryUsage.rss();
  const highWaterBefore = process.resourceUsage().maxRSS * 1024;
  let peak = start;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  const highWaterAfter = process.resourceUsage().maxRSS * 1024;
  if (highWaterAfter > highWaterBefore) peak = Math.max(peak, highWaterAfter);
  return Math.max(0, peak - start);
}
