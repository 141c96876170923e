import assert from "node:assert/strict";
import { test } from "node:test";
import { ReportFilter } from "../src/runtime/kubernetes/report-filter.js";

const started = new Date("2026-01-01T00:00:00Z");

test("a report is told unless it repeats the last one told for its function or ranks below it", () => {
  const filter = new ReportFilter();
  const pending = { functionUid: "f", status: "pending" as const, attempts: 0, startedAt: null };
  assert.equal(filter.changes(pending), true);
  assert.equal(filter.changes({ ...pending }), false, "the same again");
  assert.equal(filter.changes({ ...pending, attempts: 1, startedAt: started }), true, "new fields");
  assert.equal(filter.changes({ ...pending, startedAt: new Date(started) }), true, "another start");
  assert.equal(filter.changes({ ...pending, status: "running", startedAt: started }), true);
  assert.equal(filter.changes({ ...pending, attempts: 2 }), false, "below running, from its Job");
  assert.equal(filter.changes({ ...pending, status: "running", reason: "r" }), true, "a reason");
  assert.equal(filter.changes({ ...pending, functionUid: "g" }), true, "another function");
  assert.equal(filter.changes(undefined), false);
  const finished = { ...pending, status: "succeeded" as const, finishedAt: started };
  assert.equal(filter.changes(finished), true);
  assert.equal(filter.changes({ ...finished }), false, "its Job's later events");
  filter.forget("f");
  assert.equal(filter.changes(pending), true, "forgotten");
});
