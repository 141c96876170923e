import { isErrorCode, statusOf, type ErrorCode } from "../../errors/index.js";
import type { SourceState } from "../ports.js";

export function stateView(state: SourceState) {
  return {
    revision: state.revision,
    lastSyncAt: state.lastSyncAt?.toISOString() ?? null,
    lastError: state.lastError ? { ...state.lastError, at: state.lastError.at.toISOString() } : null,
    topics: state.topics,
  };
}

/** The code of a refused revision, as registered (an unknown one would be a bug: INTERNAL). */
export function refusalCode(state: SourceState): ErrorCode | undefined {
  const code = state.lastError?.code;
  if (code === undefined) return undefined;
  return isErrorCode(code) ? code : "INTERNAL";
}

export function refusalStatus(state: SourceState): number {
  const code = refusalCode(state);
  return code === undefined ? 200 : statusOf(code);
}
