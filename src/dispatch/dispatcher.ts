import { randomUUID } from "node:crypto";
import type { Catalog } from "../catalog/index.js";
import { GitfaasError, describeError, isGitfaasError } from "../errors/index.js";
import { TopicAdmission, type AdmissionLimits } from "./admission.js";
import type { DispatchEvents } from "./events.js";
import { NO_TRACING, type DispatchTracing, type PublishTrace } from "./tracing.js";
import { newFunctionUid, newRequestUid } from "../ids/index.js";
import type { Logger } from "../logging/index.js";
import type { FunctionLaunch, Runtime } from "../runtime/index.js";
import type { Lineage, Store } from "../store/index.js";
import {
  addTraceparent,
  addTracking,
  checkSizeLimits,
  enforcePolicy,
  missingValues,
  renderManifest,
  type KubeObject,
  type Policy,
} from "../templating/index.js";

/** The revision being served: its id, its snapshot folder and the catalog loaded from it. */
export interface ServedCatalog {
  readonly id: string;
  readonly dir: string;
  readonly content: Catalog;
}

export interface DispatcherOptions {
  readonly currentCatalog: () => ServedCatalog | undefined;
  readonly store: Store;
  readonly runtime: Runtime;
  readonly policy: Policy;
  /** Where a lambda can fetch the body it was published with. */
  readonly payloadUrl: (functionUid: string) => string;
  /** Per-topic limit of running functions and of those waiting; unset: no limit. */
  readonly limits?: AdmissionLimits;
  readonly logger: Logger;
  /** A function the runtime refused is finished (failed) without a status report: next steps hear it here. */
  readonly onStartRefused?: (functionUid: string) => void;
  /** Told what happens, for metrics. */
  readonly events?: DispatchEvents;
  /** Trace context and spans (src/observability/tracing); unset: none, and no TRACEPARENT. */
  readonly tracing?: DispatchTracing;
}

export interface PublishInput {
  readonly topic: string;
  readonly body: Buffer;
  readonly contentType: string;
  readonly params: Readonly<Record<string, string>>;
  /** A replay: the request it publishes again. */
  readonly replayOf?: string;
  /** A replay of what failed: only the topic's manifests at these paths run. */
  readonly onlyPaths?: ReadonlySet<string>;
  /** The request UID to take; unset: a new one. A next step publishes under the UID of its claim. */
  readonly requestUid?: string;
  /** Published on behalf of a function (see src/pipelines). */
  readonly lineage?: Lineage;
  /** W3C trace context the publish continues (the caller's header, or the function a next step follows). */
  readonly traceparent?: string;
}

/** One object a manifest became: a document, or an item of a `kind: List`. */
export interface ReportedObject {
  readonly kind: string;
  /** As the runtime named it; for one queued with a generateName, that prefix followed by `*`. */
  readonly name: string;
  readonly namespace: string | null;
}

/** One per manifest (one function), as in the original; `objects` lists what it became, in apply order. */
export interface ApplyReport {
  readonly error: boolean;
  readonly path: string;
  readonly message: string;
  readonly functionUid: string;
  readonly code: string | null;
  /** Empty when nothing was applied: refused, or the runtime failed (its message names what was). */
  readonly objects: readonly ReportedObject[];
}

export interface PublishReport {
  readonly requestUid: string;
  readonly topic: string;
  readonly revision: string;
  readonly applies: readonly ApplyReport[];
  readonly error: boolean;
}

/** Names gitfaas fills itself; a query parameter may not take them over. */
export const BUILT_IN_VALUES = [
  "PAYLOAD",
  "PAYLOAD_URL",
  "FUNCTION_UID",
  "REQUEST_UID",
  "RANDOM",
  "TOPIC",
] as const;

/** Built-in values never given twice: an object named from one of them cannot exist before this publish. */
const UNIQUE_PER_PUBLISH: ReadonlySet<string> = new Set(["RANDOM", "REQUEST_UID", "FUNCTION_UID"]);

/**
 * What starting a queued function needs, kept in the store until a slot frees. (`freshNames` is absent
 * in launches kept by earlier versions.)
 */
type KeptLaunch = Omit<FunctionLaunch, "functionUid">;

