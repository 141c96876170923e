export { MAX_IDEMPOTENCY_KEY_LENGTH, publishOnce, type OnceOutcome } from "./idempotency.js";
export { replayRequest } from "./replay.js";
