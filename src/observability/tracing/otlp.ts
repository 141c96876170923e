import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { PublishTrace, StartOutcome } from "../../dispatch/index.js";
import { isGitfaasError } from "../../errors/index.js";
import type { Logger } from "../../logging/index.js";
import type { StatusReport } from "../../runtime/index.js";
import { formatTraceparent, parseTraceparent } from "./traceparent.js";
import type { Tracing } from "./tracing.js";

/**
 * Attribute keys. Values are bounded: topics and paths of the served catalog, ids, codes; never a
 * function UID (it is the capability to answer for the function) nor a payload or an answer.
 */
export const ATTRIBUTES = {
  topic: "gitfaas.topic",
  path: "gitfaas.path",
  functionId: "gitfaas.function.id",
  requestUid: "gitfaas.request.uid",
  status: "gitfaas.function.status",
  errorCode: "gitfaas.error.code",
  traceparentInvalid: "gitfaas.traceparent.invalid",
} as const;

/** Runs followed at once, at most: a run whose end this replica never hears is let go past this. */
const MAX_OPEN_RUNS = 10_000;

/** `f-<uuid>`: the function UID without its request part, as in the `gitfaas.dev/function-id` label. */
function functionIdOf(functionUid: string): string {
  return functionUid.slice(0, 38);
}

function codeOf(error: unknown): string {
  return isGitfaasError(error) ? error.code : "INTERNAL";
}

function fail(span: Span, code: string, message?: string): void {
  span.setAttribute(ATTRIBUTES.errorCode, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? code });
}

/** The base URL of an OTLP/HTTP collector gets the traces path, as OTEL_EXPORTER_OTLP_ENDPOINT does. */
export function tracesUrl(endpoint: string): string {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith("/v1/traces")) url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  return url.toString();
}

/**
 * Spans through the OpenTelemetry SDK, batched and sent over OTLP/HTTP (JSON). Parents are passed
 * explicitly (no global provider, no context manager): a publish's spans hang under its own span,
 * a run's under its function span, whichever async path reaches them.
 */
export class OtlpTracing implements Tracing {
  readonly exporting = true;
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  /** Open function spans by function UID (with their attributes, for their steps): ended when the run finishes. */
  private readonly runs = new Map<string, { span: Span; attributes: Attributes }>();

  constructor(endpoint: string, logger: Logger) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: "gitfaas" }),
      spanProcessors: [
        new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(endpoint) }) }),
      ],
    });
    this.tracer = this.provider.getTracer("gitfaas");
    logger.info({ endpoint: tracesUrl(endpoint) }, "spans are exported over OTLP/HTTP");
  }

  publish(traceparent: string | undefined): PublishTrace {
    const given = parseTraceparent(traceparent);
    const parent = given
      ? trace.setSpanContext(ROOT_CONTEXT, { ...given, traceFlags: given.flags, isRemote: true })
      : ROOT_CONTEXT;
    const span = this.tracer.startSpan("publish", { kind: SpanKind.SERVER }, parent);
    // Replaced, not refused: a caller's broken header must not cost it its publish.
    if (traceparent !== undefined && !given) span.setAttribute(ATTRIBUTES.traceparentInvalid, true);
    const under = trace.setSpan(ROOT_CONTEXT, span);
    const functions: string[] = [];
    return {
      render: (topic, work) => {
        // Only a topic of the served catalog becomes an attribute: a made-up name is the caller's.
        span.setAttribute(ATTRIBUTES.topic, topic);
        return this.step("render", { [ATTRIBUTES.topic]: topic }, under, work);
      },
      function: ({ functionUid, requestUid, topic, path }) => {
        const attributes = {
          [ATTRIBUTES.topic]: topic,
          [ATTRIBUTES.path]: path,
          [ATTRIBUTES.functionId]: functionIdOf(functionUid),
          [ATTRIBUTES.requestUid]: requestUid,
        };
        const run = this.tracer.startSpan("function", { kind: SpanKind.CONSUMER, attributes }, under);
        this.follow(functionUid, { span: run, attributes });
        functions.push(functionUid);
        return formatTraceparent({ ...run.spanContext(), flags: run.spanContext().traceFlags });
      },
      end: (error) => {
        if (error !== undefined) {
          fail(span, codeOf(error));
          // A refused publish runs none of its functions: their spans end with it (else they would stay open).
          for (const functionUid of functions)
            this.finish(functionUid, "failed", `not run: ${codeOf(error)}`);
        }
        span.end();
      },
    };
  }

  async apply<T extends StartOutcome>(functionUid: string, work: () => Promise<T>): Promise<T> {
    const run = this.runs.get(functionUid);
    // Started by this process before a restart, or let go: nothing to hang the step under.
    if (!run) return work();
    const span = this.tracer.startSpan(
      "apply",
      { kind: SpanKind.CLIENT, attributes: run.attributes },
      trace.setSpan(ROOT_CONTEXT, run.span),
    );
    try {
      const outcome = await work();
      if (outcome.error) {
        fail(span, outcome.code ?? "RUNTIME_FAILED");
        // It will never run: its function span ends here (no status report follows a refusal).
        this.finish(functionUid, "failed", outcome.code ?? "RUNTIME_FAILED");
      }
      return outcome;
    } finally {
      span.end();
    }
  }

  functionStatus(report: StatusReport): void {
    const run = this.runs.get(report.functionUid)?.span;
    if (!run) return;
    if (report.status === "running") run.addEvent("running", { attempts: report.attempts ?? 1 });
    if (report.status === "succeeded" || report.status === "failed")
      this.finish(report.functionUid, report.status, report.reason ?? undefined);
  }

  async close(): Promise<void> {
    for (const [functionUid, { span: run }] of this.runs) {
      run.addEvent("gitfaas stopped before the run finished");
      run.end();
      this.runs.delete(functionUid);
    }
    await this.provider.shutdown();
  }

  private step<T>(
    name: string,
    attributes: Record<string, string>,
    parent: ReturnType<typeof trace.setSpan>,
    work: () => T,
  ): T {
    const span = this.tracer.startSpan(name, { attributes }, parent);
    try {
      return work();
    } catch (error) {
      fail(span, codeOf(error));
      throw error;
    } finally {
      span.end();
    }
  }

  private follow(functionUid: string, run: { span: Span; attributes: Attributes }): void {
    if (this.runs.size >= MAX_OPEN_RUNS) {
      const [oldest] = this.runs;
      if (oldest) {
        oldest[1].span.addEvent("let go: too many runs followed at once");
        oldest[1].span.end();
        this.runs.delete(oldest[0]);
      }
    }
    this.runs.set(functionUid, run);
  }

  private finish(functionUid: string, status: "succeeded" | "failed", reason?: string): void {
    const run = this.runs.get(functionUid)?.span;
    if (!run) return;
    this.runs.delete(functionUid);
    run.setAttribute(ATTRIBUTES.status, status);
    if (status === "failed") run.setStatus({ code: SpanStatusCode.ERROR, message: reason ?? "failed" });
    else run.setStatus({ code: SpanStatusCode.OK });
    run.end();
  }
}
