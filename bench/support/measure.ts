import { performance } from "node:perf_hooks";

export interface Measured {
  readonly p50: number;
  readonly p99: number;
  readonly perSecond: number;
  /** The p50 of each round, where ways were measured in alternating rounds. */
  readonly roundP50s?: readonly number[];
}

export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `once` `count` times from `concurrency` loops: each call's latency in ms, and the seconds it all took. */
async function run(
  count: number,
  concurrency: number,
  once: () => Promise<void>,
): Promise<{ samples: number[]; seconds: number }> {
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
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/** Runs `once` `count` times from `concurrency` loops; latency percentiles in ms and calls per second. */
export async function timed(
  count: number,
  concurrency: number,
  once: () => Promise<void>,
): Promise<Measured> {
  const { samples, seconds } = await run(count, concurrency, once);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), perSecond: count / seconds };
}

/**
 * The median over rounds of `of`'s p50 divided by `to`'s in the same round: what drifts from round to
 * round (the machine, the cluster) weighs on both sides of each ratio alike.
 */
export function medianRoundRatio(of: Measured, to: Measured): number {
  const ratios = (of.roundP50s ?? []).map((value, index) => value / (to.roundP50s ?? [])[index]!);
  return percentile(ratios, 50);
}

export const round = (value: number): number => Math.round(value * 100) / 100;

export function emit(figure: string, fields: Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify({ figure, ...fields })}\n`);
}

/**
 * Measures several ways of doing the same thing in alternating rounds, in a rotating order, so that
 * whatever drifts during the run (objects piling up in the cluster, caches warming) weighs on all alike.
 */
export async function interleaved(
  ways: Readonly<Record<string, () => Promise<void>>>,
  count: number,
  concurrency: number,
  rounds = 5,
  /** Awaited after each way's round: work it left running must not weigh on the next way's. */
  settle: (name: string) => Promise<void> = async () => undefined,
): Promise<Record<string, Measured>> {
  const names = Object.keys(ways);
  const samples = new Map<string, number[]>(names.map((name) => [name, []]));
  const seconds = new Map<string, number>(names.map((name) => [name, 0]));
  const roundP50s = new Map<string, number[]>(names.map((name) => [name, []]));
  const perRound = Math.max(1, Math.ceil(count / rounds));
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) {
      const inRound = await run(perRound, concurrency, ways[name]!);
      samples.get(name)!.push(...inRound.samples);
      roundP50s.get(name)!.push(percentile(inRound.samples, 50));
      seconds.set(name, seconds.get(name)! + inRound.seconds);
      await settle(name);
    }
  }
  return Object.fromEntries(
    names.map((name) => {
      const taken = samples.get(name)!;
      return [
        name,
        {
          p50: percentile(taken, 50),
          p99: percentile(taken, 99),
          perSecond: taken.length / seconds.get(name)!,
          roundP50s: roundP50s.get(name)!,
        },
      ];
    }),
  );
}
