import assert from "node:assert/strict";
import { test } from "node:test";
import { ReportFilter } from "../src/runtime/kubernetes/report-filter.js";

const started = new Date("2026-01-01T00:00:00Z");

test("a report is told unless it repeats the last one from its object or ranks below it", () => {
  const filter = new ReportFilter();
  const pending = { functionUid: "f", status: "pending" as const, attempts: 0, startedAt: null };
  assert.equal(filter.changes("job", pending), true);
  assert.equal(filter.changes("job", { ...pending }), false, "the same again");
  assert.equal(filter.changes("job", { ...pending, attempts: 1, startedAt: started }), true, "new fields");
  assert.equal(filter.changes("job", { ...pending, status: "running", attempts: 1 }), true);
  assert.equal(filter.changes("job", { ...pending, attempts: 2 }), false, "below running");
  assert.equal(filter.changes("pod", { ...pending, status: "running" }), true, "another object");
  assert.equal(filter.changes(undefined, pending), true, "no object to compare with");
  assert.equal(filter.changes("job", undefined), false);
  filter.forget("job");
  assert.equal(filter.changes("job", pending), true, "forgotten");
});