type Prepared =
  | {
      readonly functionUid: string;
      readonly path: string;
      readonly objects: readonly KubeObject[];
      readonly freshNames?: readonly boolean[];
    }
  | { readonly functionUid: string; readonly path: string; readonly refused: GitfaasError };

/**
 * Publish: every manifest of the topic is rendered and checked before anything is recorded or run,
 * so a caller's mistake (a missing value, an oversized payload) starts nothing.
 */
export class Dispatcher {
  private readonly admission: TopicAdmission;
  private readonly tracing: DispatchTracing;

  constructor(private readonly options: DispatcherOptions) {
    this.admission = new TopicAdmission(options.limits ?? { maxRunningPerTopic: 0, maxQueuedPerTopic: 0 });
    this.tracing = options.tracing ?? NO_TRACING;
  }

  /** A function finished: its topic's slot goes to the next function waiting, if any. */
  functionFinished(functionUid: string): void {
    this.admission.release(functionUid);
  }

  /** At start: functions the runtime took over from before the restart hold their topics' slots. */
  hold(functions: readonly { readonly functionUid: string; readonly topic: string }[]): void {
    for (const fn of functions) {
      this.admission.hold(fn.topic, fn.functionUid);
      this.options.events?.functionStarted?.(fn.functionUid, fn.topic);
    }
  }

  /**
   * At shutdown: functions still waiting for a slot stay `pending` with their launch kept in the
   * store, so that the next start (of this replica or another) runs them.
   */
  async close(): Promise<void> {
    this.admission.drain();
  }

  /** At start: queue again the functions that were waiting for a slot when gitfaas last stopped. */
  async resume(): Promise<number> {
    const waiting = (await this.options.store.listUnfinished()).filter((fn) => fn.queued);
    for (const fn of waiting) {
      this.admission.reserve(fn.topic, [fn.functionUid], { evenIfFull: true });
      this.options.events?.functionQueued?.(fn.functionUid, fn.topic);
      this.admission.launch(fn.functionUid, () => void this.startKept(fn.functionUid));
    }
    return waiting.length;
  }

  /** Starts a queued function from its kept launch, unless another replica took it first. */
  private async startKept(functionUid: string): Promise<void> {
    let kept: string | undefined;
    try {
      kept = await this.options.store.claimLaunch(functionUid);
    } catch (error) {
      this.options.logger.error({ err: error, functionUid }, "could not take a queued launch");
    }
    if (kept === undefined) {
      this.admission.release(functionUid);
      this.options.events?.functionLeft?.(functionUid);
      return;
    }
    const launch = JSON.parse(kept) as KeptLaunch;
    await this.startAndRecord(
      { functionUid, path: launch.path, objects: launch.objects, freshNames: launch.freshNames },
      launch.requestUid,
      launch.topic,
      launch.revisionDir,
    );
  }

  /** Publishes, and tells `events` how it ended and how long it took. */
  async publish(input: PublishInput): Promise<PublishReport> {
    const began = performance.now();
    const known = (): string | null =>
      this.options.currentCatalog()?.content.topics.has(input.topic) ? input.topic : null;
    try {
      const report = await this.publishNow(input);
      this.options.events?.published?.(report.topic, null, (performance.now() - began) / 1000);
      return report;
    } catch (error) {
      const code = isGitfaasError(error) ? error.code : "INTERNAL";
      this.options.events?.published?.(known(), code, (performance.now() - began) / 1000);
      throw error;
    }
  }

  /** Tracing: the whole publish is one span, ended with how it went. */
  private async publishNow(input: PublishInput): Promise<PublishReport> {
    const trace = this.tracing.publish(input.traceparent);
    try {
      const report = await this.publishTraced(input, trace);
      trace.end();
      return report;
    } catch (error) {
      trace.end(error);
      throw error;
    }
  }

