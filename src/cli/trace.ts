/** `gitfaas trace`: a run (GET /requests/<uid>/tree) drawn as a tree, with statuses and durations. */

interface StepView {
  readonly kind: string;
  readonly topic: string;
  readonly state: string;
  readonly reason: string | null;
  readonly requestUid: string | null;
}

interface FunctionView {
  readonly path: string;
  readonly status: string;
  readonly attempts: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly reason: string | null;
  readonly next: readonly StepView[];
  readonly children: readonly RequestView[];
}

interface RequestView {
  readonly requestUid: string;
  readonly topic: string;
  readonly functions: readonly FunctionView[];
  readonly join: readonly StepView[];
}

export interface TreeAnswer {
  readonly finished: boolean;
  readonly totals: {
    readonly requests: number;
    readonly functions: Readonly<Record<string, number>>;
    readonly firstStart: string | null;
    readonly lastFinish: string | null;
  };
  readonly root: RequestView | null;
  readonly detached: readonly RequestView[];
}

const COLOURS: Readonly<Record<string, number>> = {
  succeeded: 32,
  published: 32,
  failed: 31,
  refused: 31,
  running: 33,
  claimed: 33,
  pending: 90,
};

type Paint = (word: string) => string;

function painter(colour: boolean): Paint {
  return (word) => (colour && COLOURS[word] ? `\u001b[${COLOURS[word]}m${word}\u001b[0m` : word);
}

export function duration(from: string | null, to: string | null): string {
  if (from === null || to === null) return "";
  const ms = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return "";
  return ms < 1000
    ? `${ms}ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)}s`
      : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

function stepLine(step: StepView, paint: Paint): string {
  const target = step.requestUid ?? "";
  const why = step.reason ? `  (${step.reason})` : "";
  return `${step.kind} → ${step.topic}  ${paint(step.state)}${target ? `  ${target}` : ""}${why}`;
}

/** Lines of one request and everything under it; `indent` prefixes every line. */
function requestLines(request: RequestView, indent: string, paint: Paint): string[] {
  const lines = [`${indent}${request.requestUid} ${request.topic}`];
  const items: { line: string; below: (prefix: string) => string[] }[] = [
    ...request.functions.map((fn) => ({
      line: [
        fn.path,
        paint(fn.status),
        duration(fn.startedAt, fn.finishedAt),
        fn.attempts > 1 ? `${fn.attempts} attempts` : "",
        fn.reason && fn.status === "failed" ? `(${fn.reason})` : "",
      ]
        .filter(Boolean)
        .join("  "),
      below: (prefix: string) => [
        ...fn.next.map((step) => `${prefix}· ${stepLine(step, paint)}`),
        ...fn.children.flatMap((child) => requestLines(child, prefix, paint)),
      ],
    })),
    ...request.join.map((step) => ({ line: stepLine(step, paint), below: () => [] })),
  ];
  items.forEach((item, i) => {
    const last = i === items.length - 1;
    lines.push(`${indent}${last ? "└─ " : "├─ "}${item.line}`);
    lines.push(...item.below(`${indent}${last ? "   " : "│  "}`));
  });
  return lines;
}

/** The whole run as text: the tree, detached requests (their parent expired), then one line of totals. */
export function renderTrace(answer: TreeAnswer, colour: boolean): string {
  const paint = painter(colour);
  const lines = answer.root ? requestLines(answer.root, "", paint) : [];
  for (const request of answer.detached) lines.push(...requestLines(request, "", paint));
  const counts = Object.entries(answer.totals.functions)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${paint(status)}`);
  const total = Object.values(answer.totals.functions).reduce((sum, count) => sum + count, 0);
  const took = duration(answer.totals.firstStart, answer.totals.lastFinish);
  const state = answer.finished ? "" : ` · ${paint("running")}`;
  lines.push(
    `${answer.totals.requests} requests · ${total} functions: ${counts.join(", ")}${took ? ` · ${took}` : ""}${state}`,
  );
  return lines.join("\n");
}
