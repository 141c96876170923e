import { performance } from "node:perf_hooks";

export interface Measured {
  readonly p50: number;
  readonly p99: number;
  readonly perSecond: number;
}

export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `once` `count` times from `concurrency` loops; latency percentiles in ms and calls per second. */
export async function timed(
  count: number,
  concurrency: number,
  once: () => Promise<void>,
): Promise<Measured> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const t0 = performance.now();
        await once();
        samples.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), perSecond: count / seconds };
}

export const round = (value: number): number => Math.round(value * 100) / 100;

export function emit(figure: string, fields: Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify({ figure, ...fields })}\n`);
}
