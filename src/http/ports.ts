import type { Readable } from "node:stream";

/** What the HTTP layer needs of the rest of gitfaas, without knowing git, runtimes or stores' kinds. */
import type { RunTree } from "../pipelines/index.js";
import type { Lineage } from "../store/index.js";

/** Pipelines: who a publish is made for, and runs as a whole. */
export interface RunSource {
  /** The lineage of a publish made on behalf of a function (Gitfaas-Parent); throws INVALID_PARENT. */
  lineageFor(parentFunctionUid: string): Promise<Lineage>;
  /** The whole run of a request, from its root; held up to `waitMs` until it has finished. */
  readTree(requestUid: string, waitMs: number, signal: AbortSignal | undefined): Promise<RunTree>;
}

/** The repository being served, without knowing it is git. */
export interface CatalogSource {
  /** Syncs now; resolves after the sync. */
  refresh(): Promise<SourceState>;
  state(): SourceState;
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
