export { CONTEXT_ONLY, startTracing, type Tracing, type TracingOptions } from "./tracing.js";
export { formatTraceparent, parseTraceparent, type TraceContext } from "./traceparent.js";
