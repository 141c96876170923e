import { performance } from "node:perf_hooks";
import { drainBody, rssGrowthDuring, writeLargeLog } from "../../test/support/large-log.js";
import { round } from "./measure.js";

const MIB = 2 ** 20;
const READERS = 4;

/**
 * The resident memory a gitfaas (in this process) gains while READERS clients read one large log at
 * once, beside what it gains over the same time answering READERS loops of GET /healthz: a server that
 * streams logs should gain a few tens of MiB whatever the log's size, one that reads them whole, several
 * times the log.
 */
export async function logReadMemory(
  url: string,
  dataDir: string,
  mebibytes: number,
): Promise<Record<string, number | string>> {
  const log = await writeLargeLog(dataDir, mebibytes);
  let seconds = 0;
  const growth = await rssGrowthDuring(async () => {
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: READERS }, () => drainBody(`${url}/logs/${log.functionUid}`)),
    );
    seconds = (performance.now() - started) / 1000;
    if (answers.some((answer) => answer.sha256 !== log.sha256)) throw new Error("a log read came back wrong");
  });
  const baseline = await rssGrowthDuring(async () => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: READERS }, async () => {
        while (performance.now() < until) await drainBody(`${url}/healthz`);
      }),
    );
  });
  return {
    log_mib: mebibytes,
    readers: READERS,
    seconds: round(seconds),
    rss_growth_mib: round(growth / MIB),
    baseline: `${READERS} loops of GET /healthz for as long, same server`,
    baseline_rss_growth_mib: round(baseline / MIB),
    ratio_to_log_size: round(growth / log.size),
    // A baseline that grew by less than 1 MiB counts as 1 MiB, so that the ratio stays finite.
    ratio_to_baseline: round(growth / Math.max(baseline, MIB)),
  };
}
