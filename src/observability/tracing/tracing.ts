import type { DispatchTracing } from "../../dispatch/index.js";
import type { Logger } from "../../logging/index.js";
import type { StatusReport } from "../../runtime/index.js";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from "./traceparent.js";

/** Trace context for the dispatcher, plus what the rest of gitfaas tells it (runs' statuses) and its end. */
export interface Tracing extends DispatchTracing {
  /** Whether spans are recorded and exported (an OTLP endpoint is set). */
  readonly exporting: boolean;
  /** A run's status as the runtime reports it: a finished run ends its span. */
  functionStatus(report: StatusReport): void;
  /** Ends what is still open and sends what is left. */
  close(): Promise<void>;
}

export interface TracingOptions {
  /** OTLP/HTTP base URL (`/v1/traces` is added) or the full traces URL; unset: context only, no spans. */
  readonly otlpEndpoint: string | undefined;
  readonly logger: Logger;
}

/**
 * Context only, no spans: what gitfaas does without an OTLP endpoint, at the cost of a few random
 * bytes per publish (no SDK is loaded). Lambdas still get a TRACEPARENT, so that their own tracing
 * joins the caller's trace: the caller's, passed on unchanged (gitfaas is then a hop that records
 * nothing), else a new one, marked sampled so that lambdas sample as they would at a root.
 */
export const CONTEXT_ONLY: Tracing = {
  exporting: false,
  publish(traceparent) {
    const given = parseTraceparent(traceparent);
    const context = given ?? { traceId: newTraceId(), spanId: newSpanId(), flags: 1 };
    const passed = formatTraceparent(context);
    return { render: (_topic, work) => work(), function: () => passed, end: () => undefined };
  },
  apply: (_functionUid, work) => work(),
  functionStatus: () => undefined,
  close: async () => undefined,
};

/** Spans exported over OTLP/HTTP when an endpoint is set; else context only. The SDK is loaded only then. */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  if (options.otlpEndpoint === undefined) return CONTEXT_ONLY;
  const { OtlpTracing } = await import("./otlp.js");
  return new OtlpTracing(options.otlpEndpoint, options.logger);
}
