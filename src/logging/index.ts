import { destination, pino } from "pino";

/** The subset of pino's logger the domain folders use; tests can pass a silent one. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/**
 * JSON lines on standard output, written as they are logged. pino's default hands each line to a
 * thread of libuv's pool, which then wakes the event loop again: two thread wake-ups per line, paid on
 * the publish path (a "published" line each). A direct write costs one system call, and no line is
 * lost if the process dies.
 */
export function createLogger(level: LogLevel = "info"): Logger {
  return pino({ level, base: { app: "gitfaas" } }, destination({ dest: 1, sync: true }));
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
