import { randomUUID } from "node:crypto";

/** Identifiers as the original gitfaas made them; callers and lambdas already parse them. */
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const REQUEST_UID = new RegExp(`^r-${UUID}$`);
const FUNCTION_UID = new RegExp(`^f-${UUID}-(r-${UUID})$`);

export function newRequestUid(): string {
  return `r-${randomUUID()}`;
}

export function newFunctionUid(requestUid: string): string {
  return `f-${randomUUID()}-${requestUid}`;
}

export function isRequestUid(text: string): boolean {
  return REQUEST_UID.test(text);
}

export function isFunctionUid(text: string): boolean {
  return FUNCTION_UID.test(text);
}

/** The request a function belongs to is part of its UID. */
export function requestUidOf(functionUid: string): string | undefined {
  return FUNCTION_UID.exec(functionUid)?.[1];
}
