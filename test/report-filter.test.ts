import assert from "node:assert/strict";
import { test } from "node:test";
import { ReportFilter } from "../src/runtime/kubernetes/report-filter.js";

const started = new Date("2026-01-01T00:00:00Z");

test("a report is told only where the store would take it: not after a finish, below what was told, or with nothing new", () => {
  const filter = new ReportFilter();
  const pending = { functionUid: "f", status: "pending" as const, attempts: 0, startedAt: null };
  assert.equal(filter.changes(pending), true);
  assert.equal(filter.changes({ ...pending }), false, "the same again");
  assert.equal(filter.changes({ ...pending, attempts: 1, startedAt: started }), true, "new fields");
  assert.equal(
    filter.changes({ ...pending, attempts: 1, startedAt: new Date(0) }),
    false,
    "a start is known",
  );
  assert.equal(
    filter.changes({ ...pending, status: "running", attempts: undefined, startedAt: started }),
    true,
  );
  assert.equal(filter.changes({ ...pending, attempts: 2 }), false, "below running, from its Job");
  // The Job counting its ready pod after the pod said it runs: attempts and start are known.
  assert.equal(filter.changes({ ...pending, status: "running", attempts: 1, startedAt: new Date(0) }), false);
  assert.equal(filter.changes({ ...pending, status: "running", attempts: 2 }), true, "another attempt");
  assert.equal(filter.changes({ ...pending, status: "running", reason: "r" }), true, "a reason");
  assert.equal(filter.changes({ ...pending, functionUid: "g" }), true, "another function");
  assert.equal(filter.changes(undefined), false);
  const finished = { ...pending, status: "succeeded" as const, attempts: 2, finishedAt: started };
  assert.equal(filter.changes(finished), true);
  assert.equal(filter.changes({ ...finished }), false, "its Job's later events");
  assert.equal(filter.changes({ ...finished, status: "failed", reason: "late" }), false, "a finish is final");
  filter.forget("f");
  assert.equal(filter.changes(pending), true, "forgotten");
});