  private async publishTraced(input: PublishInput, trace: PublishTrace): Promise<PublishReport> {
    const served = this.options.currentCatalog();
    if (!served) {
      throw new GitfaasError(
        "CATALOG_NOT_LOADED",
        "no valid catalog is loaded yet; see GET /status for the reason",
      );
    }
    const topic = served.content.topics.get(input.topic);
    if (!topic) {
      throw new GitfaasError("TOPIC_NOT_FOUND", `no topic '${input.topic}' in revision ${served.id}`, {
        topic: input.topic,
      });
    }
    const reserved = Object.keys(input.params).filter((name) =>
      (BUILT_IN_VALUES as readonly string[]).includes(name),
    );
    if (reserved.length > 0) {
      throw new GitfaasError(
        "RESERVED_PARAMETER",
        `query parameter(s) ${reserved.join(", ")} are filled by gitfaas and cannot be set by a caller`,
        { names: reserved },
      );
    }

    // Declared parameters are checked, and their defaults filled, before anything is rendered.
    const params = topic.params ? topic.params.check(topic.name, input.params) : input.params;
    const textNames = topic.params?.textNames ?? new Set<string>();
    const requestUid = input.requestUid ?? newRequestUid();
    const payload = input.body.toString("base64");
    const valuesFor = (functionUid: string): Record<string, string> => ({
      ...params,
      PAYLOAD: payload,
      PAYLOAD_URL: this.options.payloadUrl(functionUid),
      FUNCTION_UID: functionUid,
      REQUEST_UID: requestUid,
      RANDOM: randomUUID(),
      TOPIC: topic.name,
    });
    const manifests = input.onlyPaths
      ? topic.manifests.filter((manifest) => input.onlyPaths?.has(manifest.path))
      : topic.manifests;
    const drafts = manifests.map((manifest) => {
      const functionUid = newFunctionUid(requestUid);
      return { manifest, functionUid, values: valuesFor(functionUid) };
    });
    // Tracing: each function's trace context, for its lambda's TRACEPARENT and for its next steps.
    const traceparents = new Map<string, string>();

    const missing = [
      ...new Set(drafts.flatMap((draft) => missingValues(draft.manifest, draft.values))),
    ].sort();
    if (missing.length > 0) {
      throw new GitfaasError(
        "TEMPLATE_MISSING_VALUE",
        `topic '${topic.name}' needs a value for: ${missing.join(", ")} (pass them as query parameters)`,
        { missing },
      );
    }

    const prepareOne = ({ manifest, functionUid, values }: (typeof drafts)[number]): Prepared => {
      // Before policy: a refused function is traced too, and its onFailure steps continue its trace.
      const traceparent = trace.function({ functionUid, requestUid, topic: topic.name, path: manifest.path });
      if (traceparent !== undefined) traceparents.set(functionUid, traceparent);
      const rendered = renderManifest(manifest, values, textNames);
      let objects: KubeObject[];
      try {
        objects = enforcePolicy(rendered, this.options.policy, manifest.path);
      } catch (error) {
        if (isGitfaasError(error)) return { functionUid, path: manifest.path, refused: error };
        throw error;
      }
      objects = addTracking(objects, { requestUid, functionUid, topic: topic.name });
      if (traceparent !== undefined) objects = addTraceparent(objects, traceparent);
      checkSizeLimits(objects, manifest.path);
      const freshNames = manifest.documents.map((document) =>
        document.namePlaceholders.some((name) => UNIQUE_PER_PUBLISH.has(name)),
      );
      // One object per document, in order; were policy ever to drop one, the marks must not slide.
      if (freshNames.length !== objects.length) {
        throw new GitfaasError(
          "INTERNAL",
          `${manifest.path}: ${objects.length} objects from ${freshNames.length} documents`,
        );
      }
      return { functionUid, path: manifest.path, objects, freshNames };
    };
    const prepared = trace.render(topic.name, () => drafts.map(prepareOne));

    const runnable = prepared.filter((item) => !("refused" in item)).map((item) => item.functionUid);
    const queued = new Set(this.admission.reserve(topic.name, runnable));
    const keep = (item: Prepared): string | undefined => {
      if (!queued.has(item.functionUid) || "refused" in item) return undefined;
      const launch: KeptLaunch = {
        requestUid,
        topic: topic.name,
        path: item.path,
        revisionDir: served.dir,
        objects: item.objects,
        freshNames: item.freshNames,
      };
      return JSON.stringify(launch);
    };
    try {
      await this.options.store.createRequest({
        requestUid,
        topic: topic.name,
        revision: served.id,
        payload: input.body,
        contentType: input.contentType,
        createdAt: new Date(),
        ...(input.lineage ? { lineage: input.lineage } : {}),
        functions: prepared.map((item) => ({
          functionUid: item.functionUid,
          path: item.path,
          pendingLaunch: keep(item),
          traceparent: traceparents.get(item.functionUid),
        })),
        // The caller's values as sent (defaults are filled again at a replay, from its revision).
        input: { params: input.params, replayOf: input.replayOf ?? null },
      });
    } catch (error) {
      this.admission.cancel(runnable);
      throw error;
    }
    for (const functionUid of queued) this.options.events?.functionQueued?.(functionUid, topic.name);

    const applies: ApplyReport[] = [];
    for (const item of prepared) {
      if ("refused" in item) {
        applies.push(await this.startAndRecord(item, requestUid, topic.name, served.dir));
        continue;
      }
      let started: Promise<ApplyReport> | undefined;
      const admitted = this.admission.launch(item.functionUid, () => {
        // A queued function's launch is in the store: take it first, so only one replica runs it.
        if (queued.has(item.functionUid)) void this.startKept(item.functionUid);
        else started = this.startAndRecord(item, requestUid, topic.name, served.dir);
      });
      applies.push(
        admitted === "started" && started !== undefined
          ? await started
          : {
              path: item.path,
              functionUid: item.functionUid,
              error: false,
              code: null,
              objects: item.objects.map(toReported),
              message: `queued: topic '${topic.name}' is at its limit of running functions; it starts when one finishes`,
            },
      );
    }
    const error = applies.some((apply) => apply.error);
    this.options.logger.info(
      { requestUid, topic: topic.name, revision: served.id, functions: applies.length, error },
      "published",
    );
    return { requestUid, topic: topic.name, revision: served.id, applies, error };
  }

