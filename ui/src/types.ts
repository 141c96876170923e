/** The shapes of gitfaas's answers the dashboard reads (see README, HTTP API). */

export type Status = "pending" | "running" | "succeeded" | "failed";
export type Scope = "publish" | "read" | "admin";

export interface ParamSchema {
  readonly type: "string" | "integer" | "number" | "boolean";
  readonly default?: string | number | boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly description?: string;
}

export interface TopicDescription {
  readonly name: string;
  readonly manifests: readonly string[];
  readonly params: Readonly<Record<string, ParamSchema>> | null;
  readonly next: {
    readonly onSuccess: readonly string[];
    readonly onFailure: readonly string[];
    readonly join: string | null;
  };
  readonly schedule: { readonly cron: string; readonly timezone: string } | null;
}

export interface TopicsAnswer {
  readonly revision: string | null;
  readonly scopes: readonly Scope[];
  readonly topics: readonly TopicDescription[];
}

export interface StatusAnswer {
  readonly revision: string | null;
  readonly lastSyncAt: string | null;
  readonly lastError: { revision: string | null; code: string; message: string; at: string } | null;
  readonly schedules: readonly { topic: string; cron: string; next: string | null }[];
}

export interface Firing {
  readonly kind: "onSuccess" | "onFailure" | "join";
  readonly topic: string;
  readonly state: "claimed" | "published" | "refused";
  readonly reason: string | null;
  readonly requestUid: string | null;
}

export interface FunctionView {
  readonly index: number;
  readonly path: string;
  readonly status: Status;
  readonly attempts: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly reason: string | null;
  readonly answer: unknown;
  readonly next: readonly Firing[];
  readonly children: readonly RequestView[];
}

export interface RequestView {
  readonly requestUid: string;
  readonly topic: string;
  readonly createdAt: string;
  readonly functions: readonly FunctionView[];
  readonly join: readonly Firing[];
}

export interface TreeAnswer {
  readonly version: string;
  readonly requestUid: string;
  readonly rootRequestUid: string;
  readonly finished: boolean;
  readonly totals: {
    readonly requests: number;
    readonly functions: Readonly<Record<Status, number>>;
    readonly firstStart: string | null;
    readonly lastFinish: string | null;
  };
  readonly root: RequestView | null;
  readonly detached: readonly RequestView[];
}

export interface PublishAnswer {
  readonly requestUid: string;
}
