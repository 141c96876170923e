import type { Readable } from "node:stream";
import type { KubeObject } from "../templating/index.js";

/**
 * The Runtime port: run the rendered objects of one function and report how it goes. Adapters:
 * `local` (containers as child processes) and, later, `kubernetes`.
 */
export type RunStatus = "pending" | "running" | "succeeded" | "failed";

export interface StatusReport {
  readonly functionUid: string;
  readonly status: RunStatus;
  readonly attempts?: number;
  readonly startedAt?: Date | null;
  readonly finishedAt?: Date | null;
  readonly reason?: string | null;
}

export type StatusListener = (report: StatusReport) => void;

export interface FunctionLaunch {
  readonly functionUid: string;
  readonly requestUid: string;
  readonly topic: string;
  /** The manifest's path in the repository, for messages. */
  readonly path: string;
  /** Rendered, policy-checked and labelled objects. */
  readonly objects: readonly KubeObject[];
  /**
   * Per object: whether its name was rendered from a value never given twice ({{RANDOM}},
   * {{REQUEST_UID}}, {{FUNCTION_UID}}), so that no object of that name can exist yet. Absent: none.
   */
  readonly freshNames?: readonly boolean[];
  /** The snapshot of the revision the objects came from. */
  readonly revisionDir: string;
}

export interface AppliedObject {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
}

export interface ApplyOutcome {
  readonly objects: readonly AppliedObject[];
  readonly message: string;
}

/** A function that was started before a restart and has not finished, as the store remembers it. */
export interface UnfinishedFunction {
  readonly functionUid: string;
  readonly status: RunStatus;
  /** Its objects were accepted by the runtime (not queued, not refused). */
  readonly applied: boolean;
}

/** Which part of a function's output to read. */
export interface LogRange {
  /** Only the last this many bytes (a multi-byte character may be cut at the start). */
  readonly tail?: number;
}

/**
 * A function's output as a stream, so that a log of any size is read in bounded memory. The stream
 * is opened by the adapter and must be consumed or destroyed by the caller.
 */
export interface LogOutput {
  /** Bytes the stream will carry, where known before reading it. */
  readonly size: number | undefined;
  readonly stream: Readable;
}

export interface Runtime {
  readonly name: string;
  /**
   * Starts the function. Resolves once every object is accepted (not when it finishes); throws a
   * GitfaasError for a manifest this runtime cannot take, with a message fit for the caller.
   */
  apply(launch: FunctionLaunch): Promise<ApplyOutcome>;
  /** Status reports, from now on. */
  onStatus(listener: StatusListener): void;
  /**
   * After a restart: settle functions the store still believes are running. Returns those it took
   * over and still runs or queues: they hold their topic's slot until they report their end.
   */
  reconcile(unfinished: readonly UnfinishedFunction[]): Promise<readonly string[]>;
  /** Output of a function's runs, if this runtime keeps it. */
  logs(functionUid: string, range?: LogRange): Promise<LogOutput | undefined>;
  /** Forgets what it kept (logs, scratch space) about runs finished before `before`. */
  prune(before: Date): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * The function whose running pod has this IP address (Kubernetes): a publish from it is linked to
   * it when the lambda did not say so itself. Absent where runs have no address of their own.
   */
  functionAt?(address: string): string | undefined;
}