  /** Starts one function and records how that went; a function that could not start frees its slot. */
  private async startAndRecord(
    item: Prepared,
    requestUid: string,
    topic: string,
    revisionDir: string,
  ): Promise<ApplyReport> {
    // Told before the runtime is called: a run can report its end before apply returns.
    if (!("refused" in item)) this.options.events?.functionStarted?.(item.functionUid, topic);
    const report = await this.tracing.apply(item.functionUid, () =>
      this.start(item, requestUid, topic, revisionDir),
    );
    const recorded = this.options.store
      .recordApply(item.functionUid, { error: report.error, code: report.code, message: report.message })
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, functionUid: item.functionUid }, "could not record an apply"),
      );
    // A started function's answer is the runtime's outcome, not this write: the publish is answered
    // without waiting for it (a read of the function comes after it all the same: the SQLite store
    // commits pending writes before a read, Redis keeps one connection's commands in order). A refused
    // one is finished by it: what follows (its next steps) needs it written.
    if (report.error) {
      await recorded;
      this.admission.release(item.functionUid);
      this.options.events?.functionRefused?.(item.functionUid, topic);
      this.options.onStartRefused?.(item.functionUid);
    }
    return report;
  }

  private async start(
    item: Prepared,
    requestUid: string,
    topic: string,
    revisionDir: string,
  ): Promise<ApplyReport> {
    const base = { path: item.path, functionUid: item.functionUid };
    if ("refused" in item) {
      return { ...base, error: true, code: item.refused.code, message: item.refused.message, objects: [] };
    }
    try {
      const outcome = await this.options.runtime.apply({
        functionUid: item.functionUid,
        requestUid,
        topic,
        path: item.path,
        objects: item.objects,
        freshNames: item.freshNames,
        revisionDir,
      });
      const objects = outcome.objects.map((object) => ({ ...object, namespace: object.namespace ?? null }));
      return { ...base, error: false, code: null, message: outcome.message, objects };
    } catch (error) {
      const code = isGitfaasError(error) ? error.code : "RUNTIME_FAILED";
      if (!isGitfaasError(error))
        this.options.logger.error({ err: error, path: item.path }, "runtime apply failed");
      return { ...base, error: true, code, message: describeError(error), objects: [] };
    }
  }
}

function toReported(object: KubeObject): ReportedObject {
  const { name, generateName, namespace } = object.metadata;
  return { kind: object.kind, name: name ?? `${generateName ?? ""}*`, namespace: namespace ?? null };
}
