import { test } from "node:test";
import assert from "node:assert/strict";
import { SqliteStore, type StatusChange, type Store } from "../src/store/index.js";
import { appendReport } from "../src/store/status-outbox.js";
import { newFunctionUid, newRequestUid } from "./support/store-contract.js";

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));

const REPORTS: readonly StatusChange[] = [
  { status: "pending" },
  { status: "running", attempts: 1, startedAt: at(1) },
  { status: "running", attempts: 2, startedAt: at(2) },
  { status: "running", reason: "retrying" },
  { status: "succeeded", finishedAt: at(3), reason: "done" },
  { status: "failed", attempts: 3, finishedAt: at(4), reason: "boom" },
];

/** What the function is before the reports: as created, running, finished, or unknown to the store. */
const STARTS: readonly (readonly StatusChange[] | "unknown")[] = [
  [],
  [{ status: "running", attempts: 5, startedAt: at(0) }],
  [{ status: "succeeded", finishedAt: at(0), reason: "earlier" }],
  "unknown",
];

function sequences(length: number): StatusChange[][] {
  if (length === 0) return [[]];
  return sequences(length - 1).flatMap((rest) => REPORTS.map((report) => [report, ...rest]));
}

async function outcome(store: Store, start: (typeof STARTS)[number], reports: readonly StatusChange[]) {
  const requestUid = newRequestUid();
  const functionUid = newFunctionUid(requestUid);
  if (start !== "unknown") {
    await store.createRequest({
      requestUid,
      topic: "t",
      revision: "r",
      payload: Buffer.from(""),
      contentType: "text/plain",
      createdAt: new Date(),
      functions: [{ functionUid, path: "a.yaml" }],
    });
    for (const change of start) await store.updateStatus(functionUid, change);
  }
  for (const change of reports) await store.updateStatus(functionUid, change);
  const fn = await store.getFunction(functionUid);
  return fn && [fn.status, fn.attempts, fn.startedAt, fn.finishedAt, fn.reason];
}

test("status outbox: writing the folded reports ends as writing each in turn, from any stored state (real SQLite)", async () => {
  const inTurn = new SqliteStore({ file: ":memory:", expirationSeconds: 60 });
  const folded = new SqliteStore({ file: ":memory:", expirationSeconds: 60 });
  try {
    for (const reports of [1, 2, 3].flatMap(sequences)) {
      const queue: StatusChange[] = [];
      for (const report of reports) appendReport(queue, report);
      // Bounded: pending, running, finished at most.
      assert.ok(queue.length <= 3);
      for (const start of STARTS) {
        assert.deepEqual(
          await outcome(folded, start, queue),
          await outcome(inTurn, start, reports),
          JSON.stringify({ start, reports, queue }),
        );
      }
    }
  } finally {
    await Promise.all([inTurn.close(), folded.close()]);
  }
});
