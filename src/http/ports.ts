import type { Readable } from "node:stream";

/** What the HTTP layer needs of the rest of gitfaas, without knowing git, runtimes or stores' kinds. */
import type { RunTree } from "../pipelines/index.js";
import type { Lineage } from "../store/index.js";

/** Pipelines: who a publish is made for, and runs as a whole. */
export interface RunSource {
  /** The lineage of a publish made on behalf of a function (Gitfaas-Parent); throws INVALID_PARENT. */
  lineageFor(parentFunctionUid: string): Promise<Lineage>;
  /**
   * The lineage of a publish that names no parent, from where it came: a lambda's pod, on Kubernetes.
   * Undefined when the address is no tracked pod's (or its function has gone).
   */
  lineageFromAddress(address: string): Promise<Lineage | undefined>;
  /**
   * The whole run of a request, from its root; held up to `waitMs` until it has finished, or until
   * `until` holds for it.
   */
  readTree(
    requestUid: string,
    waitMs: number,
    signal: AbortSignal | undefined,
    until?: (tree: RunTree) => boolean,
  ): Promise<RunTree>;
}

/** The repository being served, without knowing it is git. */
export interface CatalogSource {
  /** Syncs now; resolves after the sync. */
  refresh(): Promise<SourceState>;
  state(): SourceState;
  /** The served revision's topics, as declared (no manifest contents); empty before one is served. */
  describeTopics(): readonly TopicDescription[];
}

/** A topic as callers may see it: where its manifests are, what it takes, what follows it. */
export interface TopicDescription {
  readonly name: string;
  /** Manifest paths, relative to the repository root, in apply order. */
  readonly manifests: readonly string[];
  /** Declared query parameters (JSON Schemas of scalars); null: any parameter is taken as text. */
  readonly params: Readonly<Record<string, Readonly<Record<string, unknown>>>> | null;
  readonly next: {
    readonly onSuccess: readonly string[];
    readonly onFailure: readonly string[];
    readonly join: string | null;
  };
  readonly schedule: { readonly cron: string; readonly timezone: string } | null;
}

export interface SourceState {
  readonly revision: string | null;
  readonly lastSyncAt: Date | null;
  readonly lastError: {
    readonly revision: string | null;
    readonly code: string;
    readonly message: string;
    readonly at: Date;
  } | null;
  readonly topics: readonly string[];
}

/** A function's output, streamed; `size` (bytes) where known before reading. */
export interface LogStream {
  readonly size: number | undefined;
  readonly stream: Readable;
}

export interface LogSource {
  /** `tail`: only the last this many bytes. */
  logs(functionUid: string, range?: { readonly tail?: number }): Promise<LogStream | undefined>;
  ping(): Promise<void>;
}

/** Checks a git server's push notification; the HTTP layer only routes it. */
export interface WebhookVerifier {
  /** Throws WEBHOOK_UNAUTHORIZED for a bad or missing signature. */
  verify(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: Buffer,
  ): { event: string; branch: string | null };
  /** The branch being served: a push elsewhere changes nothing. */
  readonly branch: string;
}
