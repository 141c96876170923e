import { test } from "node:test";
import assert from "node:assert/strict";
import { TopicAdmission } from "../src/dispatch/index.js";

test("admission: slots first, then a bounded queue, then 429; a finished function frees its slot", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 2, maxQueuedPerTopic: 1 });
  const started: string[] = [];
  const admit = (uid: string) => admission.admit("t", uid, () => started.push(uid));
  admission.reserve("t", 3);
  assert.equal(admit("a"), "started");
  assert.equal(admit("b"), "started");
  assert.equal(admit("c"), "queued");
  assert.deepEqual(started, ["a", "b"]);
  assert.throws(() => admission.reserve("t", 1), { code: "TOO_MANY_REQUESTS" });
  // Another topic has its own slots.
  admission.reserve("other", 2);
  admission.release("a");
  assert.deepEqual(started, ["a", "b", "c"]);
  admission.reserve("t", 1);
  assert.equal(admit("d"), "queued");
  admission.release("unknown");
  admission.release("b");
  assert.deepEqual(started, ["a", "b", "c", "d"]);
});

test("admission: while some wait, a newcomer waits too, even if a slot looks free", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 1, maxQueuedPerTopic: 5 });
  const started: string[] = [];
  admission.admit("t", "a", () => started.push("a"));
  admission.admit("t", "b", () => started.push("b"));
  admission.release("a");
  assert.deepEqual(started, ["a", "b"]);
  assert.throws(() => admission.reserve("t", 6), { code: "TOO_MANY_REQUESTS" });
  admission.reserve("t", 5);
});

test("admission: no limit starts everything at once", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 0, maxQueuedPerTopic: 0 });
  let count = 0;
  admission.reserve("t", 1000);
  for (let i = 0; i < 10; i++)
    assert.equal(
      admission.admit("t", `f${i}`, () => count++),
      "started",
    );
  assert.equal(count, 10);
});
