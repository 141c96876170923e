import { pino } from "pino";

/** The subset of pino's logger the domain folders use; tests can pass a silent one. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export function createLogger(level: LogLevel = "info"): Logger {
  return pino({ level, base: { app: "gitfaas" } });
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
