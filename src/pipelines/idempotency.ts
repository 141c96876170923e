import { createHash } from "node:crypto";
import type { PublishInput, PublishReport } from "../dispatch/index.js";
import { GitfaasError } from "../errors/index.js";
import type { Store } from "../store/index.js";

/** Longest Idempotency-Key taken: a UUID fits many times over; a key is not a place for data. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export interface OnceOutcome {
  readonly report: PublishReport;
  /** The answer is the first publish's, given again: nothing ran this time. */
  readonly repeated: boolean;
}

/**
 * A publish under an Idempotency-Key: the first one with the key runs and its answer is kept; a
 * repeat within the expiration time gets that answer (same request UID), on any replica. The same
 * key with another topic, body or parameters is refused (422, as the IETF draft on the header says
 * for a reused key), and a repeat while the first is still under way is 409.
 */
export async function publishOnce(
  store: Store,
  key: string,
  input: PublishInput,
  publish: (input: PublishInput) => Promise<PublishReport>,
): Promise<OnceOutcome> {
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    throw new GitfaasError(
      "BAD_REQUEST",
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    );
  const fingerprint = fingerprintOf(input);
  const held = await store.claimIdempotencyKey(key, fingerprint);
  if (held) {
    if (held.fingerprint !== fingerprint)
      throw new GitfaasError(
        "IDEMPOTENCY_KEY_MISMATCH",
        "this Idempotency-Key was used for another publish (topic, body or parameters differ)",
      );
    if (held.answer === null)
      throw new GitfaasError(
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "the first publish with this Idempotency-Key is under way",
        {
          retryAfterSeconds: 1,
        },
      );
    return { report: JSON.parse(held.answer) as PublishReport, repeated: true };
  }
  let report: PublishReport;
  try {
    report = await publish(input);
  } catch (error) {
    // Refused before anything was recorded (a bad value, a full queue): a corrected repeat may run.
    await store.releaseIdempotencyKey(key).catch(() => undefined);
    throw error;
  }
  await store.completeIdempotencyKey(key, JSON.stringify(report));
  return { report, repeated: false };
}

/** What makes two publishes the same: topic, media type, body and query values (in any order). */
function fingerprintOf(input: PublishInput): string {
  const params = Object.entries(input.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256")
    .update(JSON.stringify([input.topic, input.contentType, params]))
    .update("\0")
    .update(input.body)
    .digest("hex");
}
