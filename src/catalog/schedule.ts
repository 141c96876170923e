import { Cron } from "croner";

export type ScheduleConcurrency = "allow" | "forbid" | "replace";
export type ScheduleCatchUp = "none" | "last";

/** A topic's `"schedule"` in config.json: what to publish, and when. */
export interface TopicSchedule {
  readonly cron: string;
  /** IANA name; UTC when not given, so that every replica reads the expression alike. */
  readonly timezone: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly params: Readonly<Record<string, string>>;
  readonly concurrency: ScheduleConcurrency;
  readonly catchUp: ScheduleCatchUp;
  /** The latest fire time at or before `at`. */
  latest(at: Date): Date | undefined;
  /** The first fire time after `at`. */
  next(at: Date): Date | undefined;
}

export interface ScheduleProblem {
  readonly at: readonly (string | number)[];
  readonly message: string;
}

const CONCURRENCY: readonly ScheduleConcurrency[] = ["allow", "forbid", "replace"];
const CATCH_UP: readonly ScheduleCatchUp[] = ["none", "last"];

/** Checks `"schedule"`; problems are located under `schedule.<key>`. */
export function parseSchedule(
  declared: unknown,
): { schedule: TopicSchedule } | { problems: ScheduleProblem[] } {
  if (typeof declared !== "object" || declared === null || Array.isArray(declared))
    return {
      problems: [{ at: ["schedule"], message: 'schedule must be an object: {"cron": "*/5 * * * *"}' }],
    };
  const fields = declared as Record<string, unknown>;
  const problems: ScheduleProblem[] = [];
  const problem = (key: string, message: string): void => {
    problems.push({ at: ["schedule", key], message: `schedule.${key} ${message}` });
  };
  const timezone = fields.timezone ?? "UTC";
  if (typeof timezone !== "string" || !isTimeZone(timezone))
    problem("timezone", "must be an IANA time zone name");
  const concurrency = fields.concurrency ?? "allow";
  if (!CONCURRENCY.includes(concurrency as ScheduleConcurrency))
    problem("concurrency", `must be one of ${CONCURRENCY.join(", ")}`);
  const catchUp = fields.catchUp ?? "none";
  if (!CATCH_UP.includes(catchUp as ScheduleCatchUp))
    problem("catchUp", `must be one of ${CATCH_UP.join(", ")}`);
  const params = scheduleParams(fields.params);
  if (params === undefined) problem("params", "must be an object of strings, numbers or booleans");
  let cron: Cron | undefined;
  if (typeof fields.cron !== "string") problem("cron", 'must be a cron expression such as "*/5 * * * *"');
  else {
    try {
      cron = new Cron(fields.cron, {
        timezone: typeof timezone === "string" ? timezone : "UTC",
        paused: true,
      });
    } catch (error) {
      problem("cron", `is not a valid cron expression: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0 || cron === undefined || params === undefined) return { problems };
  const expression = cron;
  return {
    schedule: {
      cron: fields.cron as string,
      timezone: timezone as string,
      ...scheduleBody(fields.body),
      params,
      concurrency: concurrency as ScheduleConcurrency,
      catchUp: catchUp as ScheduleCatchUp,
      // previousRuns counts strictly before its date: one millisecond on makes "at or before".
      latest: (at) => expression.previousRuns(1, new Date(at.getTime() + 1))[0],
      next: (at) => expression.nextRun(at) ?? undefined,
    },
  };
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A string body is sent as text, anything else as its JSON; none is an empty body. */
function scheduleBody(body: unknown): { body: Buffer; contentType: string } {
  if (body === undefined) return { body: Buffer.alloc(0), contentType: "text/plain" };
  if (typeof body === "string") return { body: Buffer.from(body), contentType: "text/plain" };
  return { body: Buffer.from(JSON.stringify(body)), contentType: "application/json" };
}

function scheduleParams(params: unknown): Record<string, string> | undefined {
  if (params === undefined) return {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) return undefined;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (!["string", "number", "boolean"].includes(typeof value)) return undefined;
    values[name] = String(value);
  }
  return values;
}
