import { test } from "node:test";
import assert from "node:assert/strict";
import { TopicAdmission } from "../src/dispatch/index.js";
import { Semaphore } from "../src/runtime/local/semaphore.js";

test("admission: slots first, then a bounded queue, then 429; a finished function frees its slot", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 2, maxQueuedPerTopic: 1 });
  const started: string[] = [];
  const launch = (uid: string) => admission.launch(uid, () => started.push(uid));
  admission.reserve("t", ["a", "b", "c"]);
  assert.equal(launch("a"), "started");
  assert.equal(launch("b"), "started");
  assert.equal(launch("c"), "queued");
  assert.deepEqual(started, ["a", "b"]);
  assert.throws(() => admission.reserve("t", ["d"]), { code: "TOO_MANY_REQUESTS" });
  // Another topic has its own slots.
  admission.reserve("other", ["x", "y"]);
  admission.release("a");
  assert.deepEqual(started, ["a", "b", "c"]);
  admission.reserve("t", ["d"]);
  assert.equal(launch("d"), "queued");
  admission.release("unknown");
  admission.release("b");
  assert.deepEqual(started, ["a", "b", "c", "d"]);
});

test("admission: places are taken when a publish is checked, so two publishes in flight cannot overfill the queue", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 3, maxQueuedPerTopic: 0 });
  admission.reserve("t", ["a1", "a2"]);
  // The second publish is checked before the first launched anything.
  assert.throws(() => admission.reserve("t", ["b1", "b2"]), { code: "TOO_MANY_REQUESTS" });
  admission.reserve("t", ["b1"]);
  assert.throws(() => admission.reserve("t", ["c1"]), { code: "TOO_MANY_REQUESTS" });
});

test("admission: a slot freed before the queued function was launched starts it at launch", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 1, maxQueuedPerTopic: 5 });
  const started: string[] = [];
  admission.reserve("t", ["a"]);
  admission.launch("a", () => started.push("a"));
  admission.reserve("t", ["b"]);
  admission.release("a");
  assert.equal(
    admission.launch("b", () => started.push("b")),
    "started",
  );
  assert.deepEqual(started, ["a", "b"]);
});

test("admission: a cancelled publish gives its places back; drain empties the queues", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 1, maxQueuedPerTopic: 1 });
  admission.reserve("t", ["a", "b"]);
  admission.cancel(["a", "b"]);
  admission.reserve("t", ["c", "d"]);
  admission.launch("c", () => undefined);
  admission.launch("d", () => assert.fail("d must not start after the drain"));
  assert.deepEqual(admission.drain(), ["d"]);
  admission.release("c");
});

test("admission: while some wait, a newcomer waits too, even if a slot looks free", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 1, maxQueuedPerTopic: 5 });
  const started: string[] = [];
  admission.reserve("t", ["a", "b"]);
  admission.launch("a", () => started.push("a"));
  admission.launch("b", () => started.push("b"));
  admission.release("a");
  assert.deepEqual(started, ["a", "b"]);
  assert.throws(() => admission.reserve("t", ["1", "2", "3", "4", "5", "6"]), { code: "TOO_MANY_REQUESTS" });
  admission.reserve("t", ["1", "2", "3", "4", "5"]);
});

test("admission: no limit starts everything at once", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 0, maxQueuedPerTopic: 0 });
  let count = 0;
  const uids = Array.from({ length: 10 }, (_, i) => `f${i}`);
  admission.reserve("t", uids);
  for (const uid of uids)
    assert.equal(
      admission.launch(uid, () => count++),
      "started",
    );
  assert.equal(count, 10);
});

test("admission: a function taken over after a restart holds its topic's slot, even beyond the limit", () => {
  const admission = new TopicAdmission({ maxRunningPerTopic: 1, maxQueuedPerTopic: 5 });
  const started: string[] = [];
  admission.hold("t", "adopted-1");
  admission.hold("t", "adopted-2");
  assert.deepEqual(admission.reserve("t", ["new"]), ["new"]);
  assert.equal(
    admission.launch("new", () => started.push("new")),
    "queued",
  );
  // Two run where one may: the newcomer starts only once the count is back under the limit.
  admission.release("adopted-1");
  assert.deepEqual(started, []);
  admission.release("adopted-2");
  assert.deepEqual(started, ["new"]);
});

test("local semaphore: runs taken over count towards the limit, and a waiter starts once under it", async () => {
  const slots = new Semaphore(1);
  const releaseA = slots.take();
  const releaseB = slots.take();
  const waiting = slots.acquire();
  assert.equal(slots.queued, 1);
  // Still two holders for one slot: the waiter stays in line (decided at once, not later).
  releaseA();
  assert.equal(slots.queued, 1);
  releaseB();
  assert.equal(slots.queued, 0);
  (await waiting)();
});
