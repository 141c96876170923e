import { isGitfaasError } from "../errors/index.js";
import { isStoreUnavailable } from "./errors.js";
import type { Store } from "./port.js";

/** One call of the store, as metrics see it. */
export interface StoreCall {
  /** The Store method: a bounded set of names. */
  readonly operation: string;
  readonly seconds: number;
  /** It resolved. */
  readonly ok: boolean;
  /**
   * Why the store itself failed: STORE_UNAVAILABLE, or INTERNAL for what no adapter expected. Null
   * when it answered, refusals included (FUNCTION_NOT_FOUND is an answer, not a fault).
   */
  readonly fault: string | null;
}

function faultOf(error: unknown): string | null {
  if (isStoreUnavailable(error)) return "STORE_UNAVAILABLE";
  return isGitfaasError(error) ? null : "INTERNAL";
}

/**
 * The same store, telling `listener` how long each asynchronous call took and how it ended. A proxy,
 * so that every method of the port (today's and tomorrow's) is timed without each adapter knowing.
 */
export function timedStore(store: Store, listener: (call: StoreCall) => void): Store {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]): unknown => {
        const began = performance.now();
        const result: unknown = value.apply(target, args);
        // watchRequest answers at once (an unsubscribe): nothing to time.
        if (!(result instanceof Promise)) return result;
        const tell = (ok: boolean, fault: string | null) =>
          listener({ operation: property, seconds: (performance.now() - began) / 1000, ok, fault });
        return result.then(
          (answer: unknown) => {
            tell(true, null);
            return answer;
          },
          (error: unknown) => {
            tell(false, faultOf(error));
            throw error;
          },
        );
      };
    },
  });
}
